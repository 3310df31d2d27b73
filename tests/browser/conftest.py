"""A real app process on a free loopback port, and headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def bootstrap(data_dir: Path, env: dict) -> str:
    """Prepare a data folder (schema, demo data, first admin); returns the admin's one-time password."""
    boot = subprocess.run([sys.executable, "-m", "core.cli", "bootstrap"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return re.search(r"one-time password:\s+(\S+)", boot.stdout).group(1)


@contextmanager
def serve_app(env: dict, log_path: Path) -> Iterator[str]:
    """`streamlit run` on a free loopback port with this environment; yields its URL."""
    port = free_port()
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/_stcore/health")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    env = {**os.environ, "ROLLCALL_DATA_DIR": str(data_dir)}
    password = bootstrap(data_dir, env)
    log_path = tmp_path_factory.mktemp("logs") / "streamlit.log"
    with serve_app(env, log_path) as url:
        yield {"url": url, "admin_password": password, "data_dir": Path(data_dir), "log": log_path}


@pytest.fixture(scope="session")
def pw():
    """One Playwright driver for the run (a second sync instance cannot start inside the first)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(pw):
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="th-TH")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    path = ARTIFACTS / "screens"
    path.mkdir(parents=True, exist_ok=True)
    return path

"""Shared fixtures: every test gets its own data folder (ROLLCALL_DATA_DIR), real DuckDB and SQLite files."""

from __future__ import annotations

import pytest

from core.config import get_settings
from core.runtime import open_app


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLCALL_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def app(settings):
    rollcall = open_app(settings, workers=False)
    yield rollcall
    rollcall.close()


@pytest.fixture(scope="session")
def photos():
    """Real face photos from registry packages (see tests/photos.py)."""
    from tests.photos import photo_dir

    return photo_dir()


@pytest.fixture(scope="session")
def firestore_emulator():
    """One emulator for the session; tests keep apart by collection prefix."""
    from tests.browser.conftest import free_port
    from tests.firestore import FirestoreEmulator

    emulator = FirestoreEmulator(free_port())
    yield emulator
    emulator.stop()

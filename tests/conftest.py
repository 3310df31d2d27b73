"""Shared fixtures: every test gets its own data folder (ROLLCALL_DATA_DIR), real DuckDB and SQLite files."""

from __future__ import annotations

import pytest

from core.config import get_settings
from core.runtime import open_app
from core.services import Rollcall
from tests.telegram_fake import TOKEN, TelegramFake, telegram_env


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


@pytest.fixture
def telegram():
    """The local fake of Telegram's Bot API (real HTTP on loopback)."""
    fake = TelegramFake(token=TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def configure(settings, telegram, monkeypatch):
    """Make apps whose settings come from the environment, as in production, with the bot at the fake."""
    apps: list[Rollcall] = []

    def make(**extra: str) -> Rollcall:
        for name, value in {**telegram_env(telegram), **extra}.items():
            monkeypatch.setenv(f"ROLLCALL_{name}", value)
        get_settings.cache_clear()
        apps.append(Rollcall(get_settings()))
        return apps[-1]

    yield make
    for app in apps:
        app.close()

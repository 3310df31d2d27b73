"""AppTest fixtures: a data folder with demo data and one user per role."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from core import auth
from core.config import PROJECT_ROOT, Settings
from core.demo import load_demo
from core.eventlog import Event
from core.services import Rollcall

PASSWORDS = {"boss": "boss-password-1", "op": "operator-pass-1", "vi": "viewer-pass-01", "stu": "student-pass-1"}
ROLES = {"boss": "admin", "op": "operator", "vi": "viewer", "stu": "student"}


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Path:
    """Built once (Argon2 hashing is slow on purpose), copied for each test."""
    data = tmp_path_factory.mktemp("seeded") / "data"
    app = Rollcall(Settings(data_dir=data))
    load_demo(app, today=date.today())
    for username, role in ROLES.items():
        auth.create_user(app, "test", username, role, student_id="6501001" if role == "student" else None,
                         password=PASSWORDS[username])
        app.submit(Event.new("user.password_set", {"username": username, "must_change": False,
                                                   "password_hash": auth.hash_password(PASSWORDS[username])}))
    app.close()
    return data


@pytest.fixture
def seeded(settings, seeded_template):
    shutil.copytree(seeded_template, settings.data_path)
    yield settings
    # Close the app the pages opened (cached per process and data folder).
    from pages._ui import _app_for, get_app

    get_app().close()
    _app_for.clear()


@pytest.fixture(autouse=True)
def camera(monkeypatch):
    """AppTest cannot run the WebRTC component: a stand-in records what the page passed to it (the page's
    frame callback included, which tests then feed with real frames). The browser test runs the real one."""
    import streamlit_webrtc

    seen = {}

    def fake_streamer(**kwargs):
        seen.update(kwargs)
        return SimpleNamespace(state=SimpleNamespace(playing=True))

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", fake_streamer)
    return seen


def as_user(script: str, username: str) -> AppTest:
    """An AppTest of one page with a signed-in user in the session: the user as a sign-in makes it (read from the
    store the pages use, with the password's fingerprint; pages read it again on every run)."""
    from pages._ui import get_app

    at = AppTest.from_file(str(PROJECT_ROOT / script) if not script.startswith("/") else script, default_timeout=30)
    user = auth.load_user(get_app(), username)
    assert user is not None and user.role is auth.Role(ROLES[username]), username
    at.session_state["user"] = user
    at.session_state["last_activity"] = datetime.now(UTC)
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]

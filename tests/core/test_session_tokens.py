"""Staff-session tokens (core/session_tokens.py): what a refresh signs in with, and every way one is refused."""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet

from core import auth, session_tokens
from core.config import Settings
from core.eventlog import Event
from core.services import Rollcall

NOW = 1_790_000_000.0  # a fixed clock: expiry is decided by the times given, never by the machine's speed


def add_operator(app: Rollcall, username: str = "op1") -> auth.User:
    app.submit(Event.new("user.created", {"username": username, "role": "operator", "must_change": False,
                                          "password_hash": auth.hash_password("operator-pw-1")}, actor="test"))
    return auth.load_user(app, username)


@pytest.fixture
def shared_key(monkeypatch):
    # Instances that accept each other's cookies share secrets (the master key), as they must for encrypted data.
    monkeypatch.setenv("ROLLCALL_MASTER_KEY", Fernet.generate_key().decode())


def test_a_fresh_token_signs_the_user_in_again(app):
    user = add_operator(app)
    token, text = session_tokens.issue(app, user, now=NOW)
    token_back, again = session_tokens.restore(app, text, now=NOW + 60)
    assert (token_back, again.username, again.role) == (token, "op1", auth.Role.OPERATOR)
    assert "operator-pw-1" not in text and user.password_fp not in text


@pytest.mark.parametrize("change", ["user", "session", "issued", "expires", "scope", "mac"])
def test_a_tampered_token_is_refused(app, change):
    add_operator(app, "op2")
    user = add_operator(app)
    _, text = session_tokens.issue(app, user, now=NOW)
    fields = text.split("~")
    index = ["v", "user", "session", "issued", "expires", "scope", "mac"].index(change)
    fields[index] = {"user": "op2", "session": "A" * 22, "issued": str(int(NOW) - 5),
                     "expires": str(int(NOW) + 7200), "scope": "kiosk:S1", "mac": "0" * 32}[change]
    assert session_tokens.restore(app, "~".join(fields), now=NOW + 60) is None


@pytest.mark.parametrize("text", ["", "garbage", "v1~op1", "v1~op1~x~1~2~3", "v1~OP1~" + "a" * 22 + "~1~2~~" + "0" * 32,
                                  "%C3%A9", "v1~op1~" + "a" * 22 + "~1790000000~1790000600~~" + "g" * 32,
                                  "v1~op1~" + "a" * 22 + "~1790000000~1790000600~kiosk:a~b~" + "0" * 32])
def test_garbled_tokens_are_refused(app, text):
    add_operator(app)
    assert session_tokens.restore(app, text, now=NOW) is None


def test_a_token_lapses_when_unused_and_after_the_longest_session(app):
    user = add_operator(app)
    timeout = app.settings.session_timeout_minutes * 60
    token, text = session_tokens.issue(app, user, now=NOW)
    assert session_tokens.restore(app, text, now=NOW + timeout - 1) is not None
    assert session_tokens.restore(app, text, now=NOW + timeout) is None  # unused for the idle timeout
    # Used now and then, it is renewed (a third of the idle time gone), up to session_max_hours after sign-in.
    assert session_tokens.renew(app, token, user, now=NOW + 60) is None  # too soon: keep the cookie
    for step in range(1, 100):  # a run every half idle-timeout, for longer than the longest session
        if (renewed := session_tokens.renew(app, token, user, now=NOW + step * timeout / 2)) is not None:
            token, text = renewed
    limit = NOW + app.settings.session_max_hours * 3600
    assert token.expires <= limit
    assert session_tokens.restore(app, text, now=limit - 1) is not None
    assert session_tokens.restore(app, text, now=limit) is None
    assert not session_tokens.still_valid(app, token, now=limit)


def test_disabling_the_user_or_setting_a_password_refuses_the_token(app):
    user = add_operator(app)
    _, text = session_tokens.issue(app, user, now=time.time())
    auth.reset_password(app, "admin", "op1", "lost")
    assert session_tokens.restore(app, text) is None  # the MAC was over the old password
    _, text = session_tokens.issue(app, auth.load_user(app, "op1"), now=time.time())
    assert session_tokens.restore(app, text) is not None
    auth.update_user(app, "admin", "op1", enabled=False, reason="left")
    assert session_tokens.restore(app, text) is None


def test_sign_out_refuses_the_copied_cookie_after_a_restart_and_on_another_instance(shared_key, tmp_path):
    a = Rollcall(Settings(data_dir=tmp_path / "box-a"))
    user = add_operator(a)
    token, text = session_tokens.issue(a, user, now=time.time())
    _, other_text = session_tokens.issue(a, user, now=time.time())  # the same user on a second device
    session_tokens.sign_out(a, token)
    assert session_tokens.restore(a, text) is None
    assert not session_tokens.still_valid(a, token)
    assert session_tokens.restore(a, other_text) is not None  # only that session ended
    assert a.db.scalar("SELECT reason FROM audit WHERE action = 'auth.signed_out'") == "signed out"
    events = [s.event for s in a.log.read_after(0)]
    a.close()

    a = Rollcall(Settings(data_dir=tmp_path / "box-a"))  # a restart
    assert session_tokens.restore(a, text) is None and session_tokens.restore(a, other_text) is not None
    a.close()
    # A second instance that folds the same log (as one on a shared Firestore does) refuses it too.
    b = Rollcall(Settings(data_dir=tmp_path / "box-b"))
    b.submit(*events)
    assert auth.load_user(b, "op1") is not None
    assert session_tokens.restore(b, text) is None and session_tokens.restore(b, other_text) is not None
    b.close()


def test_another_secret_refuses_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLCALL_MASTER_KEY", Fernet.generate_key().decode())
    a = Rollcall(Settings(data_dir=tmp_path / "a"))
    _, text = session_tokens.issue(a, add_operator(a), now=time.time())
    events = [s.event for s in a.log.read_after(0)]
    a.close()
    monkeypatch.setenv("ROLLCALL_MASTER_KEY", Fernet.generate_key().decode())
    b = Rollcall(Settings(data_dir=tmp_path / "b"))
    b.submit(*events)
    assert session_tokens.restore(b, text) is None
    b.close()


def test_a_kiosk_token_names_its_session_and_does_not_lapse_when_untouched(app):
    user = add_operator(app)
    token, text = session_tokens.issue(app, user, now=NOW, kiosk="CPE401-2026-11-23-0900")
    assert token.kiosk == "CPE401-2026-11-23-0900" and "~kiosk:CPE401-2026-11-23-0900~" in text
    hours = app.settings.session_max_hours
    restored, _ = session_tokens.restore(app, text, now=NOW + hours * 3600 - 1)  # nobody touched it all day
    assert restored.kiosk == "CPE401-2026-11-23-0900"
    assert session_tokens.restore(app, text, now=NOW + hours * 3600) is None
    # The scope is signed: a kiosk cannot make itself a staff session by dropping it.
    unscoped = text.replace("~kiosk:CPE401-2026-11-23-0900~", "~~")
    assert session_tokens.restore(app, unscoped, now=NOW + 60) is None
    staff, _ = session_tokens.issue(app, user, now=NOW)
    assert staff.kiosk is None
    with pytest.raises(ValueError):
        session_tokens.issue(app, user, kiosk="a~b")

from datetime import UTC, datetime, timedelta

import pytest

from core import auth
from core.auth import AuthError, Role


@pytest.fixture
def admin_pw(app):
    return auth.ensure_first_admin(app)


def test_first_admin_is_created_once_with_a_one_time_password(app, admin_pw):
    assert admin_pw and len(admin_pw) >= 10
    assert auth.ensure_first_admin(app) is None
    user = auth.login(app, "admin", admin_pw)
    assert user.role is Role.ADMIN and user.must_change


def test_user_creation_is_audited_on_the_user(app, admin_pw):
    assert app.db.scalar("SELECT target FROM audit WHERE action = 'user.created'") == "admin"


def test_password_is_hashed_with_argon2(app, admin_pw):
    stored = auth.get_user(app, "admin")["password_hash"]
    assert stored.startswith("$argon2") and admin_pw not in stored
    assert all(admin_pw not in s.event.payload.__repr__() for s in app.log.read_after(0))


def test_change_password_clears_must_change(app, admin_pw):
    with pytest.raises(AuthError, match="at least"):
        auth.change_password(app, "admin", admin_pw, "short")
    with pytest.raises(AuthError, match="current password"):
        auth.change_password(app, "admin", "wrong", "a-long-new-password")
    auth.change_password(app, "admin", admin_pw, "a-long-new-password")
    assert not auth.login(app, "admin", "a-long-new-password").must_change
    with pytest.raises(AuthError):
        auth.login(app, "admin", admin_pw)


def test_lockout_after_repeated_failures(app, admin_pw):
    for _ in range(app.settings.lockout_attempts - 1):
        with pytest.raises(AuthError, match="Wrong user name or password"):
            auth.login(app, "admin", "nope")
    with pytest.raises(AuthError, match="locked"):
        auth.login(app, "admin", "nope")
    with pytest.raises(AuthError, match="locked"):  # even the right password is refused while locked
        auth.login(app, "admin", admin_pw)
    assert app.db.scalar("SELECT count(*) FROM audit WHERE action = 'auth.login_failed'") == app.settings.lockout_attempts


def test_reset_password_unlocks_and_requires_change(app, admin_pw):
    auth.create_user(app, "admin", "op1", "operator", password="first-pass-123")
    for _ in range(app.settings.lockout_attempts):
        with pytest.raises(AuthError):
            auth.login(app, "op1", "bad")
    one_time = auth.reset_password(app, "admin", "op1", reason="forgot")
    user = auth.login(app, "op1", one_time)
    assert user.must_change
    assert app.db.scalar("SELECT reason FROM audit WHERE action = 'user.password_set'") == "forgot"


def test_unknown_user_and_disabled_user(app, admin_pw):
    with pytest.raises(AuthError, match="Wrong user name or password"):
        auth.login(app, "ghost", "whatever")
    auth.create_user(app, "admin", "viewer1", "viewer", password="viewer-pass-1")
    auth.update_user(app, "admin", "viewer1", enabled=False, reason="left the team")
    with pytest.raises(AuthError, match="disabled"):
        auth.login(app, "viewer1", "viewer-pass-1")


def test_user_validation(app, admin_pw):
    with pytest.raises(AuthError, match="already exists"):
        auth.create_user(app, "admin", "admin", "viewer")
    with pytest.raises(AuthError, match="User names"):
        auth.create_user(app, "admin", "bad name!", "viewer")
    with pytest.raises(AuthError, match="student id"):
        auth.create_user(app, "admin", "stu", "student")
    with pytest.raises(AuthError, match="No person"):
        auth.create_user(app, "admin", "stu", "student", student_id="000")
    with pytest.raises(AuthError, match="last active administrator"):
        auth.update_user(app, "admin", "admin", role="viewer")


def test_page_access_matrix():
    admin, student = auth.User("a", Role.ADMIN), auth.User("s", Role.STUDENT, student_id="1")
    viewer, operator = auth.User("v", Role.VIEWER), auth.User("o", Role.OPERATOR)
    assert admin.may_open("users") and not operator.may_open("users") and not viewer.may_open("people")
    assert student.may_open("my_attendance") and not student.may_open("home")
    assert all(u.may_open("account") for u in (admin, student, viewer, operator))
    assert not admin.may_open("no-such-page")


def test_session_timeout():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert not auth.session_expired(now - timedelta(minutes=29), now, 30)
    assert auth.session_expired(now - timedelta(minutes=31), now, 30)

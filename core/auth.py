"""Users, roles, passwords, sign-in with lockout, and which role may open which page."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.eventlog import Event, now_ms
from core.services import Rollcall


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    STUDENT = "student"


# Which roles may open each page; pages/ check this again when opened by URL.
PAGE_ROLES: dict[str, frozenset[Role]] = {
    "home": frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER}),
    "people": frozenset({Role.ADMIN, Role.OPERATOR}),
    "sessions": frozenset({Role.ADMIN, Role.OPERATOR}),
    "checkin": frozenset({Role.ADMIN, Role.OPERATOR}),
    "my_attendance": frozenset({Role.STUDENT}),
    "statistics": frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER}),
    "ceremony": frozenset({Role.ADMIN, Role.OPERATOR}),
    "board": frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER}),
    "announcer": frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER}),
    "users": frozenset({Role.ADMIN}),
    "audit": frozenset({Role.ADMIN}),
    "devices": frozenset({Role.ADMIN}),
    "privacy": frozenset({Role.ADMIN}),
    "account": frozenset(Role),
}

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


class AuthError(Exception):
    """Sign-in or user-management refusal, with a message fit to show."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    display_name: str | None = None
    student_id: str | None = None
    must_change: bool = False

    def may_open(self, page: str) -> bool:
        return self.role in PAGE_ROLES.get(page, frozenset())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def new_one_time_password() -> str:
    # 12 URL-safe characters: easy to type from a console, ~72 bits.
    return secrets.token_urlsafe(9)


def check_password_rules(password: str, min_length: int, username: str = "") -> None:
    if len(password) < min_length:
        raise AuthError(f"The password needs at least {min_length} characters.")
    if username and username.lower() in password.lower():
        raise AuthError("The password must not contain the user name.")


def _row_to_user(row: dict) -> User:
    return User(username=row["username"], role=Role(row["role"]), display_name=row["display_name"],
                student_id=row["student_id"], must_change=bool(row["must_change"]))


def get_user(app: Rollcall, username: str) -> dict | None:
    df = app.db.query("SELECT * FROM users WHERE username = ?", [username])
    return None if df.empty else df.iloc[0].to_dict()


def list_users(app: Rollcall):
    return app.db.query(
        "SELECT username, display_name, role, student_id, enabled, must_change, failed_attempts, "
        "locked_until, last_login FROM users ORDER BY role, username"
    )


def login(app: Rollcall, username: str, password: str) -> User:
    """Check a password; count failures and lock the account after too many."""
    username = username.strip().lower()
    row = get_user(app, username)
    refused = AuthError("Wrong user name or password.")
    if row is None:
        try:  # spend the same time as a real check, so user names cannot be probed by timing
            _hasher.verify(_DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            pass
        raise refused
    now = datetime.now(UTC)
    locked_until = row["locked_until"]
    if locked_until is not None and locked_until.to_pydatetime() > now:
        minutes = max(1, int((locked_until.to_pydatetime() - now).total_seconds() // 60) + 1)
        raise AuthError(f"This account is locked after too many failed attempts. Try again in {minutes} min.")
    if not row["enabled"]:
        raise AuthError("This account is disabled. Ask an administrator.")
    try:
        _hasher.verify(row["password_hash"], password)
    except (VerificationError, InvalidHashError):
        settings = app.settings
        failures = int(row["failed_attempts"]) + 1
        lock_ms = None
        if failures >= settings.lockout_attempts:
            lock_ms = now_ms() + settings.lockout_minutes * 60_000
        app.submit(Event.new("auth.login_failed", {"username": username, "locked_until_ms": lock_ms},
                             actor=username))
        if lock_ms:
            raise AuthError(f"Too many failed attempts: the account is locked for {settings.lockout_minutes} min.")
        raise refused from None
    app.submit(Event.new("auth.login_succeeded", {"username": username}, actor=username))
    return _row_to_user(row)



def create_user(app: Rollcall, actor: str, username: str, role: Role | str, *, display_name: str | None = None,
                student_id: str | None = None, password: str | None = None) -> str:
    """Create a user with a one-time password (returned) that must be changed at first sign-in."""
    username = username.strip().lower()
    role = Role(role)
    if not _USERNAME.match(username):
        raise AuthError("User names are 2–32 characters: a–z, 0–9, dot, dash or underscore.")
    if get_user(app, username) is not None:
        raise AuthError(f"The user {username!r} already exists.")
    if role is Role.STUDENT:
        if not student_id:
            raise AuthError("A student account needs the student id it belongs to.")
        if app.db.scalar("SELECT count(*) FROM people WHERE student_id = ?", [student_id]) == 0:
            raise AuthError(f"No person with student id {student_id!r}.")
    one_time = password or new_one_time_password()
    app.submit(Event.new("user.created", {
        "username": username, "display_name": display_name, "role": role.value,
        "student_id": student_id if role is Role.STUDENT else None,
        "password_hash": hash_password(one_time), "must_change": True,
    }, actor=actor))
    return one_time


def reset_password(app: Rollcall, actor: str, username: str, reason: str | None = None) -> str:
    if get_user(app, username) is None:
        raise AuthError(f"No user {username!r}.")
    one_time = new_one_time_password()
    app.submit(Event.new("user.password_set", {"username": username, "password_hash": hash_password(one_time),
                                               "must_change": True, "reason": reason}, actor=actor))
    return one_time


def change_password(app: Rollcall, username: str, old: str, new: str) -> None:
    row = get_user(app, username)
    if row is None:
        raise AuthError(f"No user {username!r}.")
    try:
        _hasher.verify(row["password_hash"], old)
    except (VerificationError, InvalidHashError):
        raise AuthError("The current password is wrong.") from None
    if old == new:
        raise AuthError("Choose a password different from the current one.")
    check_password_rules(new, app.settings.min_password_length, username)
    app.submit(Event.new("user.password_set", {"username": username, "password_hash": hash_password(new),
                                               "must_change": False}, actor=username))


def update_user(app: Rollcall, actor: str, username: str, *, role: Role | str | None = None,
                enabled: bool | None = None, reason: str | None = None) -> None:
    row = get_user(app, username)
    if row is None:
        raise AuthError(f"No user {username!r}.")
    changes: dict = {}
    if role is not None and Role(role).value != row["role"]:
        if Role(role) is Role.STUDENT and not row["student_id"]:
            raise AuthError("Create a student account from the form: it needs a student id.")
        changes["role"] = Role(role).value
    if enabled is not None and enabled != bool(row["enabled"]):
        changes["enabled"] = enabled
    if not changes:
        return
    demoting = changes.get("role", "admin") != "admin" or changes.get("enabled") is False
    if row["role"] == "admin" and demoting and _active_admins(app) <= 1:
        raise AuthError("This is the last active administrator: create another one first.")
    app.submit(Event.new("user.updated", {"username": username, **changes, "reason": reason}, actor=actor))


def _active_admins(app: Rollcall) -> int:
    return int(app.db.scalar("SELECT count(*) FROM users WHERE role = 'admin' AND enabled"))


def session_expired(last_activity: datetime, now: datetime, timeout_minutes: int) -> bool:
    return now - last_activity > timedelta(minutes=timeout_minutes)


def ensure_first_admin(app: Rollcall) -> str | None:
    """Create `admin` with a one-time password when no user exists; returns the password or None."""
    if app.db.scalar("SELECT count(*) FROM users") or _log_has_users(app):
        return None
    return create_user(app, "system", "admin", Role.ADMIN, display_name="Administrator")


def _log_has_users(app: Rollcall) -> bool:
    # The read model may lag the log (e.g. the app has not folded yet); the log is the truth.
    cursor = 0
    while batch := app.log.read_after(cursor, 5000):
        if any(s.event.kind == "user.created" for s in batch):
            return True
        cursor = batch[-1].position
    return False

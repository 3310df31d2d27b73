"""Users, passwords, sign-in with lockout (the roles and their pages are in core/roles.py)."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.eventlog import Event
from core.roles import PAGE_ROLES, Role  # re-exported: auth.Role is used everywhere
from core.services import Rollcall
from core.timeutil import from_ms, to_ms

log = logging.getLogger("rollcall.auth")


_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


class AuthError(Exception):
    """Sign-in or user-management refusal, with a message fit to show."""


class SignInBusy(AuthError):
    """Too many password checks at once in this process: nothing was checked or counted."""


class SignInThrottled(AuthError):
    """Too many failed sign-ins from one source: nothing was checked or counted."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    display_name: str | None = None
    student_id: str | None = None
    must_change: bool = False
    # Which password the session signed in with (a fingerprint of its hash): a new password ends the session.
    password_fp: str = field(default="", repr=False)

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


def password_fingerprint(password_hash: str) -> str:
    """Changes with every password set (an Argon2 hash carries a fresh salt); reveals nothing of it."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _row_to_user(row: dict) -> User:
    return User(username=row["username"], role=Role(row["role"]), display_name=row["display_name"],
                student_id=row["student_id"], must_change=bool(row["must_change"]),
                password_fp=password_fingerprint(row["password_hash"]))


def load_user(app: Rollcall, username: str) -> User | None:
    """The user as the read model has it now (role, must_change, password fingerprint); None when the account
    does not exist or is disabled."""
    row = get_user(app, username)
    return None if row is None or not row["enabled"] else _row_to_user(row)


def revalidate(app: Rollcall, user: User) -> User | None:
    """A signed-in session's user, read again: None when the account is gone or disabled or its password was set
    since the session signed in (reset by an admin, or changed in another tab); else the user as it is now, so a
    new role narrows (or widens) the menu at once. Pages call this on every run: a session never trusts a copy."""
    fresh = load_user(app, user.username)
    if fresh is None or not user.password_fp or not secrets.compare_digest(fresh.password_fp, user.password_fp):
        return None
    return fresh


def get_user(app: Rollcall, username: str) -> dict | None:
    df = app.db.query("SELECT * FROM users WHERE username = ?", [username])
    return None if df.empty else df.iloc[0].to_dict()


def list_users(app: Rollcall):
    return app.db.query(
        "SELECT username, display_name, role, student_id, enabled, must_change, failed_attempts, "
        "CASE WHEN locked_until > now() THEN locked_until END AS locked_until, last_login "
        "FROM users ORDER BY role, username"
    )


# --- sign-in: one answer for every refusal, atomic lockout, bounded Argon2, per-source throttle ------------

UNKNOWN_ACTOR = "(unknown user)"  # not a valid user name: failed sign-ins of names that do not exist


def refused_message(settings) -> str:
    """The one answer to every refused sign-in (unknown user, wrong password, disabled, locked): which it was goes
    to the audit trail and the log, never to the visitor, so user names cannot be probed."""
    return (f"Wrong user name or password. After {settings.lockout_attempts} failed attempts an account is "
            f"locked for {settings.lockout_minutes} min.")


class _KeyedLocks:
    """One lock per key (a user name) while someone holds or waits for it; nothing kept after."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, list] = {}  # key -> [lock, holders and waiters]

    @contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[None]:
        with self._guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            if not entry[0].acquire(timeout=timeout):
                raise SignInBusy("Sign-in is busy. Try again in a moment.")
            try:
                yield
            finally:
                entry[0].release()
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]


class SourceThrottle:
    """A token bucket of failed sign-ins per source: `burst` at once, then one per `refill_seconds`. An attempt
    takes a token before its password is checked (so parallel attempts from one source cannot all pass) and
    gives it back if it signs in; with no token left the source is told how long to wait, and nothing is checked."""

    def __init__(self, burst: int, refill_seconds: float, max_sources: int = 50_000) -> None:
        self.burst, self.refill_seconds, self.max_sources = burst, refill_seconds, max_sources
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # source -> (tokens, at)

    def _tokens(self, source: str, now: float) -> float:
        tokens, at = self._buckets.get(source, (float(self.burst), now))
        return min(float(self.burst), tokens + max(0.0, now - at) / self.refill_seconds)

    def take(self, source: str, now: float) -> float:
        """0 when the attempt may go on (a token is taken); else the seconds to wait."""
        with self._lock:
            tokens = self._tokens(source, now)
            if tokens < 1.0:
                return (1.0 - tokens) * self.refill_seconds
            self._buckets[source] = (tokens - 1.0, now)
            self._buckets.move_to_end(source)
            self._forget(now)
            return 0.0

    def give_back(self, source: str, now: float) -> None:
        with self._lock:
            if source in self._buckets:
                self._buckets[source] = (min(float(self.burst), self._tokens(source, now) + 1.0), now)

    def _forget(self, now: float) -> None:
        if len(self._buckets) <= self.max_sources:
            return
        for source in [s for s in self._buckets if self._tokens(s, now) >= self.burst]:
            del self._buckets[source]  # full again: nothing to remember
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)  # a flood of distinct sources: the longest quiet goes first


class SignInGate:
    """What every password check of one app (one per process) goes through."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.accounts = _KeyedLocks()
        self.checks = threading.BoundedSemaphore(settings.max_concurrent_password_checks)
        self.sources = SourceThrottle(settings.signin_source_burst, settings.signin_source_refill_seconds)

    @contextmanager
    def password_check(self) -> Iterator[None]:
        """At most `max_concurrent_password_checks` Argon2 computations at once (each ~64 MiB)."""
        if not self.checks.acquire(timeout=self.settings.signin_busy_wait_seconds):
            raise SignInBusy("Sign-in is busy. Try again in a moment.")
        try:
            yield
        finally:
            self.checks.release()


_gates: weakref.WeakKeyDictionary[Rollcall, SignInGate] = weakref.WeakKeyDictionary()
_gates_lock = threading.Lock()


def sign_in_gate(app: Rollcall) -> SignInGate:
    with _gates_lock:
        gate = _gates.get(app)
        if gate is None:
            gate = _gates[app] = SignInGate(app.settings)
        return gate


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def source_key(address: str | None) -> str | None:
    """A client address as a throttle key: IPv6 by its /64 (one host may hold all of it); None stays None."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def login(app: Rollcall, username: str, password: str, *, source: str | None = None,
          clock: Callable[[], float] = time.time) -> User:
    """Check a password; every refusal gets the same answer and costs the same (one Argon2 check and one event).

    `source` (the client's address, or its browser session) is throttled: see SourceThrottle; None (the CLI,
    tests of the account rules) is not. Attempts at one user name run one at a time, so the failure count and the
    lock are decided on what the attempts before wrote; at most `max_concurrent_password_checks` run at once."""
    gate = sign_in_gate(app)
    username = username.strip().lower()
    if source is not None:
        wait = gate.sources.take(source, clock())
        if wait > 0:
            log.info("sign-in throttled: source %s", source)
            raise SignInThrottled(f"Too many failed sign-ins from here. Try again in {math.ceil(wait)} s.")
    give_back = False  # a refusal keeps the source's token; a sign-in, or no check at all, returns it
    try:
        with gate.accounts.hold(username, app.settings.signin_busy_wait_seconds):
            user = _check(app, gate, username, password, source, clock)
        give_back = True
        return user
    except SignInBusy:
        give_back = True
        raise
    finally:
        if source is not None and give_back:
            gate.sources.give_back(source, clock())


def _check(app: Rollcall, gate: SignInGate, username: str, password: str, source: str | None,
           clock: Callable[[], float]) -> User:
    """Under the user name's lock: read, check, record."""
    settings = app.settings
    row = get_user(app, username)
    now = clock()
    now_ms = int(now * 1000)
    lock = _locked_until(row)
    if row is None:
        why = "unknown user"
    elif lock is not None and lock > now_ms:
        why = "locked"
    elif not row["enabled"]:
        why = "disabled"
    else:
        why = None
    with gate.password_check():  # always one check: an unknown, locked or disabled name costs what a real one does
        good = _verify(row["password_hash"] if row is not None and why is None else _DUMMY_HASH, password)
    if row is not None and why is None and good:
        app.submit(Event.new("auth.login_succeeded", {"username": username, "source": source}, actor=username,
                             ts_ms=now_ms))
        return _row_to_user(row)
    if row is not None and why is None:  # (why is None only for a known user)
        why = "wrong password"
        if _failures_since_reset(app, row, lock) + 1 >= settings.lockout_attempts:
            lock = now_ms + settings.lockout_minutes * 60_000
    # A failure never clears a lock: it carries the lock there is (or an ended one: failures count from its end).
    app.submit(Event.new("auth.login_failed", {
        "username": username if row is not None else None, "locked_until_ms": lock, "source": source, "reason": why,
    }, actor=username if row is not None else UNKNOWN_ACTOR, ts_ms=now_ms))
    # An unknown name is not written down: it may be a password typed into the wrong field.
    log.info("sign-in refused: user %r, %s, source %s", username if row is not None else UNKNOWN_ACTOR, why, source)
    raise AuthError(refused_message(settings))


def _locked_until(row: dict | None) -> int | None:
    value = None if row is None else row["locked_until"]
    if value is None or pd.isna(value):
        return None
    return to_ms(value)


def _failures_since_reset(app: Rollcall, row: dict, lock_ms: int | None) -> int:
    """Wrong passwords since the last sign-in or password set (the read model's counter), or, once a lock has
    ended, since its end: each lock takes `lockout_attempts` new failures, so one failure now and then cannot keep
    an account locked for good."""
    if lock_ms is None:
        return int(row["failed_attempts"])
    return int(app.db.scalar(
        "SELECT count(*) FROM audit WHERE action = 'auth.login_failed' AND target = ? AND reason = 'wrong password' "
        "AND at_time > ?", [row["username"], from_ms(lock_ms)]))


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


def change_password(app: Rollcall, username: str, old: str, new: str) -> User:
    """Set a new password (the old one must be right); returns the user with the new password's fingerprint, which
    keeps the session that changed it signed in (other sessions of the user are signed out)."""
    row = get_user(app, username)
    if row is None or not row["enabled"]:
        raise AuthError(f"No user {username!r}.")
    with sign_in_gate(app).password_check():
        good = _verify(row["password_hash"], old)
    if not good:
        raise AuthError("The current password is wrong.")
    if old == new:
        raise AuthError("Choose a password different from the current one.")
    check_password_rules(new, app.settings.min_password_length, username)
    with sign_in_gate(app).password_check():
        new_hash = hash_password(new)
    app.submit(Event.new("user.password_set", {"username": username, "password_hash": new_hash,
                                               "must_change": False}, actor=username))
    row = get_user(app, username)
    if row is None:  # deleted meanwhile by an administrator
        raise AuthError(f"No user {username!r}.")
    return _row_to_user(row)


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

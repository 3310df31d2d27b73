import threading
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
    refused = auth.refused_message(app.settings)
    for _ in range(app.settings.lockout_attempts):
        with pytest.raises(AuthError) as caught:
            auth.login(app, "admin", "nope")
        assert str(caught.value) == refused
    assert auth.get_user(app, "admin")["locked_until"].to_pydatetime() > datetime.now(UTC)
    with pytest.raises(AuthError) as caught:  # even the right password is refused while locked, in the same words
        auth.login(app, "admin", admin_pw)
    assert str(caught.value) == refused
    reasons = app.db.query("SELECT reason, count(*) AS n FROM audit WHERE action = 'auth.login_failed' GROUP BY 1")
    assert dict(zip(reasons["reason"], reasons["n"], strict=True)) == {
        "wrong password": app.settings.lockout_attempts, "locked": 1}


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
    with pytest.raises(AuthError, match="Wrong user name or password"):  # the right password, but disabled
        auth.login(app, "viewer1", "viewer-pass-1")
    assert app.db.scalar("SELECT reason FROM audit WHERE action = 'auth.login_failed' AND target = 'viewer1'") \
        == "disabled"


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


# --- issue #12: sign-in under attack ---------------------------------------------------------------


class CountingHasher:
    """The real Argon2 hasher, counting the password checks in flight (and the most at once). With `meet` set,
    each check waits until that many are in flight together: proof that the limit is reached, not just kept."""

    def __init__(self, real, meet: int | None = None) -> None:
        self.real, self.calls, self.now, self.most = real, 0, 0, 0
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(meet) if meet else None

    def verify(self, stored, password):
        with self._lock:
            self.calls += 1
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            if self._barrier is not None:
                self._barrier.wait(timeout=120)  # only a broken limit (fewer than `meet` let in) ever waits this out
            return self.real.verify(stored, password)
        finally:
            with self._lock:
                self.now -= 1

    def hash(self, password):
        return self.real.hash(password)


class Clock:
    """An injected wall clock (seconds): tests move it, never sleep."""

    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def op1(app, admin_pw):
    auth.create_user(app, "admin", "op1", "operator", password="op1-password-1")
    return "op1-password-1"


def attempt(app, username, password, **kwargs) -> str:
    try:
        auth.login(app, username, password, **kwargs)
    except AuthError as exc:
        return str(exc)
    return "ok"


def in_parallel(calls) -> list[str]:
    """Start every call at the same moment (a barrier), each on its own thread; their answers in order."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, fn):
        start.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def failures_by_reason(app, username: str | None) -> dict[str, int]:
    rows = app.db.query("SELECT reason, count(*) AS n FROM audit WHERE action = 'auth.login_failed' "
                        "AND target IS NOT DISTINCT FROM ? GROUP BY 1", [username])
    return dict(zip(rows["reason"], rows["n"], strict=True))


def test_twelve_wrong_passwords_at_once_lock_the_account(app, op1, monkeypatch):
    counting = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", counting)
    # From 12 different addresses, so only the account's own lock can stop them.
    answers = in_parallel([lambda i=i: attempt(app, "op1", f"guess-{i}", source=f"10.0.0.{i}") for i in range(12)])
    assert set(answers) == {auth.refused_message(app.settings)}
    row = auth.get_user(app, "op1")
    assert row["locked_until"] is not None and row["locked_until"].to_pydatetime() > datetime.now(UTC)
    # Decided one at a time: exactly `lockout_attempts` passwords were judged wrong, the rest found the lock.
    assert failures_by_reason(app, "op1") == {"wrong password": app.settings.lockout_attempts,
                                              "locked": 12 - app.settings.lockout_attempts}
    assert counting.calls == 12 and counting.most <= app.settings.max_concurrent_password_checks
    assert attempt(app, "op1", op1, source="10.0.1.1") == auth.refused_message(app.settings)


def test_at_most_n_password_checks_run_at_once_in_the_process(app, op1, monkeypatch):
    n = app.settings.max_concurrent_password_checks
    assert n == 4
    counting = CountingHasher(auth._hasher, meet=n)
    monkeypatch.setattr(auth, "_hasher", counting)
    names = ["op1", "admin"] + [f"ghost{i}" for i in range(10)]  # real and unknown users alike: 12 = 3 × n
    answers = in_parallel([lambda u=u, i=i: attempt(app, u, "wrong-password", source=f"10.0.0.{i}")
                           for i, u in enumerate(names)])
    assert set(answers) == {auth.refused_message(app.settings)}
    assert counting.calls == 12
    assert counting.most == n  # reached (the barrier met n at once) and never passed


def test_busy_when_no_check_is_free(app, op1, monkeypatch):
    monkeypatch.setattr(app.settings, "signin_busy_wait_seconds", 0.01)
    gate = auth.sign_in_gate(app)
    held = [gate.checks.acquire(blocking=False) for _ in range(app.settings.max_concurrent_password_checks)]
    assert all(held)
    try:
        with pytest.raises(auth.SignInBusy, match="busy"):
            auth.login(app, "op1", op1, source="10.0.0.1")
    finally:
        for _ in held:
            gate.checks.release()
    assert failures_by_reason(app, "op1") == {}  # nothing was checked, nothing counted
    assert auth.login(app, "op1", op1, source="10.0.0.1").username == "op1"


def test_a_later_failure_never_clears_a_lock_and_each_lock_takes_fresh_failures(app, op1):
    clock = Clock()
    attempts = app.settings.lockout_attempts
    for _ in range(attempts):
        attempt(app, "op1", "nope", clock=clock)
    locked = auth.get_user(app, "op1")["locked_until"]
    clock.t += 60
    attempt(app, "op1", "nope", clock=clock)  # during the lock
    assert auth.get_user(app, "op1")["locked_until"] == locked
    assert attempt(app, "op1", op1, clock=clock) != "ok"
    # The lock ends. One more failure does not lock again: it takes `lockout_attempts` new ones.
    clock.t += app.settings.lockout_minutes * 60
    assert attempt(app, "op1", "nope", clock=clock) != "ok"
    assert attempt(app, "op1", op1, clock=clock) == "ok"
    for _ in range(attempts - 1):
        attempt(app, "op1", "nope", clock=clock)
    assert attempt(app, "op1", op1, clock=clock) == "ok"  # a success starts the count again
    clock.t += 1
    for _ in range(attempts):
        attempt(app, "op1", "nope", clock=clock)
    assert attempt(app, "op1", op1, clock=clock) != "ok"
    clock.t += app.settings.lockout_minutes * 60 + 1
    for _ in range(attempts - 1):
        attempt(app, "op1", "nope", clock=clock)
    assert attempt(app, "op1", op1, clock=clock) == "ok"


def test_a_flood_from_one_source_slows_that_source_only(app, op1, monkeypatch):
    counting = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", counting)
    clock = Clock()
    burst, refill = app.settings.signin_source_burst, app.settings.signin_source_refill_seconds
    answers = in_parallel([lambda i=i: attempt(app, f"ghost{i}", "x", source="203.0.113.9", clock=clock)
                           for i in range(12)])
    throttled = [a for a in answers if a.startswith("Too many failed sign-ins from here")]
    assert len(throttled) == 12 - burst and counting.calls == burst  # throttled attempts check nothing
    assert f"Try again in {int(refill)} s" in throttled[0]
    # Other sources are not slowed; this one gets one more attempt per refill period.
    assert attempt(app, "op1", op1, source="198.51.100.7", clock=clock) == "ok"
    assert attempt(app, "op1", op1, source="203.0.113.9", clock=clock).startswith("Too many")
    clock.t += refill
    assert attempt(app, "op1", op1, source="203.0.113.9", clock=clock) == "ok"  # a sign-in gives its token back
    assert attempt(app, "op1", "nope", source="203.0.113.9", clock=clock) == auth.refused_message(app.settings)
    assert attempt(app, "op1", op1, source="203.0.113.9", clock=clock).startswith("Too many")
    # The failures are in the audit trail with their source; unknown names are not written there (a password
    # typed into the user-name field must not end up in the trail).
    assert failures_by_reason(app, None) == {"unknown user": burst}
    assert "ghost" not in " ".join(app.db.query("SELECT coalesce(detail, '') || coalesce(actor, '') AS t FROM audit "
                                                "WHERE action = 'auth.login_failed'")["t"])


def test_ipv6_sources_are_grouped_by_their_64():
    assert auth.source_key("2001:db8:1:2:aaaa::1") == auth.source_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert auth.source_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert auth.source_key(None) is None and auth.source_key("192.0.2.1") == "192.0.2.1"


def test_every_refusal_looks_the_same_and_costs_one_password_check(app, op1, monkeypatch):
    auth.create_user(app, "admin", "gone", "viewer", password="gone-password-1")
    auth.update_user(app, "admin", "gone", enabled=False)
    auth.create_user(app, "admin", "busy", "viewer", password="busy-password-1")
    for _ in range(app.settings.lockout_attempts):
        attempt(app, "busy", "nope")
    counting = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", counting)
    answers, costs, events = {}, {}, {}
    for case, (username, password) in {"unknown user": ("nobody", "whatever-1"), "wrong password": ("op1", "nope"),
                                       "disabled": ("gone", "gone-password-1"),
                                       "locked": ("busy", "busy-password-1")}.items():
        before_calls, before_events = counting.calls, app.log.head()
        answers[case] = attempt(app, username, password)
        costs[case] = counting.calls - before_calls
        events[case] = len(app.log.read_after(before_events))
    assert len(set(answers.values())) == 1 and "ok" not in answers.values(), answers
    assert costs == dict.fromkeys(answers, 1), costs  # an unknown name costs the same Argon2 check as a real one
    assert events == dict.fromkeys(answers, 1), events  # and the same write
    # The stand-in hash of unknown names has the same Argon2 parameters as real ones: the same work.
    from argon2 import extract_parameters

    assert extract_parameters(auth._DUMMY_HASH) == extract_parameters(auth.get_user(app, "op1")["password_hash"])
    assert failures_by_reason(app, "gone") == {"disabled": 1}


def test_a_session_is_valid_only_while_the_account_and_its_password_stay(app, op1):
    user = auth.login(app, "op1", op1)
    assert auth.revalidate(app, user) == user
    auth.update_user(app, "admin", "op1", role="viewer")
    assert auth.revalidate(app, user).role is Role.VIEWER  # narrowed at once, still signed in
    auth.update_user(app, "admin", "op1", enabled=False)
    assert auth.revalidate(app, user) is None
    auth.update_user(app, "admin", "op1", enabled=True)
    assert auth.revalidate(app, user) is not None
    auth.reset_password(app, "admin", "op1")
    assert auth.revalidate(app, user) is None  # a reset by someone else ends the session
    assert auth.revalidate(app, auth.User("op1", Role.OPERATOR)) is None  # a user object without a fingerprint


def test_changing_ones_password_keeps_this_session_and_ends_the_others(app, op1):
    tab_a, tab_b = auth.login(app, "op1", op1), auth.login(app, "op1", op1)
    changed = auth.change_password(app, "op1", op1, "a-brand-new-pass-2")
    assert auth.revalidate(app, changed) == changed
    assert auth.revalidate(app, tab_a) is None and auth.revalidate(app, tab_b) is None


def test_changing_the_password_of_an_account_erased_meanwhile_says_so(app, admin_pw, monkeypatch):
    """An erasure (it removes the person's accounts) can land between the password check and reading the account
    back: the student gets the page's clear 'No user' message, not a crash (found by the type checker)."""
    from core import privacy
    from core.eventlog import Event

    app.submit(Event.new("person.upserted", {"person": {"student_id": "6501001", "name": "สมชาย ใจดี"}}, actor="admin"))
    one_time = auth.create_user(app, "admin", "somchai", Role.STUDENT, student_id="6501001")
    submit = app.submit

    def erased_right_after(*events):
        submit(*events)
        if any(e.kind == "user.password_set" for e in events):
            privacy.erase_person(app, "6501001", "admin", "written request")

    monkeypatch.setattr(app, "submit", erased_right_after)
    with pytest.raises(AuthError, match="No user 'somchai'"):
        auth.change_password(app, "somchai", one_time, "a-long-new-password")
    assert auth.get_user(app, "somchai") is None

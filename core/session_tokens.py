"""Signed staff-session tokens: what keeps a user signed in across a refresh, a bookmark or a new tab.

A Streamlit session lives in one websocket, so a refresh starts a new one. At sign-in the browser is given a
cookie holding a token: `v1~<user>~<session id>~<issued s>~<expires s>~<scope>~<mac>`, an HMAC-SHA256 (a key
derived from the master key, so every app instance with the same secrets accepts it) over those fields and the
fingerprint of the user's current password. A new run that has no user in its session signs in with the token only if:

- the MAC is right (a changed user name, time, id or scope is refused) and it has not expired: it expires after
  `session_timeout_minutes` without use (it is re-issued while the user works) and at most `session_max_hours`
  after sign-in;
- the account exists and is enabled, and its password is the one it was issued under (a reset or a change ends
  every token of the user: the fingerprint is inside the MAC, not in the token);
- it was not signed out: **Sign out** appends an event naming the session id, folded into the audit trail of every
  instance, so a copied cookie replayed after sign-out is refused (after a restart too).

A signed-in session checks the same on every run (`still_valid`), so signing out in one tab ends the others that
share the cookie.

The scope is empty for staff, or `kiosk:<attendance session id>` for a check-in kiosk locked by staff: that browser
opens only the kiosk of that session (a refresh or a typed address included) until staff unlock it with a
password, and it does not lapse when nobody touches it (only `session_max_hours` after it was locked).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from core import auth
from core.eventlog import Event
from core.keys import load_master_key
from core.services import Rollcall
from core.timeutil import from_ms

COOKIE = "rollcall_session"
# Fields: user name (auth's rule: a-z 0-9 . _ -), 128-bit session id, issued and expiry (Unix s), 32 hex of MAC.
_TOKEN = re.compile(r"v1~([a-z0-9][a-z0-9._-]{1,31})~([A-Za-z0-9_-]{22})~(\d{10})~(\d{10})"
                    r"~((?:kiosk:[A-Za-z0-9_-]{1,64})?)~([0-9a-f]{32})")
KIOSK = "kiosk:"
SIGNED_OUT = "signed_out_session"  # the payload key of a sign-out (an `auth.signed_out` event)


@dataclass(frozen=True)
class SessionToken:
    username: str
    session_id: str
    issued: int  # Unix s: sign-in
    expires: int  # Unix s
    scope: str = ""  # "" (staff) or "kiosk:<attendance session id>"

    @property
    def kiosk(self) -> str | None:
        """The attendance session a locked kiosk checks in for, or None."""
        return self.scope[len(KIOSK):] if self.scope.startswith(KIOSK) else None

    def text(self, app: Rollcall, password_fp: str) -> str:
        fields = f"v1~{self.username}~{self.session_id}~{self.issued}~{self.expires}~{self.scope}"
        return f"{fields}~{_mac(app, fields, password_fp)}"


def _key(app: Rollcall) -> bytes:
    master = load_master_key(app.settings.master_key, app.settings.data_path)
    return hmac.new(master, b"staff-sessions", hashlib.sha256).digest()


def _mac(app: Rollcall, fields: str, password_fp: str) -> str:
    return hmac.new(_key(app), f"{fields}~{password_fp}".encode(), hashlib.sha256).hexdigest()[:32]


def _expiry(app: Rollcall, issued: int, now: float, scope: str = "") -> int:
    longest = issued + app.settings.session_max_hours * 3600
    if scope.startswith(KIOSK):
        return longest  # a kiosk stands unattended: it lapses only at the longest
    return min(int(now) + app.settings.session_timeout_minutes * 60, longest)


def issue(app: Rollcall, user: auth.User, *, now: float | None = None, kiosk: str | None = None
          ) -> tuple[SessionToken, str]:
    """A new session for a user who has just signed in (or, with `kiosk`, a kiosk they lock): (token, cookie)."""
    if kiosk is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", kiosk):
        raise ValueError(f"not an attendance session id: {kiosk!r}")
    now = time.time() if now is None else now
    issued, scope = int(now), f"{KIOSK}{kiosk}" if kiosk else ""
    token = SessionToken(user.username, secrets.token_urlsafe(16), issued, _expiry(app, issued, now, scope), scope)
    return token, token.text(app, user.password_fp)


def renew(app: Rollcall, token: SessionToken, user: auth.User, *, now: float | None = None
          ) -> tuple[SessionToken, str] | None:
    """The same session with its idle expiry moved on, when a third of it is used up (None: keep the cookie)."""
    now = time.time() if now is None else now
    expires = _expiry(app, token.issued, now, token.scope)
    if expires - token.expires < app.settings.session_timeout_minutes * 20:
        return None
    fresh = SessionToken(token.username, token.session_id, token.issued, expires, token.scope)
    return fresh, fresh.text(app, user.password_fp)


def parse(app: Rollcall, text: str | None, *, now: float | None = None) -> SessionToken | None:
    """The token if it is well formed, unexpired and its MAC matches the user's current password; else None.
    Says nothing of why (a visitor learns nothing from a forged cookie)."""
    match = _TOKEN.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    now = time.time() if now is None else now
    username, session_id, issued, expires, scope = match[1], match[2], int(match[3]), int(match[4]), match[5]
    if not issued <= expires <= issued + app.settings.session_max_hours * 3600 or now >= expires:
        return None
    user = auth.get_user(app, username)
    fp = auth.password_fingerprint(user["password_hash"]) if user is not None else "-"
    signed = match[0].rsplit("~", 1)[0]  # everything before the MAC
    if not hmac.compare_digest(_mac(app, signed, fp), match[6]):
        return None
    return SessionToken(username, session_id, issued, expires, scope)


def signed_out(app: Rollcall, token: SessionToken) -> bool:
    """Whether this session was signed out (on any instance: the sign-out event is folded everywhere)."""
    return bool(app.db.scalar(
        "SELECT count(*) FROM audit WHERE action = 'auth.signed_out' AND target = ? AND at_time >= ? "
        f"AND json_extract_string(detail, '$.{SIGNED_OUT}') = ?",
        [token.username, from_ms((token.issued - 60) * 1000), token.session_id]))


def restore(app: Rollcall, text: str | None, *, now: float | None = None) -> tuple[SessionToken, auth.User] | None:
    """A new run's user from its cookie, or None (garbled, forged, expired, signed out, disabled, re-passworded)."""
    token = parse(app, text, now=now)
    if token is None or signed_out(app, token):
        return None
    user = auth.load_user(app, token.username)
    if user is None:
        return None
    return token, user


def still_valid(app: Rollcall, token: SessionToken, *, now: float | None = None) -> bool:
    """Every run of a signed-in session that holds a token: not expired (absolute limit) and not signed out.
    (The account itself — disabled, new password — is checked by auth.revalidate.)"""
    now = time.time() if now is None else now
    return now < token.issued + app.settings.session_max_hours * 3600 and not signed_out(app, token)


def sign_out(app: Rollcall, token: SessionToken) -> None:
    """End this session everywhere: its cookie, copied or not, is refused from now on."""
    app.submit(Event.new("auth.signed_out", {"username": token.username, SIGNED_OUT: token.session_id,
                                          "reason": "signed out"}, actor=token.username))

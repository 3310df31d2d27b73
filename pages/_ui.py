"""Shared helpers for the pages: the process-wide app handle, the signed-in user, guards."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

import streamlit as st

from core import auth, session_tokens
from core.config import get_settings
from core.runtime import open_app
from core.services import Rollcall
from core.timeutil import now_ms


@st.cache_resource(show_spinner=False)
def _app_for(data_path: str) -> Rollcall:
    # One per process (and data folder): owns the DuckDB file and runs the workers (core/runtime.py).
    return open_app(get_settings())


_MARKDOWN = re.compile(r"([\\`*_\[\]<>~$:#])")  # what makes links, images, emphasis, maths, colours, icons


def plain(text) -> str:
    """Text someone typed (a name, a class, a file name) for st.markdown, st.write, st.title or a caption: shown as
    typed, never as a link, an image, a colour, maths or formatting (`![x](http://…)` in a roster would otherwise
    make every viewer's browser fetch that address)."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def keyed(base: str, *inputs) -> str:
    """A widget key that changes with what the widget shows: a table keyed by its search (or filters) starts with
    nothing selected when they change — the old selection's row 1 would be someone else in the new results."""
    text = "\x1f".join(str(i).strip() for i in inputs)
    return f"{base}-{hashlib.sha1(text.encode()).hexdigest()[:12]}" if text.strip("\x1f") else base


def tabs_kept(key: str) -> dict:
    """st.tabs arguments that keep the open tab across the page's reruns (a save, a refresh of the data): without
    state, a rerun that draws anything new above the tabs opens the first one again."""
    return {"key": key, "on_change": "rerun"}


def screen_links(ceremony_id: str) -> None:
    """The big screens' links as links to click, each with a QR code to open it on the screen's own device (a TV's
    browser, a tablet) without typing a token; st.code beside it copies it."""
    from core import screens

    url = st.context.url if isinstance(st.context.url, str) else None  # (a test harness has no browser)
    for link in screens.screen_links(get_app(), ceremony_id, url):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(f"**[{link.label}]({link.url})**")
        left.code(link.url, language=None, wrap_lines=True)
        right.image(link.qr(), width=140, caption="Open on the screen")


def grid(data, **kwargs):
    """st.dataframe for every table of the app: a missing value is an empty cell, not the word "None"."""
    kwargs.setdefault("placeholder", "")
    return st.dataframe(data, **kwargs)


def get_app() -> Rollcall:
    return _app_for(str(get_settings().data_path))


def current_user() -> auth.User | None:
    """The signed-in user, read again from the read model on every run (never the copy kept in the session): a
    disabled account or a password set since sign-in (an admin's reset, a change in another tab) signs the session
    out at once; a new role narrows the menu at once. A new session (a refresh, a bookmark, a new tab) signs in
    from the browser's session cookie when it is still good (core/session_tokens.py)."""
    user: auth.User | None = st.session_state.get("user")
    if user is None:
        return _restore_from_cookie()
    now = datetime.now(UTC)
    last = st.session_state.get("last_activity", now)
    if kiosk_session() is None and auth.session_expired(last, now, get_settings().session_timeout_minutes):
        sign_out("You were signed out after a period of inactivity.")  # (a kiosk stands unattended on purpose)
        return None
    fresh = _reread(user)
    if fresh is not None:
        st.session_state["last_activity"] = now
        token = st.session_state.get("session_token")
        if token is not None and (renewed := session_tokens.renew(get_app(), token, fresh)) is not None:
            st.session_state["session_token"], text = renewed
            st.session_state["cookie_js"] = _cookie_script(text, renewed[0].expires)
    return fresh


def _restore_from_cookie() -> auth.User | None:
    # Once per browser session: the cookies Streamlit shows are those of the page load (a sign-out in this
    # session must not sign it in again from the cookie it loaded with).
    if st.session_state.get("cookie_checked"):
        return None
    st.session_state["cookie_checked"] = True
    text = st.context.cookies.get(session_tokens.COOKIE)
    if not isinstance(text, str) or not text:  # (a test harness has no browser)
        return None
    restored = session_tokens.restore(get_app(), text)
    if restored is None:
        st.session_state["cookie_js"] = _cookie_script("", 0)
        st.session_state["flash"] = "Your saved sign-in has ended. Sign in again."
        return None
    token, user = restored
    st.session_state.update(user=user, last_activity=datetime.now(UTC), session_token=token)
    return user


def _cookie_script(text: str, expires: int) -> str:
    """JavaScript that writes (or, with no text, deletes) the session cookie of this site. Not HttpOnly (Streamlit
    cannot set headers): SameSite=Strict keeps it off other sites' requests, Secure when served over HTTPS."""
    max_age = max(0, expires - now_ms() // 1000) if text else 0
    cookie = json.dumps(f"{session_tokens.COOKIE}={text}; Path=/; Max-Age={max_age}; SameSite=Strict")
    return (f"<script>document.cookie = {cookie} + (location.protocol === 'https:' ? '; Secure' : '');</script>")


def session_cookie() -> None:
    """Write what the session's cookie should be now (after a sign-in, a renewal or a sign-out); the same script
    again on the next runs is one element, kept by the browser and not run again."""
    script = st.session_state.get("cookie_js")
    if script:
        st.html(script, unsafe_allow_javascript=True)


def _reread(user: auth.User) -> auth.User | None:
    app = get_app()
    fresh = auth.revalidate(app, user)
    if fresh is None:
        sign_out("You were signed out: your account was changed. Sign in again.")
        return None
    token = st.session_state.get("session_token")
    if token is not None and not session_tokens.still_valid(app, token):
        sign_out("You were signed out (in another tab, or the sign-in is too old). Sign in again.")
        return None
    if fresh != user:
        if fresh.role != user.role:
            _stop_live_checkin()
        st.session_state["user"] = fresh
    return fresh


def allowed_now(page: str) -> auth.User | None:
    """For code that runs without the guard at the top of the page: widget callbacks (they run before the script)
    and fragment reruns. The user as they are now if they may still use `page`, else None (and a disabled or
    re-passworded session is signed out). A staff action in a callback must go through this first."""
    user: auth.User | None = st.session_state.get("user")
    if user is None:
        return None
    fresh = _reread(user)
    if fresh is None or not fresh.may_open(page) or (fresh.must_change and page != "account"):
        return None
    return fresh


def guard_fragment(page: str) -> auth.User:
    """First line of every fragment of a signed-in page: a fragment rerun (a timer, a click inside it) does not run
    the page's guard. When the user may no longer use the page, the whole app runs again (sign-in form, or the
    narrower menu)."""
    user = allowed_now(page)
    if user is None:
        st.rerun()
    return user


def sign_in(user: auth.User) -> None:
    """A new session: in this browser session, and in a cookie for a refresh or another tab."""
    token, text = session_tokens.issue(get_app(), user)
    st.session_state.update(user=user, last_activity=datetime.now(UTC), session_token=token,
                            cookie_js=_cookie_script(text, token.expires))


def kiosk_session() -> str | None:
    """The attendance session this browser is locked to as a check-in kiosk, or None (a staff session)."""
    token = st.session_state.get("session_token")
    return None if token is None else token.kiosk


def lock_kiosk(user: auth.User, session_id: str) -> None:
    """Turn this browser into a kiosk for one session: a new cookie scoped to it (a refresh stays locked), the
    staff session it replaces is ended."""
    old = st.session_state.get("session_token")
    token, text = session_tokens.issue(get_app(), user, kiosk=session_id)
    st.session_state.update(session_token=token, cookie_js=_cookie_script(text, token.expires))
    if old is not None:
        session_tokens.sign_out(get_app(), old)


def unlock_kiosk(username: str, password: str) -> None:
    """Staff unlock a kiosk with their own password (checked like a sign-in, throttled): the browser becomes their
    staff session; the kiosk's cookie is refused from now on. Raises auth.AuthError."""
    user = auth.login(get_app(), username, password, source=client_source())
    if not user.may_open("kiosk") or user.must_change:
        raise auth.AuthError("Only staff who may run a kiosk can unlock it.")
    old = st.session_state.get("session_token")
    _stop_live_checkin()
    sign_in(user)
    if old is not None:
        session_tokens.sign_out(get_app(), old)


def sign_out(message: str | None = None, *, by_user: bool = False) -> None:
    """End this browser session. `by_user` (the Sign out button): its cookie is refused everywhere from now on,
    copies included; other endings (an account change, a lapse) already make the cookie invalid."""
    _stop_live_checkin()
    token = st.session_state.get("session_token")
    if by_user and token is not None:
        session_tokens.sign_out(get_app(), token)
    for key in list(st.session_state.keys()):
        if key != "app_ran":
            del st.session_state[key]
    st.session_state["cookie_checked"] = True  # not signed in again from the cookie this page loaded with
    st.session_state["cookie_js"] = _cookie_script("", 0)
    if message:
        st.session_state["flash"] = message


def _stop_live_checkin() -> None:
    # The check-in cameras record on a video thread in the operator's name: they record nothing from now on.
    for key in ("checkin_live", "kiosk_live"):
        live = st.session_state.get(key)
        if live is not None:
            live.use_session(None)


def client_source() -> str:
    """Who is signing in, for the per-source throttle: the client's address (from the proxy's header when
    `signin_client_ip_header` is set), else this browser session (a local visitor has no address)."""
    header = get_settings().signin_client_ip_header
    address = None
    if header:
        value = st.context.headers.get(header)
        address = value.split(",")[-1].strip() if isinstance(value, str) else None
    if not address:
        address = st.context.ip_address
    address = auth.source_key(address if isinstance(address, str) else None)  # (a test harness has no client)
    if address:
        return address
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return f"session:{ctx.session_id if ctx else 'none'}"


def sign_in_form() -> None:
    """The sign-in form (the sign-in page, and any page run without a signed-in user)."""
    app_navigation_only()
    with st.form("login"):
        username = st.text_input("User name", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            user = auth.login(get_app(), username, password, source=client_source())
        except auth.AuthError as exc:
            st.error(str(exc))
        else:
            sign_in(user)
            st.rerun()


def app_navigation_only() -> None:
    """Run the app's own menu (streamlit_app.py), never Streamlit's folder-of-pages mode. Streamlit starts every
    process in that mode because a `pages/` folder exists, and leaves it only when the main script calls
    st.navigation: until then a visitor's bookmark (`/sessions`) ran that file alone, with a menu of every file in
    the folder, and signing in there left them in it. A session whose main script has not run yet (nothing of
    it can be pending then) leaves that mode and runs again: the main script opens the same address."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and not st.session_state.get("app_ran"):
        PagesManager.uses_pages_directory = False
        st.rerun()


def require(page: str) -> auth.User:
    """Stop the page unless the signed-in user's role may open it (also when opened by URL)."""
    app_navigation_only()
    before: auth.User | None = st.session_state.get("user")
    user = current_user()
    if before is not None and (user is None or (user.role, user.must_change) != (before.role, before.must_change)):
        st.rerun()  # changed after the app drew its menu in this run: draw it all again (signed out, or the new menu)
    if user is None:
        st.warning("Please sign in.")
        sign_in_form()
        st.stop()
    if not user.may_open(page):
        st.error("You do not have access to this page.")
        st.stop()
    if user.must_change and page != "account":
        st.warning("Choose a new password on the Account page first.")
        st.stop()
    return user


BAD_SCREEN_LINK = ("This screen link does not work: it has expired (links last a few days), staff revoked it, or it "
                   "was copied incompletely. Ask staff for a new one: Ceremony console → Links for the big screens "
                   "(click it, or scan its QR code on this device).")


def bad_screen_link() -> bool:
    """The address is a big-screen link (it carries a token) that public_view refused."""
    return bool(st.query_params.get("token")) and st.query_params.get("view") in ("board", "announcer")


def public_view() -> tuple[str, str] | None:
    """(view, ceremony id) when the URL is a valid read-only big-screen link (no sign-in needed)."""
    from core.ceremonies import check_view_token

    params = st.query_params
    view, ceremony_id = params.get("view"), params.get("ceremony", "")
    if view in ("board", "announcer") and check_view_token(get_app(), ceremony_id, params.get("token", "")):
        return view, ceremony_id
    return None


def require_view(page: str) -> str | None:
    """For the board and announcer: a valid link, or a signed-in role that may open the page.
    Returns the ceremony id fixed by the link, or None when a signed-in user picks one."""
    app_navigation_only()
    if (link := public_view()) is not None and link[0] == page:
        return link[1]
    if bad_screen_link():
        st.warning(BAD_SCREEN_LINK)
    require(page)
    return None

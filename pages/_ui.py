"""Shared helpers for the pages: the process-wide app handle, the signed-in user, guards."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime

import streamlit as st

from core import auth
from core.config import get_settings
from core.services import Rollcall


@st.cache_resource(show_spinner=False)
def _app_for(data_path: str) -> Rollcall:
    # One per process (and data folder): owns the DuckDB file and runs the ingestor thread.
    from core.alerts import FamilyMessages, UnknownFaceAlerts
    from core.ceremonies import CeremonyClock
    from core.faces.frames import FrameWorker
    from core.privacy import RetentionWorker, pending_erasure, resume_erasure

    app = Rollcall(get_settings())
    app.ingestor.start(app.settings.ingest_poll_seconds)
    # Frames load the face models only when one comes; the clock marks no-shows absent.
    for worker in (FrameWorker(app), CeremonyClock(app)):
        worker.start(app.settings.ingest_poll_seconds)
        app.workers.append(worker)
    retention = RetentionWorker(app)  # purges what outlived its retention period (logged), when due
    retention.start(30)
    app.workers.append(retention)
    app.workers.append(UnknownFaceAlerts(app))  # one sender and one rate limit for every camera of the process
    family = FamilyMessages(app)  # the families' Telegram channel: no thread unless switched on in settings
    family.start(app.settings.ingest_poll_seconds)
    app.workers.append(family)
    if pending_erasure(app):  # a kill interrupted an erasure: finish it, beside the pages
        threading.Thread(target=resume_erasure, args=(app,), name="rollcall-erasure", daemon=True).start()
    return app


def unknown_face_alerts(app: Rollcall):
    from core.alerts import UnknownFaceAlerts

    return next(w for w in app.workers if isinstance(w, UnknownFaceAlerts))


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


def grid(data, **kwargs):
    """st.dataframe for every table of the app: a missing value is an empty cell, not the word "None"."""
    kwargs.setdefault("placeholder", "")
    return st.dataframe(data, **kwargs)


def get_app() -> Rollcall:
    return _app_for(str(get_settings().data_path))


def current_user() -> auth.User | None:
    """The signed-in user, read again from the read model on every run (never the copy kept in the session): a
    disabled account or a password set since sign-in (an admin's reset, a change in another tab) signs the session
    out at once; a new role narrows the menu at once."""
    user: auth.User | None = st.session_state.get("user")
    if user is None:
        return None
    now = datetime.now(UTC)
    last = st.session_state.get("last_activity", now)
    if auth.session_expired(last, now, get_settings().session_timeout_minutes):
        sign_out("You were signed out after a period of inactivity.")
        return None
    fresh = _reread(user)
    if fresh is not None:
        st.session_state["last_activity"] = now
    return fresh


def _reread(user: auth.User) -> auth.User | None:
    fresh = auth.revalidate(get_app(), user)
    if fresh is None:
        sign_out("You were signed out: your account was changed. Sign in again.")
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
    st.session_state["user"] = user
    st.session_state["last_activity"] = datetime.now(UTC)


def sign_out(message: str | None = None) -> None:
    _stop_live_checkin()
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if message:
        st.session_state["flash"] = message


def _stop_live_checkin() -> None:
    # The check-in camera records on a video thread in the operator's name: it records nothing from now on.
    live = st.session_state.get("checkin_live")
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


def require(page: str) -> auth.User:
    """Stop the page unless the signed-in user's role may open it (also when opened by URL)."""
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
    if (link := public_view()) is not None and link[0] == page:
        return link[1]
    if st.query_params.get("token"):
        st.warning("This screen link is not valid: it has expired or was revoked. Ask staff for a new link, or sign "
                   "in.")
    require(page)
    return None

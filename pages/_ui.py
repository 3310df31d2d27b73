"""Shared helpers for the pages: the process-wide app handle, the signed-in user, guards."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import streamlit as st

from core import auth
from core.config import get_settings
from core.services import Rollcall


@st.cache_resource(show_spinner=False)
def _app_for(data_path: str) -> Rollcall:
    # One per process (and data folder): owns the DuckDB file and runs the ingestor thread.
    from core.alerts import UnknownFaceAlerts
    from core.ceremonies import CeremonyClock
    from core.faces.frames import FrameWorker
    from core.privacy import RetentionWorker

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


def get_app() -> Rollcall:
    return _app_for(str(get_settings().data_path))


def current_user() -> auth.User | None:
    user: auth.User | None = st.session_state.get("user")
    if user is None:
        return None
    now = datetime.now(UTC)
    last = st.session_state.get("last_activity", now)
    if auth.session_expired(last, now, get_settings().session_timeout_minutes):
        sign_out("You were signed out after a period of inactivity.")
        return None
    st.session_state["last_activity"] = now
    return user


def sign_in(user: auth.User) -> None:
    st.session_state["user"] = user
    st.session_state["last_activity"] = datetime.now(UTC)


def sign_out(message: str | None = None) -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if message:
        st.session_state["flash"] = message


def require(page: str) -> auth.User:
    """Stop the page unless the signed-in user's role may open it (also when opened by URL)."""
    user = current_user()
    if user is None:
        st.warning("Please sign in.")
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
    require(page)
    return None

"""Check-in kiosk: a tablet at the door, locked by staff to one session. The camera starts by itself; each check-in
shows "✓ Welcome, <name>" with a chime; a QR card works as the fallback; no menu; staff unlock with a password."""

import html
from datetime import UTC, datetime

import av
import streamlit as st
import streamlit_webrtc

from core import attendance, auth, sessions
from core.checkin.kiosk import WELCOME_SECONDS, chime_wav, next_welcome
from core.checkin.live import LiveCheckin
from core.checkin.liveness import instruction
from pages._ui import get_app, guard_fragment, kiosk_session, lock_kiosk, plain, require, unlock_kiosk

user = require("kiosk")
app = get_app()
locked = kiosk_session()

if locked is None:
    st.title("Check-in kiosk")
    st.write("Turns this device into a check-in point for one session: the camera starts by itself, each person "
             "is welcomed by name with a chime, a QR card works when a face is not recognised, and there is no "
             "menu. It stays locked after a refresh; staff unlock it with their password.")
    today = sessions.todays_sessions(app)
    usable = today[today["state"] != "ended"] if not today.empty else today
    if usable.empty:
        st.info("No session to run today. Start one on the Sessions page first.")
        st.stop()
    labels = {r.session_id: f"{r.class_name} · {r.starts_at:%H:%M}–{r.ends_at:%H:%M} ({r.state})"
              for r in usable.itertuples()}
    picked = st.selectbox("Session", list(labels), format_func=labels.get, key="kiosk_pick")
    if st.button("Lock this device as a kiosk", type="primary", icon=":material/lock:", key="kiosk_lock"):
        lock_kiosk(user, picked)
        st.session_state["kiosk_since"] = datetime.now(UTC)
        st.rerun()
    st.stop()

# --- locked ------------------------------------------------------------------------------------------------
st.html("<style>[data-testid='stSidebar'],[data-testid='stSidebarCollapsedControl'],[data-testid='stToolbar']"
        "{display:none}</style>")
session = sessions.get_session(app, locked)
since = st.session_state.setdefault("kiosk_since", datetime.now(UTC))
live: LiveCheckin = st.session_state.get("kiosk_live")
if live is None or live.app is not app:
    with st.spinner("Starting the camera…"):
        live = LiveCheckin.as_configured(app, user.username, alerts=app.alerts)
    st.session_state["kiosk_live"] = live
live.use_session(locked)
st.markdown(f"### {plain(session['class_name'])} · check-in")


def on_frame(frame: av.VideoFrame) -> av.VideoFrame:
    # streamlit-webrtc's worker thread: no st.* here.
    return av.VideoFrame.from_ndarray(live.process(frame.to_ndarray(format="bgr24")), format="bgr24")


video, side = st.columns([3, 2])
with video:
    streamlit_webrtc.webrtc_streamer(
        key="kiosk", mode=streamlit_webrtc.WebRtcMode.SENDRECV, video_frame_callback=on_frame,
        rtc_configuration={"iceServers": app.settings.webrtc_ice_servers}, desired_playing_state=True,
        media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False}, async_processing=True)


@st.fragment(run_every=0.5)
def welcome_panel() -> None:
    guard_fragment("kiosk")
    live.refresh(min_interval=1.0)
    shown = st.session_state.get("kiosk_welcome")
    new = next_welcome(attendance.latest_checkins(app, locked, limit=1), since, shown[0].key if shown else None)
    now = datetime.now(UTC)
    if new is not None:
        serial = st.session_state.get("kiosk_welcomes", 0) + 1
        st.session_state["kiosk_welcomes"] = serial
        shown = st.session_state["kiosk_welcome"] = (new, now, serial)
    if shown is not None and (now - shown[1]).total_seconds() < WELCOME_SECONDS:
        welcome, at, serial = shown
        late = " · late" if welcome.status == "late" else ""
        st.markdown(f"<div data-testid='rc-welcome' data-student='{html.escape(welcome.student_id)}' "
                    f"style='background:#16a34a;color:white;border-radius:16px;padding:28px 24px;"
                    f"font-size:2.6rem;font-weight:700;line-height:1.2'>✓ Welcome, {html.escape(welcome.name)}"
                    f"<div style='font-size:1.1rem;font-weight:400;opacity:.9'>{at.astimezone(app.settings.tz):%H:%M}"
                    f"{late}</div></div>",
                    unsafe_allow_html=True)
        # The chime, kept on screen with its welcome: the same element on every timed rerun plays once; the next
        # welcome's container has another key, so its chime is a new element that plays again.
        with st.container(key=f"kiosk_chime_{serial}", height=1, border=False):
            st.audio(chime_wav(), format="audio/wav", autoplay=True)
    else:
        st.markdown("<div data-testid='rc-kiosk-ready' style='font-size:2rem;font-weight:600'>"
                    f"{instruction(session.get('liveness'))}</div>", unsafe_allow_html=True)
    st.markdown("**Not recognised?** Hold your QR card (from the People page or your ceremony card) up to the "
                "camera, about a hand's width away.")


with side:
    welcome_panel()

def unlock_now() -> None:
    """A callback, not the button's return value: the welcome panel's timed reruns must not swallow the click."""
    who, password = st.session_state.get("kiosk_unlock_user", ""), st.session_state.get("kiosk_unlock_password", "")
    st.session_state["kiosk_unlock_password"] = ""
    try:
        unlock_kiosk(who, password)
    except auth.AuthError as exc:
        st.session_state["kiosk_unlock_error"] = str(exc)
    else:
        for key in ("kiosk_live", "kiosk_welcome", "kiosk_since", "kiosk_unlock_user"):
            st.session_state.pop(key, None)
        st.session_state["flash"] = "Kiosk unlocked."


with st.expander("Staff"), st.form("kiosk_unlock"):
    st.text_input("User name", key="kiosk_unlock_user")
    st.text_input("Password", type="password", key="kiosk_unlock_password")
    st.form_submit_button("Unlock", on_click=unlock_now)
    if error := st.session_state.pop("kiosk_unlock_error", None):
        st.error(error)

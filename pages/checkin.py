"""Check-in by face: the browser webcam through WebRTC, recognised frame by frame in this process."""

import html
import time

import av
import streamlit as st
import streamlit_webrtc

from core import attendance, sessions
from core.checkin.live import LiveCheckin
from pages._ui import get_app, require, unknown_face_alerts

LIVE_REFRESH_SECONDS = 0.5

user = require("checkin")
app = get_app()
st.title("Check-in")

today = sessions.todays_sessions(app)
labels = {None: "No session — recognise only, record nothing"}
labels |= {r.session_id: f"{r.class_name} · {r.starts_at:%H:%M}–{r.ends_at:%H:%M} · {r.state}"
           for r in today.itertuples()}
active = [r.session_id for r in today.itertuples() if r.state == "active"]
options = list(labels)
session_id = st.selectbox("Session", options, format_func=labels.get,
                          index=options.index(active[0]) if active else 0, key="checkin_session")

with st.spinner("Loading the face models…"):
    live: LiveCheckin = st.session_state.get("checkin_live")
    if live is None or live.app is not app:
        live = LiveCheckin(app, user.username, alerts=unknown_face_alerts(app),
                           k=app.settings.checkin_votes_k, n=app.settings.checkin_votes_n)
        st.session_state["checkin_live"] = live
    live.use_session(session_id)

session = live.session
if session is not None and session["status"] != "active" and session["status"] != "ended":
    st.warning("This session has not been started: faces are recognised but nobody is recorded. "
               "Start it on the Sessions page.")
    st.page_link("pages/sessions.py", label="Sessions", icon=":material/event:")


def on_frame(frame: av.VideoFrame) -> av.VideoFrame:
    # Runs on streamlit-webrtc's worker thread: no st.* here.
    return av.VideoFrame.from_ndarray(live.process(frame.to_ndarray(format="bgr24")), format="bgr24")


video, side = st.columns([3, 2])
with video:
    ctx = streamlit_webrtc.webrtc_streamer(
        key="checkin", mode=streamlit_webrtc.WebRtcMode.SENDRECV, video_frame_callback=on_frame,
        rtc_configuration={"iceServers": app.settings.webrtc_ice_servers},
        media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False},
        async_processing=True)
    if session is not None and session["status"] == "active" and st.button(
            "End attendance", icon=":material/stop_circle:", help="Close the session now: nobody more is recorded."):
        st.session_state["confirm_end"] = True
    if st.session_state.get("confirm_end"):
        st.warning("End attendance for this session? Nobody more will be recorded.")
        yes, no = st.columns(2)
        if yes.button("Yes, end it", type="primary"):
            sessions.end_session(app, session_id, user.username)
            st.session_state.pop("confirm_end")
            st.rerun()
        if no.button("Cancel"):
            st.session_state.pop("confirm_end")
            st.rerun()


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
def live_panel() -> None:
    live.refresh()
    health, _, session = live.snapshot()
    receiving = live.last_frame_age() < 2.0
    state = "live" if receiving else ("connecting" if ctx.state.playing else "camera off")
    st.markdown(f"<div data-testid='rc-health'>:material/speed: **{health.fps:.0f}** fps · "
                f"**{health.inference_ms:.0f}** ms a frame · {state}</div>", unsafe_allow_html=True)
    cols = st.columns(3)
    cols[0].metric("In view now", health.faces_now)
    cols[1].metric("Peak", health.peak)
    cols[2].metric("People this session", len(health.known_seen) + health.unknown_tracks,
                   help=f"{len(health.known_seen)} recognised, {health.unknown_tracks} unknown")
    if session is None:
        st.caption("Pick a session to record attendance.")
        return
    recorded = attendance.latest_checkins(app, session["session_id"])
    st.markdown(f"**Latest check-ins** · {session['class_name']}")
    if recorded.empty:
        st.caption("Nobody yet.")
    for row in recorded.itertuples():
        crop = attendance.evidence_crop(app, row.student_id, row.crop_token)
        left, right = st.columns([1, 4], vertical_alignment="center")
        if crop:
            left.image(crop, width=56)
        score = "" if row.score is None or row.score != row.score else f" · {row.score:.2f}"  # NaN: no score
        right.markdown(f"<div data-testid='rc-checkin' data-student='{row.student_id}'>"
                       f"<b>{html.escape(str(row.name))}</b> · {row.status} · "
                       f"{row.checked_at:%H:%M:%S} · {row.method}{score}</div>", unsafe_allow_html=True)


with side:
    live_panel()
st.caption(f"Recognition: {app.settings.face_model}, threshold {app.settings.match_threshold:.2f}, "
           f"{live.tracker.k} of {live.tracker.n} frames must agree. Updated {time.strftime('%H:%M:%S')}.")

"""Check-in by face: the browser webcam through WebRTC, recognised frame by frame in this process."""

import html

import av
import streamlit as st
import streamlit_webrtc

from core import attendance, sessions
from core.checkin.live import LiveCheckin
from pages._ui import allowed_now, get_app, guard_fragment, plain, require

LIVE_REFRESH_SECONDS = 0.3  # the latest check-ins list: a record shows within ≈ 0.5 s of the first face

user = require("checkin")
app = get_app()
st.title("Check-in")

today = sessions.todays_sessions(app)
labels = {None: "No session — recognise only, record nothing"}
labels |= {r.session_id: f"{r.class_name} · {r.starts_at:%H:%M}–{r.ends_at:%H:%M}" for r in today.itertuples()}
states = dict(zip(today["session_id"], today["state"], strict=True))
active = [sid for sid, state in states.items() if state == "active"]
options = list(labels)
session_id = st.selectbox("Session", options, format_func=labels.get, key="checkin_session",
                          index=options.index(active[0]) if active else 0)
if session_id is not None:
    state = states.get(session_id, "ended")
    colour = {"active": "green", "ended": "red"}.get(state, "orange")
    st.badge(state.upper(), color=colour)

with st.spinner("Loading the face models…"):
    live: LiveCheckin = st.session_state.get("checkin_live")
    if live is None or live.app is not app:
        live = LiveCheckin.as_configured(app, user.username, alerts=app.alerts)
        st.session_state["checkin_live"] = live
    live.use_session(session_id)

session = live.session
if session is not None and session["status"] != "active" and session["status"] != "ended":
    st.warning("This session has not been started: faces are recognised but nobody is recorded. "
               "Start it on the Sessions page.")
    st.page_link("pages/sessions.py", label="Sessions", icon=":material/event:")


def end_attendance_button(app, session_id: str, actor: str) -> None:
    """End attendance, after a confirmation. Callbacks, not return values: a click must not be lost to the
    live panel's timed reruns."""
    def end_now() -> None:
        st.session_state.pop("confirm_end", None)
        if allowed_now("checkin") is None:  # a callback runs before the page's guard
            return
        sessions.end_session(app, session_id, actor)
        live.refresh()  # the video's banner says ENDED from its next frame

    def ask(value: bool) -> None:
        st.session_state["confirm_end"] = value

    if not st.session_state.get("confirm_end"):
        st.button("End attendance", icon=":material/stop_circle:", on_click=ask, args=(True,),
                  help="Close the session now: nobody more is recorded.")
        return
    st.warning("End attendance for this session? Nobody more will be recorded.")
    yes, no = st.columns(2)
    yes.button("Yes, end it", type="primary", on_click=end_now)
    no.button("Cancel", on_click=ask, args=(False,))


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
    if session is not None and session["status"] == "active":
        end_attendance_button(app, session_id, user.username)


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
def live_panel() -> None:
    guard_fragment("checkin")
    live.refresh(min_interval=1.0)  # the session ended elsewhere, new enrollments: once a second is enough
    health, _, session = live.snapshot()
    receiving = live.last_frame_age() < 2.0
    state = "live" if receiving else ("connecting" if ctx.state.playing else "camera off")
    scale = "" if health.detect_scale == 1 else f" (faces found at {health.detect_scale:.0%} size)"
    st.markdown(f"<div data-testid='rc-health'><b>{health.fps:.0f}</b> fps · <b>{health.inference_ms:.0f}</b> ms a "
                f"frame{scale} · camera <b>{state}</b></div>", unsafe_allow_html=True)
    load = live.load_status()
    if load.overloaded:
        st.warning(load.message, icon=":material/speed:")
    cols = st.columns(3)
    cols[0].metric("In view now", health.faces_now)
    cols[1].metric("Peak", health.peak)
    cols[2].metric("This session", len(health.known_seen) + health.unknown_tracks,
                   help=f"{len(health.known_seen)} recognised, {health.unknown_tracks} unknown")
    if session is None:
        st.caption("Pick a session to record attendance.")
        return
    recorded = attendance.latest_checkins(app, session["session_id"])
    st.markdown(f"**Latest check-ins** · {plain(session['class_name'])}")
    if recorded.empty:
        st.caption("Nobody yet.")
    for row in recorded.itertuples():
        crop = attendance.evidence_crop(app, row.student_id, row.crop_token)
        left, right = st.columns([1, 4], vertical_alignment="center")
        if crop:
            left.image(crop, width=56)
        score = "" if row.score is None or row.score != row.score else f" · {row.score:.2f}"  # NaN: no score
        right.markdown(f"<div data-testid='rc-checkin' data-student='{html.escape(str(row.student_id))}'>"
                       f"<b>{html.escape(str(row.name))}</b> · {row.status} · "
                       f"{row.checked_at:%H:%M:%S} · {row.method}{score}</div>", unsafe_allow_html=True)


with side:
    live_panel()
per_person = " (higher for a person others resemble)" if app.settings.person_thresholds else ""
st.caption(f"Recognition: {app.settings.face_model}, threshold {app.settings.match_threshold:.2f}{per_person}; "
           f"{live.tracker.k} of {live.tracker.n} recognitions of a face must agree before it counts.")

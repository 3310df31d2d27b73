from datetime import datetime, time, timedelta

import streamlit as st

from core import sessions
from core.sessions import CORRECTION_STATUSES, LIVENESS, WEEKDAYS, SessionError
from pages._ui import get_app, grid, guard_fragment, plain, require, tabs_kept

user = require("sessions")
app = get_app()
now = datetime.now(app.settings.tz)
today = now.date()

STATES = {"upcoming": "Upcoming", "open": "Open, not started", "active": "Taking attendance", "ended": "Ended"}
STATUSES = {"present": "Present", "late": "Late", "absent": "Absent", "excused": "Excused", "not yet": "Not yet"}
NEW_CLASS = "(new class)"
PICKER_LIMIT = 3000  # with more people than this, members are pasted as ids instead of picked from a list
LIVE_REFRESH_SECONDS = 5


def attempt(action, *args, success: str, then=None, **kwargs) -> None:
    """Run a change: a refusal is shown where the form is; a success reruns the page and is shown at the top."""
    try:
        action(*args, **kwargs)
    except SessionError as exc:
        st.error(str(exc))
        return
    st.session_state["sessions_flash"] = success
    if then is not None:
        then()
    st.rerun()


def hhmm(at) -> str:
    return f"{at:%H:%M}"


st.title("Sessions")
if flash := st.session_state.pop("sessions_flash", None):
    st.success(flash)
today_tab, classes_tab, schedules_tab = st.tabs(["Today", "Classes", "Schedules"], **tabs_kept("sessions_tab"))


# --- Today -----------------------------------------------------------------------------------

def setup_form(session: dict, state: str) -> None:
    sid = session["session_id"]
    length = int((session["ends_at"] - session["starts_at"]) / timedelta(minutes=1))
    with st.form(f"setup_{sid}"):
        st.markdown("**Check-in setup**")
        c1, c2 = st.columns(2)
        liveness = c1.radio("Liveness check", list(LIVENESS), format_func=LIVENESS.get, horizontal=True,
                            index=list(LIVENESS).index(session["liveness"] if session["liveness"] in LIVENESS
                                                       else "off"), key=f"liveness_{sid}",
                            help="The person turns their head, or blinks, when the video asks — so a photo held "
                                 "up to the camera cannot check in. Either: whichever the person does (for people "
                                 "who cannot turn their head, or whose eyes the camera cannot see well)")
        late = c2.number_input("Late after (minutes from the start)", min_value=0, max_value=length, step=1,
                               value=min(int(session["late_after_min"]), length), key=f"late_{sid}")
        once = c1.toggle("Once per day", value=bool(session["once_per_day"]), key=f"once_{sid}",
                         help="Someone already checked in at another session today is not recorded again")
        qr_face = c2.toggle("QR check-in needs a matching face", value=bool(session["qr_needs_face"]),
                            key=f"qr_face_{sid}")
        label = "Save setup" if state == "active" else "Start attendance"
        if st.form_submit_button(label, type="primary", key="session_start"):
            attempt(sessions.start_session, app, sid, user.username, liveness=liveness, once_per_day=once,
                    qr_needs_face=qr_face, late_after_min=int(late),
                    success="Setup saved." if state == "active" else "Attendance started.")


def end_controls(session: dict) -> None:
    sid = session["session_id"]
    if st.session_state.get("confirm_end") != sid:
        if st.button("End attendance", key="end_attendance", icon=":material/stop_circle:",
                     help="Close the session now: nobody more is checked in"):
            st.session_state["confirm_end"] = sid
            st.rerun()
        return
    st.warning(f"End attendance for {plain(session['class_name'])} now? Nobody more will be checked in; "
               "records can still be corrected.")
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Yes, end attendance", type="primary", key="end_confirm"):
        st.session_state.pop("confirm_end", None)
        attempt(sessions.end_session, app, sid, user.username, success="Attendance ended.")
    if c2.button("Cancel", key="end_cancel"):
        st.session_state.pop("confirm_end", None)
        st.rerun()


def roster_view(sid: str, live: bool) -> None:
    @st.fragment(run_every=LIVE_REFRESH_SECONDS if live else None)
    def table() -> None:
        guard_fragment("sessions")
        if live:
            app.fresh()  # fold check-ins just made, instead of waiting for the background poll
        roster = sessions.session_roster(app, sid)
        counts = roster["status"].value_counts()
        cols = st.columns(5)
        cols[0].metric("Expected", int(roster["member"].sum()))
        for col, status in zip(cols[1:], ("present", "late", "excused"), strict=False):
            col.metric(STATUSES[status], int(counts.get(status, 0)))
        missing = "absent" if "absent" in counts and "not yet" not in counts else "not yet"
        cols[4].metric(STATUSES[missing], int(counts.get(missing, 0)))
        shown = roster.assign(status=roster["status"].map(STATUSES)).fillna(
            {"method": "", "corrected_by": "", "correction_reason": ""})
        grid(shown[["name", "student_id", "status", "checked_at", "method", "score", "corrected_by",
                    "correction_reason"]], hide_index=True, width="stretch", key=f"roster_{sid}",
             column_config={"name": "Name", "student_id": "Student id", "status": "Status",
                            "checked_at": st.column_config.DatetimeColumn("Checked in", format="HH:mm:ss"),
                            "method": "How", "score": st.column_config.NumberColumn("Score", format="%.2f"),
                            "corrected_by": "Corrected by", "correction_reason": "Why"})

    table()


def correction_form(sid: str) -> None:
    roster = sessions.session_roster(app, sid)
    names = dict(zip(roster["student_id"], roster["name"].fillna(""), strict=True))
    with st.expander("Correct a record"), st.form(f"correct_{sid}", clear_on_submit=True):
        who = st.selectbox("Person", list(roster["student_id"]), format_func=lambda s: f"{names[s]} ({s})",
                           key=f"correct_who_{sid}")
        status = st.selectbox("New status", CORRECTION_STATUSES, format_func=STATUSES.get,
                              key=f"correct_status_{sid}")
        reason = st.text_input("Reason (required, kept in the audit trail)", key=f"correct_reason_{sid}")
        if st.form_submit_button("Save correction", key="correct_save"):
            attempt(sessions.correct_record, app, sid, who or "", status, reason, user.username,
                    success=f"Record of {names.get(who, who)} set to {STATUSES[status].lower()}.")


with today_tab:
    day = sessions.todays_sessions(app, today)
    st.caption(f"{today:%A %d %B %Y}")
    if day.empty:
        st.info("No sessions today. Create a class on the **Classes** tab, give it a schedule on the **Schedules** "
                "tab, then press **Create sessions** there.")
    else:
        grid(day.assign(state=day["state"].map(STATES))[
                 ["class_name", "starts_at", "ends_at", "state", "present", "late", "expected"]],
             hide_index=True, width="stretch", column_config={
                 "class_name": "Class", "starts_at": st.column_config.DatetimeColumn("Starts", format="HH:mm"),
                 "ends_at": st.column_config.DatetimeColumn("Ends", format="HH:mm"), "state": "State",
                 "present": "Present", "late": "Late", "expected": "Expected"})
        ids, states = list(day["session_id"]), list(day["state"])
        default = next((states.index(s) for s in ("active", "open", "upcoming") if s in states), 0)
        labels = {r["session_id"]: f"{hhmm(r['starts_at'])}–{hhmm(r['ends_at'])} · {r['class_name']} "
                                   f"({STATES[r['state']].lower()})" for r in day.to_dict("records")}
        picked = st.selectbox("Session", ids, index=default, format_func=labels.get, key="session_pick")
        session = sessions.get_session(app, picked)
        state = sessions.session_state(session)
        if state == "active":
            st.info(f"Taking attendance since {hhmm(session['started_at'])} (started by {session['started_by']}) · "
                    f"liveness {LIVENESS.get(session['liveness'], session['liveness']).lower()} · "
                    f"late after {session['late_after_min']} min"
                    + (" · once per day" if session["once_per_day"] else "")
                    + (" · QR needs a face" if session["qr_needs_face"] else ""))
        elif state == "ended":
            st.caption("This session has ended. Records can still be corrected below.")
        elif state == "upcoming":
            st.caption(f"Opens at {hhmm(session['starts_at'])}. You can start it now; check-ins count from then.")
        if state != "ended":
            setup_form(session, state)
        if state == "active":
            end_controls(session)
        roster_view(picked, live=state == "active")
        correction_form(picked)


# --- Classes ---------------------------------------------------------------------------------

with classes_tab:
    classes = sessions.list_classes(app)
    if classes.empty:
        st.info("No class yet. Create one below: an id, a name, and its members from the roster.")
    else:
        grid(classes, hide_index=True, width="stretch", column_config={
            "class_id": "Class id", "name": "Name", "department": "Department", "teacher": "Teacher",
            "members": "Members", "schedules": "Schedules"})
    if pending := st.session_state.pop("class_pick_next", None):
        st.session_state["class_pick"] = pending
    class_names = dict(zip(classes["class_id"], classes["name"], strict=True))
    choice = st.selectbox("Create or edit", [NEW_CLASS, *classes["class_id"]], key="class_pick",
                          format_func=lambda c: c if c == NEW_CLASS else f"{c} · {class_names[c]}")
    existing = None if choice == NEW_CLASS else sessions.get_class(app, choice)
    current = [] if existing is None else list(sessions.class_members(app, choice)["student_id"])
    people = sessions.people_choices(app)
    with st.form(f"class_form_{choice}"):
        c1, c2 = st.columns(2)
        class_id = c1.text_input("Class id", value=choice if existing else "", placeholder="CPE401",
                                 disabled=existing is not None, key=f"class_id_{choice}")
        name = c2.text_input("Name", value=(existing or {}).get("name") or "", placeholder="Computer Vision",
                             key=f"class_name_{choice}")
        department = c1.text_input("Department", value=(existing or {}).get("department") or "",
                                   key=f"class_dept_{choice}")
        teacher = c2.text_input("Teacher", value=(existing or {}).get("teacher") or "", key=f"class_teacher_{choice}")
        if len(people) <= PICKER_LIMIT:
            labels = {r["student_id"]: f"{r['name']} ({r['student_id']})" for r in people.to_dict("records")}
            picked_members = st.multiselect("Members", list(labels), default=[m for m in current if m in labels],
                                            format_func=labels.get, key=f"class_members_{choice}",
                                            placeholder="Type a name or student id")
            pasted = st.text_area("Also add by student id (one a line, or separated by commas)",
                                  key=f"class_paste_{choice}")
        else:
            picked_members = []
            pasted = st.text_area("Members: student ids, one a line (or separated by commas)",
                                  value="\n".join(current), key=f"class_paste_{choice}")
        if st.form_submit_button("Save class", type="primary", key="class_save"):
            saved_id = choice if existing else class_id
            attempt(sessions.upsert_class, app, user.username, saved_id, name, department=department,
                    teacher=teacher, members=[*picked_members, *sessions.parse_ids(pasted)],
                    success=f"Class {saved_id.strip()} saved.",
                    then=lambda: st.session_state.update(class_pick_next=saved_id.strip()))
    if existing is not None:
        members = sessions.class_members(app, choice)
        st.markdown(f"**Members of {plain(existing['name'])}** ({len(members)})")
        if members.empty:
            st.caption("Nobody yet: pick members above and save.")
        else:
            grid(members, hide_index=True, width="stretch", column_config={
                "student_id": "Student id", "name": "Name", "name_en": "Name (English)", "department": "Department"})


# --- Schedules -------------------------------------------------------------------------------

with schedules_tab:
    classes = sessions.list_classes(app)
    if classes.empty:
        st.info("Create a class on the **Classes** tab first; then give it a schedule here.")
    else:
        class_names = dict(zip(classes["class_id"], classes["name"], strict=True))
        with st.form("schedule_add", clear_on_submit=False):
            st.markdown("**Add a schedule**")
            c1, c2, c3 = st.columns(3)
            for_class = c1.selectbox("Class", list(class_names), format_func=lambda c: f"{c} · {class_names[c]}",
                                     key="schedule_class")
            kind = c2.radio("Repeats", ["weekly", "dated"], horizontal=True, key="schedule_kind",
                            format_func={"weekly": "Every week", "dated": "Once, on a date"}.get)
            weekday = c3.selectbox("Weekday (every week)", range(7), format_func=WEEKDAYS.__getitem__,
                                   index=today.weekday(), key="schedule_weekday")
            on_date = c3.date_input("Date (once)", today, key="schedule_date")
            start = c1.time_input("Starts", time(9, 0), step=timedelta(minutes=5), key="schedule_start")
            end = c2.time_input("Ends", time(12, 0), step=timedelta(minutes=5), key="schedule_end")
            late = c3.number_input("Late after (minutes from the start)", min_value=0, step=1,
                                   value=app.settings.default_late_after_min, key="schedule_late")
            room = c1.text_input("Room", key="schedule_room")
            if st.form_submit_button("Add schedule", type="primary", key="schedule_save"):
                when = {"weekday": weekday} if kind == "weekly" else {"on_date": on_date}
                attempt(sessions.add_schedule, app, user.username, for_class, start_time=start, end_time=end,
                        late_after_min=int(late), room=room, **when,
                        success="Schedule saved. Press **Create sessions** below to put it on the calendar.")

    schedules = sessions.list_schedules(app)
    if schedules.empty:
        st.info("No schedule yet. Add a weekly or dated one above.")
    else:
        grid(schedules[["class_id", "class_name", "when", "start_time", "end_time", "late_after_min", "room"]],
             hide_index=True, width="stretch", column_config={
                 "class_id": "Class id", "class_name": "Class", "when": "When",
                 "start_time": st.column_config.TimeColumn("Starts", format="HH:mm"),
                 "end_time": st.column_config.TimeColumn("Ends", format="HH:mm"),
                 "late_after_min": "Late after (min)", "room": "Room"})
        c1, c2 = st.columns([3, 1])
        gone = c1.selectbox("Remove a schedule", list(schedules["schedule_id"]), key="schedule_remove_pick",
                            label_visibility="collapsed")
        if c2.button("Remove schedule", key="schedule_remove",
                     help="Sessions already created from it stay on the calendar"):
            attempt(sessions.remove_schedule, app, user.username, gone, success=f"Schedule {gone} removed.")

        st.markdown("**Create sessions**")
        st.caption("Puts every schedule's sessions of these days on the calendar. Safe to run again: sessions "
                   "already there are kept, and started or ended ones are never changed.")
        c1, c2 = st.columns([3, 1])
        span = c1.date_input("Days", (today, today + timedelta(days=6)), key="generate_range")
        first, last = (span if isinstance(span, tuple) and len(span) == 2 else (span[0], span[0]) if span
                       else (today, today))
        if c2.button("Create sessions", type="primary", key="generate"):
            try:
                made = sessions.generate_sessions(app, first, last, user.username)
            except SessionError as exc:
                st.error(str(exc))
            else:
                st.session_state["sessions_flash"] = (
                    f"{len(made)} session(s) created or updated from {first:%d %b} to {last:%d %b}." if made
                    else "Every session of these days is already on the calendar.")
                st.rerun()

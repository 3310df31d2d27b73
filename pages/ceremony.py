import streamlit as st

from core import ceremonies, ceremony_tools
from core.ceremony import LABELS, STATUSES, CeremonyError
from core.eventlog import now_ms
from core.qr import qr_png
from core.timeutil import local_today
from pages._ceremony_ui import LIVE_REFRESH_SECONDS, counts_row, pick_ceremony, status_chip
from pages._ui import allowed_now, get_app, grid, guard_fragment, plain, require, screen_links

user = require("ceremony")
app = get_app()
st.title("Ceremony console")

with st.expander("New ceremony from the roster", expanded=ceremonies.listing(app).empty), st.form("new_ceremony"):
    c1, c2 = st.columns(2)
    name = c1.text_input("Name", placeholder="พิธีพระราชทานปริญญาบัตร 2569")
    on_date = c2.date_input("Date", local_today(app.settings.tz))
    venue = c1.text_input("Venue")
    timeout = c2.number_input("Absent after (minutes without reaching the stage)", 0.5, 60.0, 5.0, 0.5)
    order = c1.selectbox("Order", list(ceremonies.ORDERS), format_func=ceremonies.ORDERS.get)
    department = c2.text_input("Only this department (empty: everyone)")
    if st.form_submit_button("Create", type="primary"):
        try:
            new_id = ceremonies.create(app, user.username, name=name, on_date=on_date, venue=venue,
                                       absent_timeout_min=timeout, order=order, department=department or None)
        except CeremonyError as exc:
            st.error(str(exc))
        else:
            st.session_state["console_ceremony"] = new_id
            st.rerun()

ceremony_id = pick_ceremony(app, None, key="console_ceremony")
if ceremony_id is None:
    st.stop()
info = ceremonies.info(app, ceremony_id)
rehearsal_of = ceremony_tools.rehearsal_of(ceremony_id)


def do(action, *args, **kwargs) -> None:
    """Run a staff action; a refusal is shown, not raised. A callback runs before the page's guard: the user is
    read again here, so a disabled or demoted operator's click does nothing."""
    if allowed_now("ceremony") is None:
        return
    try:
        action(*args, **kwargs)
    except CeremonyError as exc:
        st.session_state["ceremony_error"] = str(exc)


def rehearse(real_id: str) -> None:
    if allowed_now("ceremony") is None:
        return
    try:
        st.session_state["console_ceremony"] = ceremony_tools.start_rehearsal(app, user.username, real_id)
    except CeremonyError as exc:
        st.session_state["ceremony_error"] = str(exc)


def end_rehearsal(rehearsal_id: str) -> None:
    if allowed_now("ceremony") is not None:
        st.session_state["console_ceremony"] = ceremony_tools.end_rehearsal(app, user.username, rehearsal_id)


if rehearsal_of:
    st.warning("**Rehearsal** — the same graduates in the same order, but nothing here counts: it is left out of "
               "statistics, and ending it resets it. The real ceremony is not touched.", icon="🎭")
    st.button("End the rehearsal (reset it)", key="end_rehearsal", on_click=end_rehearsal, args=(ceremony_id,))

if app.settings.family_messages_enabled:
    st.caption("Families' Telegram channel: on — " + ("nothing is posted during a rehearsal." if rehearsal_of else
               "each call and arrival on stage is posted there with the graduate's name."))

top = st.columns([3, 1, 1])
top[0].markdown(f"**{plain(info['name'])}** · {info['on_date']:%Y-%m-%d} · {plain(info['venue'] or '')} · "
                f"absent after {float(info['absent_timeout_min']):g} min", unsafe_allow_html=False)
if info["status"] == "planned":
    top[1].button("Start ceremony", type="primary", key="start",
                  on_click=do, args=(ceremony_tools.start, app, user.username, ceremony_id))
elif info["status"] == "running" and not rehearsal_of:  # a rehearsal ends with its reset (above)
    top[1].button("End ceremony", key="end",
                  on_click=do, args=(ceremonies.act, app, user.username, ceremony_id, "ceremony.ended"))
top[2].toggle("Auto-advance", value=bool(info["auto_advance"]), key="auto_advance",
              help="Call the next graduate as soon as the current one has received",
              on_change=lambda: do(ceremonies.act, app, user.username, ceremony_id, "ceremony.settings",
                                   auto_advance=st.session_state["auto_advance"]))

with st.expander("Links for the big screens (read-only, no sign-in)"):
    screen_links(ceremony_id)
    st.caption(f"Open a link on the screen's device, or scan its QR code there. Anyone with a link can watch; nobody "
               f"can act through it. They work for {app.settings.view_link_days} days, until you revoke them.")
    if st.button("Revoke these links", key="revoke_links", help="Every link given out so far stops working."):
        ceremonies.revoke_links(app, user.username, ceremony_id, "revoked on the console")
        st.rerun()
    cards_key = f"cards_pdf_{ceremony_id}"
    if st.button("Prepare the cards PDF (name, order, department, QR)", key="cards_prepare"):
        with st.spinner("Drawing the cards…"):
            st.session_state[cards_key] = ceremonies.cards(app, ceremony_id)
    if pdf := st.session_state.get(cards_key):
        st.download_button("Download the cards (PDF, A4)", pdf, file_name=f"cards-{ceremony_id}.pdf",
                           mime="application/pdf", key="cards_download")

with st.expander("Printouts and rehearsal"):
    sheets = {"lineup": "Line-up sheet (order, id, names, a box to tick; a heading per department)",
              "reader": "Reader's sheet (names in large type with their pronunciation notes)"}
    sheet_kind = st.radio("Sheet", list(sheets), format_func=sheets.get, key="sheet_kind")
    sheet_key = f"sheet_pdf_{ceremony_id}_{sheet_kind}"
    if st.button("Prepare the sheet (PDF, A4)", key="sheet_prepare"):
        with st.spinner("Setting the names…"):
            st.session_state[sheet_key] = ceremony_tools.sheet_pdf(app, ceremony_id, sheet_kind)
    if pdf := st.session_state.get(sheet_key):
        st.download_button(f"Download the {sheet_kind} sheet", pdf, file_name=f"{sheet_kind}-{ceremony_id}.pdf",
                           mime="application/pdf", key="sheet_download")
    if not rehearsal_of:
        st.caption("A rehearsal runs this ceremony's graduates in this order — calls, beams, the absent timer, the "
                   "screens — without touching its record. It cannot start while a ceremony is running; starting "
                   "the ceremony ends it.")
        st.button("Start a rehearsal", key="start_rehearsal", on_click=rehearse, args=(ceremony_id,))


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
def console() -> None:
    guard_fragment("ceremony")
    if error := st.session_state.pop("ceremony_error", None):
        st.error(error)
    app.fresh()  # fold what devices just sent (bounded: a device backlog never stalls the page)
    state = ceremonies.load(app, ceremony_id)
    board = ceremonies.board(app, ceremony_id).set_index("student_id")
    counts_row(ceremonies.progress(state), app.settings.tz)
    running = state.status == "running"

    left, right = st.columns([3, 2])
    with left:
        current = state.current()
        if current is None:
            st.info("Nobody called yet. Press **Call next** (or the N key).")
        else:
            row = board.loc[current.student_id]
            st.markdown(f"#### #{current.order_no} · {status_chip(current.status)}", unsafe_allow_html=True)
            st.markdown(f"## {plain(row['name'])}")
            st.caption(" · ".join(plain(x) for x in (row["name_en"], row["department"], current.student_id) if x))
        b = st.columns(4)
        up = state.next_up()  # the click names who it calls: a double click cannot call two people
        b[0].button("Call next", type="primary", key="call_next", shortcut="n", disabled=not (running and up),
                    on_click=do, args=(ceremonies.call_next, app, user.username, ceremony_id,
                                       up.student_id if up else None))
        b[1].button("Undo last call", key="undo", shortcut="u", disabled=not running,
                    on_click=do, args=(ceremonies.undo_last_call, app, user.username, ceremony_id))
        queue = state.queue()
        b[2].button("Skip next", key="skip", shortcut="s", disabled=not (running and queue),
                    on_click=do, args=(ceremonies.act, app, user.username, ceremony_id, "ceremony.skipped"),
                    kwargs={"student_id": queue[0].student_id if queue else ""})
        waiting = state.line("waiting")
        b[3].button("Mark absent", key="absent", shortcut="a", disabled=not (running and waiting),
                    help="The earliest waiting graduate did not come",
                    on_click=do, args=(ceremonies.act, app, user.username, ceremony_id, "ceremony.status_set"),
                    kwargs={"student_id": waiting[0].student_id if waiting else "", "status": "absent",
                            "reason": "marked absent at the console"})
        st.caption("Keys: N call next · U undo the last call · S skip the next · A the first waiting is absent")
        line = [*state.line("on_stage"), *waiting]
        st.markdown(f"**Called and waiting** ({len(waiting)} waiting)")
        if line:
            now = now_ms()
            called = board.loc[[e.student_id for e in line], ["order_no", "name"]]
            called.insert(0, "call", [e.call_no for e in line])
            called["status"] = [LABELS[e.status] for e in line]
            called["waited"] = [f"{(now - (e.called_at_ms or now)) // 1000} s" for e in line]
            grid(called, width="stretch", hide_index=True,
                 column_config={"call": "Call", "order_no": "#", "name": "Name", "status": "Status",
                                "waited": "Since the call"})
        else:
            st.caption("Nobody is called and waiting.")
        st.markdown("**Next in line**")
        nxt = board.loc[[e.student_id for e in queue[:10]], ["order_no", "name", "name_en", "department"]]
        grid(nxt, width="stretch", hide_index=True,
             column_config={"order_no": "#", "name": "Name", "name_en": "English", "department": "Department"})
    with right:
        if current is not None:
            st.image(qr_png(ceremonies.qr_text(app, ceremony_id, current.student_id)), width=220,
                     caption="Card QR of the graduate being called")
        late = [e for e in state.entries.values() if e.status in ("absent", "skipped")]
        if late:
            st.selectbox("Late arrival / skipped", [e.student_id for e in late], key="requeue_pick",
                                format_func=lambda s: f"#{state.entries[s].order_no} {board.loc[s, 'name']} "
                                                      f"({LABELS[state.entries[s].status]})")
            st.button("Re-queue (called next)", key="requeue", disabled=not running,
                      on_click=lambda: do(ceremonies.act, app, user.username, ceremony_id, "ceremony.requeued",
                                          student_id=st.session_state["requeue_pick"]))
        flags = ceremonies.flags(app, ceremony_id, 5)
        if not flags.empty:
            st.markdown("**Flags**")
            grid(flags, hide_index=True, width="stretch", column_config={
                "at_time": st.column_config.DatetimeColumn("When", format="HH:mm:ss"), "kind": "What",
                "detail": "Detail"})


console()

with st.expander("Line-up check: scan a graduate's card"):
    st.caption("Take a picture of the graduate holding their card. The card's QR names them; "
               "with the face check on, their face must match the card too.")
    require_face = st.toggle("The face must match the card", value=False, key="lineup_face")
    shot = st.camera_input("Card and face", key=f"lineup_{st.session_state.get('lineups', 0)}")
    if shot is not None:
        from core.faces.images import ImageError
        from core.faces.weights import WeightsError

        try:
            result = ceremonies.check_lineup(app, user.username, ceremony_id, shot.getvalue(),
                                             require_face=require_face)
        except (CeremonyError, ImageError, WeightsError) as exc:
            st.error(str(exc))
        else:
            detail = f" · face {result.face_match}" + (f" ({result.score:.2f})" if result.score is not None else "")
            (st.success if result.ok else st.error)(f"{result.name} ({result.student_id}){detail}")
        if st.button("Next graduate", key="lineup_next"):
            st.session_state["lineups"] = st.session_state.get("lineups", 0) + 1
            st.rerun()

with st.expander("Change a status by hand"):
    board_all = ceremonies.board(app, ceremony_id).set_index("student_id")
    with st.form("override"):
        who = st.selectbox("Graduate", list(board_all.index),
                           format_func=lambda s: f"#{int(board_all.loc[s, 'order_no'])} {board_all.loc[s, 'name']}")
        status = st.selectbox("New status", STATUSES, format_func=LABELS.get)
        reason = st.text_input("Reason (required, kept in the audit trail)")
        if st.form_submit_button("Change status"):
            do(ceremonies.act, app, user.username, ceremony_id, "ceremony.status_set", student_id=who,
               status=status, reason=reason)
            if error := st.session_state.pop("ceremony_error", None):
                st.error(error)
            else:
                st.success("Status changed.")

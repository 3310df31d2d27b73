import streamlit as st

from core import people, privacy
from pages._ui import get_app, grid, require, tabs_kept

user = require("privacy")
app = get_app()
settings = app.settings

st.title("Privacy")
if done := st.session_state.pop("privacy_done", None):
    st.success(done)
policy_tab, consent_tab, retention_tab, erase_tab = st.tabs(["Policy", "Consent register", "Retention",
                                                             "Erase a person"], **tabs_kept("privacy_tab"))

with policy_tab:
    st.markdown(
        "Rollcall stores what it needs to take attendance and run ceremonies, and no more. Faces are biometric "
        "data: nothing of a face is processed without the person's **written consent** on record, and each "
        "person's face data is encrypted with a key of their own — revoking consent or erasing the person "
        "destroys that key, so every copy becomes unreadable. Expired data is removed automatically every "
        f"{settings.retention_check_minutes:g} minutes, and each removal is kept in the audit trail.")
    grid(privacy.policy(settings), hide_index=True, width="stretch")
    st.markdown(
        "**Your rights.** Anyone can ask to see what is stored about them, to withdraw consent (their face data "
        "is removed at once; attendance is then taken by other means), or to be erased. Ask the administrator in "
        "writing. Erasure removes the person's roster details, consent, faces, check-in images, camera images "
        "that showed them and their account; attendance "
        + ("stays, under a pseudonym that no one can link back to them (counts and rates do not change)."
           if settings.erasure_keeps_attendance else "is removed as well.")
        + " The erasure itself is recorded with the pseudonym, who did it, when and why.")
    if settings.alerts_enabled:
        st.warning("Telegram alerts are on: photos of faces nobody recognised are sent to a Telegram chat and "
                   "stored by Telegram, outside this retention and erasure.")
    else:
        st.caption("Telegram alerts are off: no face image leaves this machine.")
    if settings.family_messages_enabled:
        st.warning("The families' Telegram channel is on: graduates' names, order and department are posted there "
                   "as they are called and reach the stage, and kept by Telegram, outside this retention and erasure.")
    else:
        st.caption("The families' Telegram channel is off: no graduate's name is posted anywhere.")

with consent_tab:
    c1, c2 = st.columns([3, 1])
    text = c1.text_input("Search", placeholder="Student id or name", key="consent_search")
    status = c2.selectbox("Status", ["all", "in force", "revoked"], key="consent_status")
    register = privacy.consent_register(app, text, status)
    st.caption(f"{len(register)} consent(s)")
    grid(register, hide_index=True, width="stretch", column_config={
        "student_id": "Student id", "name": "Name", "name_en": "Name (English)", "status": "Status",
        "method": "How given", "purpose": "For", "recorded_by": "Recorded by",
        "recorded_at": st.column_config.DatetimeColumn("Recorded", format="YYYY-MM-DD HH:mm"),
        "revoked_at": st.column_config.DatetimeColumn("Revoked", format="YYYY-MM-DD HH:mm"),
        "revoked_by": "Revoked by", "revoke_reason": "Why revoked", "photos": "Face photos"})
    in_force = privacy.consent_register(app, status="in force")
    st.subheader("Revoke a consent")
    st.caption("Removes the person's face templates at once and destroys their key (templates, check-in face "
               "images and kept photos become unreadable). Faces can be enrolled again only after consent is "
               "recorded again.")
    labels = {r.student_id: f"{r.student_id} · {r.name or ''}" for r in in_force.itertuples()}
    target = st.selectbox("Person", list(labels), format_func=labels.get, index=None, key="revoke_who",
                          placeholder="Pick a person with consent in force")
    reason = st.text_input("Why (kept in the audit trail)", key="revoke_reason")
    # Typed text reaches the app only when its box loses focus: a button disabled until then would swallow the
    # click that moves the focus. It is enabled, and says what is missing.
    if st.button("Revoke consent", disabled=not target, key="revoke_go"):
        try:
            if not reason.strip():
                raise privacy.PrivacyError("Write why the consent is revoked: the audit trail keeps it.")
            privacy.revoke_consent(app, target, user.username, reason)
        except privacy.PrivacyError as exc:
            st.error(str(exc))
        else:
            st.session_state["privacy_done"] = f"Consent of {target} revoked; their face data is gone."
            st.rerun()

with retention_tab:
    grid([{"Data": label, "Kept for": kept} for label, kept in privacy.retention_summary(settings)],
         hide_index=True, width="stretch")
    st.caption("Set in the settings (`ROLLCALL_RETENTION_*`; 0 keeps until erasure). Camera images are removed "
               "once the frame worker has looked at them; attendance goes by the session's start.")
    if st.button("Purge now", key="purge_go"):
        result = privacy.purge_expired(app, actor=user.username)
        if result.total:
            st.success("Purged: " + ", ".join(f"{n} {kind}" for kind, n in result.counts.items() if n) + ".")
        else:
            st.info("Nothing had expired.")
    st.subheader("Last purges")
    grid(privacy.last_purges(app), hide_index=True, width="stretch", column_config={
        "at_time": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"), "actor": "By",
        "detail": "Removed"})

with erase_tab:
    st.markdown(
        "Removes **everything** about one person: roster details, consent, face templates and kept photos, the "
        "face images of their check-ins, camera images that showed them, RFID card, pronunciation note and "
        "their student account — from the event log and the database files, not only from view. What stays "
        "carries a random pseudonym. This cannot be undone.")
    everyone = people.search(app, "", limit=1_000_000)
    names = {r.student_id: f"{r.student_id} · {r.name}" for r in everyone.itertuples()}
    who = st.selectbox("Person", list(names), format_func=names.get, index=None, key="erase_who",
                       placeholder="Pick the person to erase")
    typed = st.text_input("Type their student id to confirm", key="erase_confirm")
    why = st.text_input("Why (e.g. their written request and its date; do not write their name)",
                        key="erase_reason")
    keep = st.toggle("Keep their attendance under a pseudonym (counts and rates stay as they are)",
                     value=settings.erasure_keeps_attendance, key="erase_keep")
    if who and typed.strip() and typed.strip() != who:
        st.warning("The id you typed is not the chosen person's.")
    # Enabled once a person is picked (see Revoke consent): the checks run on the click.
    if st.button("Erase this person", type="primary", disabled=not who, key="erase_go"):
        with st.spinner("Erasing: rewriting the event log and rebuilding the database…"):
            try:
                if typed.strip() != who:
                    raise privacy.PrivacyError("Type the chosen person's student id to confirm.")
                if not why.strip():
                    raise privacy.PrivacyError("Write why they are erased (their request and its date).")
                report = privacy.erase_person(app, who, user.username, why, keep_attendance=keep)
            except privacy.PrivacyError as exc:
                st.error(str(exc))
            else:
                for key in ("erase_who", "erase_confirm", "erase_reason"):
                    st.session_state.pop(key, None)
                st.session_state["privacy_done"] = (
                    f"Erased. {report.events_changed} events rewritten in {report.seconds:.1f} s; what stays "
                    f"is now under {report.pseudonym}.")
                st.rerun()

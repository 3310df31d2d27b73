import pandas as pd
import streamlit as st

from core import ceremonies, people
from core.qr import qr_png
from core.roster import RosterFileError, parse_roster
from pages._ui import get_app, grid, keyed, plain, require, tabs_kept

user = require("people")
app = get_app()

LABELS = {"student_id": "Student id", "name": "Name", "name_en": "Name (English)", "guardian_name": "Guardian",
          "department": "Department / class", "phone": "Phone", "email": "E-mail",
          "ceremony_order": "Ceremony order", "rfid_tag": "RFID card", "pronunciation": "Pronunciation note",
          "photo_count": "Photos"}



def show_verdicts(rows: list[dict]) -> None:
    """One line per photo: enrolled or refused, and why."""
    grid(pd.DataFrame(rows), hide_index=True, width="stretch")


def verdict_row(verdict, student_id: str | None = None) -> dict:
    row = {"Student id": student_id} if student_id else {}
    quality = verdict.quality or {}
    row.update({"Photo": verdict.name, "Result": "enrolled" if verdict.accepted else "refused",
                "Why / warnings": verdict.reason or "; ".join(verdict.warnings),
                "Face px": quality.get("face_px"), "Sharpness": quality.get("sharpness"),
                "Brightness": quality.get("brightness"), "Head turn °": quality.get("yaw_degrees")})
    return row


ENROLL_GUIDE = """**Good enrollment photos** — each is checked on its own (the table below shows why one is refused):
- **3 to 5 photos** of the face alone, on different days if you can: one photo works, more photos recognise better.
- **Even light from the front**: no window or lamp behind the person, no strong shadow; not too dark or too bright
  (brightness {min_b:.0f}-{max_b:.0f}).
- **Angles**: most looking straight at the camera, one or two turned a little (at most {yaw:.0f}°); no sunglasses,
  mask or cap hiding the eyes.
- **Sharp and close**: the face at least {px} px wide, in focus (no motion blur).
- A photo that looks like someone else, or unlike this person's other photos, waits for you to compare and confirm."""


def lookalike_panel(faces, sid: str, pending: dict) -> None:
    """Each held photo beside the face it was compared with; enrolled only when staff confirm with a reason."""
    st.error("Nothing was enrolled: a photo looks like someone else, or unlike this person's other photos. "
             "Compare the faces.")
    for verdict in pending["verdicts"]:
        if not verdict.held:
            continue
        new, theirs = st.columns(2)
        if verdict.face_crop:
            new.image(verdict.face_crop, caption=f"New photo: {verdict.name}", width=220)
        else:
            new.write(f"New photo: {verdict.name}")
        if verdict.looks_like is not None:
            other = verdict.looks_like
            label = f"{other.name or '?'} ({other.student_id}) · similarity {other.score:.2f}"
            picture, missing = faces.face_picture(other.student_id), f"Looks like {label}. No photo of them is kept"
        else:
            label = f"This person's closest photo · similarity {verdict.unlike_own:.2f}"
            picture = verdict.unlike_photo or faces.face_picture(sid)
            missing = f"Unlike this person's enrolled photos ({label.split(' · ')[1]}). No photo of theirs is kept"
        if picture:
            theirs.image(picture, caption=label, width=220)
        else:
            theirs.info(f"{missing} to compare with.")
        if verdict.looks_like is not None and verdict.unlike_own is not None:
            theirs.caption(f"It is also unlike this person's own photos (similarity {verdict.unlike_own:.2f}).")
    reason = st.text_input("Why is this the right person? (kept in the audit trail)", key=f"lookalike_reason_{sid}",
                           placeholder="e.g. identical twins, checked their student cards")
    yes, no = st.columns(2)
    if yes.button("Confirm and enroll", type="primary", key=f"lookalike_confirm_{sid}"):
        if not reason.strip():
            st.error("Say why this face belongs to this person before enrolling it.")
            return
        verdicts = faces.enroll(sid, pending["photos"], user.username, confirm_lookalike_reason=reason)
        st.session_state.pop(f"lookalike_{sid}", None)
        st.session_state["last_verdicts"] = [verdict_row(v) for v in verdicts]
        st.rerun()
    if no.button("Cancel: do not enroll", key=f"lookalike_cancel_{sid}"):
        st.session_state.pop(f"lookalike_{sid}", None)
        st.rerun()


def face_section(person: dict) -> None:
    from core.faces.images import ImageError
    from core.faces.service import EnrollmentError
    from core.faces.weights import WeightsError
    from core.privacy.consent import ConsentRequiredError

    sid = person["student_id"]
    try:
        faces = app.faces
    except WeightsError as exc:
        st.error(str(exc))
        return
    consent = faces.consent_of(sid)
    if consent is None:
        record = faces.consent_record(sid)
        if record is not None:
            st.warning(f"Consent was revoked on {record['revoked_at']:%Y-%m-%d}: photos cannot be enrolled until "
                       "consent is recorded again.")
        else:
            st.warning("No consent on record: photos cannot be enrolled until consent is recorded.")
        with st.form(f"consent_{sid}"):
            method = st.text_input("How was consent given?", placeholder="e.g. signed form 2026-11, online form")
            if st.form_submit_button("Record consent"):
                try:
                    faces.record_consent(sid, method, user.username)
                except (ConsentRequiredError, EnrollmentError) as exc:
                    st.error(str(exc))
                else:
                    st.rerun()
        return
    st.caption(f"Consent: {consent['method']} · recorded {consent['recorded_at']:%Y-%m-%d} "
               f"by {consent['recorded_by'] or '-'}")
    s = app.settings
    st.markdown(ENROLL_GUIDE.format(min_b=s.min_brightness, max_b=s.max_brightness, yaw=s.max_yaw_degrees,
                                    px=s.min_face_px))
    uploads = st.file_uploader("Photos (several: different days, light and angles help)", type=["jpg", "jpeg", "png"],
                               accept_multiple_files=True, key=f"photos_{sid}_{st.session_state.get('enrolled', 0)}")
    shot = st.camera_input("Or take a photo", key=f"camera_{sid}_{st.session_state.get('enrolled', 0)}")
    photos = [(u.name, u.getvalue()) for u in uploads or []] + ([("camera.jpg", shot.getvalue())] if shot else [])
    if photos and st.button(f"Enroll {len(photos)} photo(s)", type="primary", key=f"enroll_{sid}"):
        bar = st.progress(0.0, text="Checking photos…")
        try:
            verdicts = faces.enroll(sid, photos, user.username,
                                    progress=lambda n, total, name: bar.progress(n / total,
                                                                                 text=f"{name} ({n}/{total})"))
        except (ConsentRequiredError, EnrollmentError, ImageError) as exc:
            st.error(str(exc))
        else:
            if any(v.held for v in verdicts):  # held until staff confirm: keep the upload
                st.session_state[f"lookalike_{sid}"] = {"photos": photos, "verdicts": verdicts}
            st.session_state["enrolled"] = st.session_state.get("enrolled", 0) + 1
            st.session_state["last_verdicts"] = [verdict_row(v) for v in verdicts]
            st.rerun()
    if pending := st.session_state.get(f"lookalike_{sid}"):
        lookalike_panel(faces, sid, pending)
    if rows := st.session_state.pop("last_verdicts", None):
        enrolled = sum(r["Result"] == "enrolled" for r in rows)
        (st.success if enrolled else st.error)(f"{enrolled} of {len(rows)} photo(s) enrolled.")
        show_verdicts(rows)
    templates = faces.templates_of(sid)
    if not templates.empty:
        if (threshold := faces.threshold_of(sid)) is not None:
            st.markdown(f"**Match threshold {threshold.threshold:.2f}** — "
                        + plain(threshold.evidence(faces.label)))
        grid(templates[["source", "model", "detector", "quality", "created_at"]], hide_index=True,
             width="stretch", column_config={
                 "source": "Photo", "model": "Model", "detector": "Detector", "quality": "Quality",
                 "created_at": st.column_config.DatetimeColumn("Enrolled", format="YYYY-MM-DD HH:mm")})
        if st.button("Remove all face templates", key=f"unenroll_{sid}"):
            st.session_state[f"unenroll_ask_{sid}"] = True
        if st.session_state.get(f"unenroll_ask_{sid}"):
            st.warning(f"Remove all {len(templates)} face template(s) of {person['name']} ({sid})? They will not be "
                       "recognised until photos are enrolled again.")
            yes, no = st.columns(2)
            if yes.button("Yes, remove them all", type="primary", key=f"unenroll_yes_{sid}"):
                faces.remove_templates(sid, user.username, reason="removed on the People page")
                st.session_state.pop(f"unenroll_ask_{sid}", None)
                st.rerun()
            if no.button("Cancel", key=f"unenroll_no_{sid}"):
                st.session_state.pop(f"unenroll_ask_{sid}", None)
                st.rerun()


st.title("People")
find_tab, import_tab, photos_tab, identify_tab = st.tabs(["Find and edit", "Import roster", "Enroll photos (.zip)",
                                                         "Identify a photo"], **tabs_kept("people_tab"))

with find_tab:
    query = st.text_input("Search", placeholder="Name in Thai or English, student id, department, phone…",
                          key="people_search")
    found = people.search(app, query)
    st.caption(f"{len(found)} of {people.count(app)} people")
    table = grid(found, hide_index=True, width="stretch", on_select="rerun",
                 selection_mode="single-row", key=keyed("people_table", query),
                 column_config=dict(LABELS))
    picked = table.selection.rows if table and table.selection else []
    if picked:
        person = people.get(app, found.iloc[picked[0]]["student_id"])
        st.subheader(plain(person["name"] + (f" · {person['name_en']}" if person.get("name_en") else "")))
        st.caption(f"Student id {person['student_id']} · {person['photo_count']} enrolled photo(s) · "
                   f"updated {person['updated_at']:%Y-%m-%d %H:%M}")
        with st.form(f"edit_{person['student_id']}"):
            c1, c2 = st.columns(2)
            edits = {
                "name": c1.text_input(LABELS["name"], person["name"] or ""),
                "name_en": c2.text_input(LABELS["name_en"], person["name_en"] or ""),
                "guardian_name": c1.text_input(LABELS["guardian_name"], person["guardian_name"] or ""),
                "department": c2.text_input(LABELS["department"], person["department"] or ""),
                "phone": c1.text_input(LABELS["phone"], person["phone"] or ""),
                "email": c2.text_input(LABELS["email"], person["email"] or ""),
                "ceremony_order": c1.number_input(LABELS["ceremony_order"], min_value=0, step=1,
                                                  value=int(person["ceremony_order"] or 0),
                                                  help="0 = no place in the ceremony order"),
            }
            edits["rfid_tag"] = c2.text_input(LABELS["rfid_tag"], person.get("rfid_tag") or "",
                                              help="The UID of the card the stage reader scans, e.g. 04A1B2C3")
            edits["pronunciation"] = c1.text_input(LABELS["pronunciation"], person.get("pronunciation") or "",
                                                   help="How the announcer should say the name, e.g. กิด-ติ-พัด")
            reason = st.text_input("Reason for the change (optional, kept in the audit trail)")
            save = st.form_submit_button("Save", type="primary")
        if save:
            edits["ceremony_order"] = int(edits["ceremony_order"]) or None
            changed = {k: v for k, v in edits.items() if (v or None) != (person[k] or None)}
            try:
                people.update(app, user.username, person["student_id"], changed, reason=reason or None)
            except people.PersonError as exc:
                st.error(str(exc))
            else:
                st.session_state["flash"] = f"Saved {person['name']}." if changed else "Nothing changed."
                st.rerun()
        with st.expander(f"Face enrollment ({person['photo_count']} photo(s))", expanded=not person["photo_count"]):
            face_section(person)
        with st.expander("Check-in QR card"):
            st.caption("Shown to the check-in camera, the card checks its holder in (with the session's setup, only "
                       "together with their face). The code is signed: it cannot be made for someone else.")
            qr_col, pdf_col = st.columns([1, 3])
            qr_col.image(qr_png(ceremonies.qr_text(app, ceremonies.CHECKIN_CARD, person["student_id"])), width=140)
            pdf_col.download_button("Download the printable card (PDF)",
                                    lambda: ceremonies.checkin_card_pdf(app, person),  # made on click
                                    file_name=f"card-{person['student_id']}.pdf", mime="application/pdf",
                                    key=f"card_{person['student_id']}")
        with st.expander("Delete this person"):
            st.write("Removes the person, their class memberships, attendance and ceremony place. "
                     "The deletion is kept in the audit trail. To remove every trace, the event log included "
                     "(a request to be erased), an admin uses **Erase a person** on the Privacy page.")
            why = st.text_input("Reason", key=f"delete_reason_{person['student_id']}")
            sure = st.checkbox(f"Yes, delete {person['name']}", key=f"delete_sure_{person['student_id']}")
            if st.button("Delete", disabled=not sure, key=f"delete_{person['student_id']}"):
                people.delete(app, user.username, person["student_id"], reason=why or None)
                st.session_state["flash"] = f"Deleted {person['name']}."
                st.rerun()

with import_tab:
    st.write("Upload a CSV or Excel (.xlsx) file with one person per row. Thai or English headers work "
             "(e.g. *รหัสนักศึกษา / student id*, *ชื่อ-นามสกุล / name*). Nothing is written until you confirm, "
             "and a file with any error is not imported at all. Re-importing updates people by student id.")
    upload_key = f"roster_upload_{st.session_state.get('roster_uploads', 0)}"
    uploaded = st.file_uploader("Roster file", type=["csv", "txt", "xlsx"], key=upload_key)
    if uploaded is not None:
        try:
            preview = parse_roster(uploaded.getvalue(), uploaded.name, max_bytes=app.settings.max_roster_bytes,
                                   max_rows=app.settings.max_roster_rows)
        except RosterFileError as exc:
            st.error(plain(f"{uploaded.name}: {exc}"))
        else:
            for note in preview.notes:
                st.info(plain(note))  # notes quote the file's own headers
            summary = people.preview_summary(app, preview)
            c1, c2, c3 = st.columns(3)
            c1.metric("New people", summary["new"])
            c2.metric("Updated", summary["updated"])
            c3.metric("Rows with errors", summary["errors"])
            if preview.ignored_columns:
                st.warning("Not imported (no field of a person matches them): "
                           + ", ".join(f"'{plain(c)}'" for c in preview.ignored_columns))
            if preview.errors:
                st.error("Fix these rows and upload the file again; nothing has been imported.")
                grid(pd.DataFrame([{"Row": e.line, "Column": LABELS.get(e.column, e.column),
                                    "Problem": e.message} for e in preview.errors]),
                     hide_index=True, width="stretch")
            grid(pd.DataFrame([{"row": r.line, **r.as_payload()} for r in preview.rows]),
                 hide_index=True, width="stretch", column_config={"row": "Row", **LABELS})
            if st.button(f"Import {len(preview.rows)} rows", type="primary", disabled=not preview.ok,
                         key="roster_commit"):
                try:
                    count = people.commit_import(app, preview, user.username)
                except people.PersonError as exc:
                    st.error(str(exc))
                else:
                    st.session_state["roster_uploads"] = st.session_state.get("roster_uploads", 0) + 1
                    st.session_state["flash"] = f"Imported {count} rows from {uploaded.name}."
                    st.rerun()

with photos_tab:
    st.write("Upload a .zip of photos named by student id — `6501001.jpg`, `6501001_2.jpg`, or a folder "
             "`6501001/` per person. Each photo is checked and gets its own verdict; people without consent "
             "on record are refused unless you record consent for this batch below.")
    bundle = st.file_uploader("Photos (.zip)", type=["zip"], key=f"zip_{st.session_state.get('zips', 0)}")
    consent_method = st.text_input("Record consent for everyone in this file as (leave empty if already recorded)",
                                   placeholder="e.g. signed forms collected 2026-11-20")
    if bundle is not None and st.button("Enroll photos", type="primary", key="zip_enroll"):
        from core.faces.bulk import ZipError, enroll_zip
        from core.faces.weights import WeightsError

        bar = st.progress(0.0, text="Checking photos…")
        try:
            result = enroll_zip(app.faces, bundle.getvalue(), user.username, consent_method=consent_method or None,
                                progress=lambda n, total, name: bar.progress(n / total, text=f"{name} ({n}/{total})"))
        except (ZipError, WeightsError) as exc:
            st.error(plain(f"{bundle.name}: {exc}"))
        else:
            st.session_state["zips"] = st.session_state.get("zips", 0) + 1
            bar.progress(1.0, text="Done")
            (st.success if result.enrolled else st.error)(
                f"{result.enrolled} of {len(result.verdicts)} photo(s) enrolled.")
            if result.errors:
                st.error(plain("Could not be read, so these people were not enrolled (fix the file and upload the "
                               ".zip again): " + "; ".join(f"{name}: {why}" for name, why in result.errors[:20])))
            if result.skipped:
                st.warning(plain("Not photos, or no student id in the name: " + ", ".join(result.skipped[:20])))
            show_verdicts([verdict_row(v, sid) for sid, v in result.verdicts])

with identify_tab:
    st.write("Find every face in a photo and who it is. A wrong match can be marked **Not this person**: "
             "the matcher will not make that match again.")
    probe = st.file_uploader("Photo", type=["jpg", "jpeg", "png"], key=f"identify_{st.session_state.get('probes', 0)}")
    if probe is not None:
        import cv2

        from core.faces.images import ImageError, decode_image
        from core.faces.weights import WeightsError

        try:
            image = decode_image(probe.getvalue(), probe.name, max_bytes=app.settings.max_image_bytes,
                                 max_pixels=app.settings.max_image_pixels)
            found = app.faces.match_faces(image)
        except (ImageError, WeightsError) as exc:
            st.error(str(exc))
            found = None
        if found == []:
            st.info("No face found.")
        for n, (face, match) in enumerate(found or [], 1):
            x, y, w, h = face.box
            crop = image[max(y, 0):y + h, max(x, 0):x + w]
            left, right = st.columns([1, 4])
            left.image(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), width=110)
            if match.known:
                who = people.get(app, match.student_id) or {}
                right.markdown(f"**{who.get('name', match.student_id)}** ({match.student_id}) · "
                               f"score {match.score:.2f}, ahead of the next person by {match.runner_up_gap:.2f}")
                if right.button("Not this person", key=f"reject_{n}"):
                    app.faces.not_this_person(match.student_id, face.embedding, user.username,
                                              reason="marked on the Identify page")
                    st.session_state["flash"] = f"Noted: that face is not {who.get('name', match.student_id)}."
                    st.session_state["probes"] = st.session_state.get("probes", 0) + 1
                    st.rerun()
            else:
                right.markdown(f"**Unknown** · best score {match.score:.2f} (threshold {match.threshold:.2f})")

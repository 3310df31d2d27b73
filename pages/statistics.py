from datetime import timedelta

import pandas as pd
import streamlit as st

from core import analytics, attendance, ceremonies, charts, exports, overview, people
from core.timeutil import local_today
from pages._ui import get_app, grid, keyed, require, tabs_kept

user = require("statistics")
app = get_app()
db = app.db
today = local_today(app.settings.tz)

st.title("Statistics")
c1, c2, c3, c4 = st.columns([2, 2, 2, 2])
period = c1.date_input("Period", (today - timedelta(days=30), today), key="stats_period")
start, end = period if isinstance(period, tuple) and len(period) == 2 else (today, today)
class_table = overview.classes(app)
class_names = dict(zip(class_table["class_id"], class_table["name"], strict=True))
chosen_classes = c2.multiselect("Classes", list(class_names), format_func=class_names.get, key="stats_classes")
chosen_departments = c3.multiselect("Departments", people.departments(app), key="stats_departments")
sessions = attendance.sessions_between(app, start, end)
session_labels = {r.session_id: f"{r.class_name} · {r.starts_at:%Y-%m-%d %H:%M}" for r in sessions.itertuples()}
chosen_session = c4.selectbox("Session", [None, *session_labels],
                              format_func=lambda s: "All sessions" if s is None else session_labels[s],
                              key="stats_session")
filters = analytics.Filters(start=start, end=end, class_ids=tuple(chosen_classes),
                            departments=tuple(chosen_departments), session_id=chosen_session)

kpi_help = {"Late rate": "Late arrivals among those who came"}
for col, (label, value) in zip(st.columns(6), exports.kpi_rows(analytics.kpis(db, filters)), strict=True):
    col.metric(label, value, help=kpi_help.get(label))

attendance_tab, people_tab, ceremony_tab, export_tab = st.tabs(["Attendance", "People", "Ceremonies", "Export"],
                                                                  **tabs_kept("statistics_tab"))

# The export is drawn first (it sits in the last tab): a change of format replaces what it shows at the start of the
# run, not after every chart has been drawn again (the old format's Download button stayed on screen till then).
with export_tab:
    st.write("The detail rows of the current filters: one line per check-in (optionally one per absence too).")
    with_absent = st.toggle("Include absences", value=False, key="export_absent")
    fmt = st.radio("Format", ["CSV", "Excel", "PDF report"], horizontal=True, key="export_format")
    wanted = (fmt, with_absent, filters)  # what a prepared file must match to be offered
    if st.button("Prepare the export", type="primary", key="export_prepare"):
        st.session_state.pop("export_ready", None)
        bar = st.progress(0.0, text="Reading…")
        chunks, done = [], 0
        for n, chunk in enumerate(analytics.attendance_rows(db, filters, include_absent=with_absent), 1):
            chunks.append(chunk)
            done += len(chunk)
            bar.progress(0.9 * (1 - 0.5 ** n), text=f"{done:,} rows read")  # the total is known only at the end
        stamp = f"{start:%Y%m%d}-{end:%Y%m%d}"
        try:
            if fmt == "CSV":
                data, mime, name = b"".join(exports.csv_stream(chunks)), "text/csv", f"attendance-{stamp}.csv"
            elif fmt == "Excel":
                data = exports.excel_bytes(chunks, "Attendance")
                mime, name = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", \
                    f"attendance-{stamp}.xlsx"
            else:
                bar.progress(0.96, text="Drawing the charts…")
                table = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
                data = exports.attendance_report_pdf(app, filters, table, class_names=class_names)
                mime, name = "application/pdf", f"attendance-report-{stamp}.pdf"
        except ValueError as exc:
            st.error(str(exc))
        else:
            bar.progress(1.0, text=f"{done:,} rows ready")
            st.session_state["export_ready"] = (wanted, name, data, mime)
    ready = st.session_state.get("export_ready")
    if ready is not None and ready[0] == wanted:  # kept across reruns, gone once the format or filters change
        _, name, data, mime = ready
        st.download_button(f"Download {name}", data, file_name=name, mime=mime, key=f"export_download_{fmt}",
                           on_click="ignore")
    elif ready is not None:
        st.session_state.pop("export_ready", None)



with attendance_tab:
    figs = [fig for _, fig in charts.attendance_figures(db, filters, app.settings.match_threshold)]
    for left, right in zip(figs[::2], figs[1::2], strict=True):
        a, b = st.columns(2)
        a.plotly_chart(left, width="stretch")
        b.plotly_chart(right, width="stretch")

with people_tab:
    summary = analytics.people_summary(db, filters)
    st.caption("Pick a person to see their history.")
    picked = grid(summary, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                  key=keyed("stats_people", filters), column_config={
                      "student_id": "Student id", "name": "Name", "department": "Department",
                      "expected": "Sessions", "present": "Present", "late": "Late", "absent": "Absent",
                      "rate": st.column_config.ProgressColumn("Rate", format="percent", min_value=0,
                                                              max_value=1)})
    rows = picked.selection.rows if picked and picked.selection else []
    if rows:
        person = summary.iloc[rows[0]]
        history = analytics.person_history(db, filters, person["student_id"])
        st.plotly_chart(charts.person_history(history, person["name"]), width="stretch")
        grid(history, hide_index=True, width="stretch")

with ceremony_tab:
    listing = ceremonies.listing(app, rehearsals=False)
    if listing.empty:
        st.info("No ceremony yet.")
    else:
        labels = {r.ceremony_id: f"{r.name} · {r.on_date:%Y-%m-%d}" for r in listing.itertuples()}
        cid = st.selectbox("Ceremony", list(labels), format_func=labels.get, key="stats_ceremony")
        a, b = st.columns(2)
        a.plotly_chart(charts.graduates_per_minute(analytics.graduates_per_minute(db, cid)), width="stretch")
        b.plotly_chart(charts.no_show_by_department(analytics.no_show_by_department(db, cid)), width="stretch")
        a.plotly_chart(charts.seconds_histogram(analytics.time_on_stage(db, cid), "Time on stage",
                                                "Seconds from front beam to back beam"), width="stretch")
        b.plotly_chart(charts.seconds_histogram(analytics.call_to_stage(db, cid), "From call to stage",
                                                "Seconds from the call to the front beam"), width="stretch")
        st.plotly_chart(charts.ceremony_timeline(analytics.ceremony_timeline(db, cid)), width="stretch")

import streamlit as st

from core import attendance, overview
from core.timeutil import local_today
from pages._ui import get_app, grid, require

user = require("home")
app = get_app()
today = local_today(app.settings.tz)

st.title("Overview")
figures = overview.counts(app)
cols = st.columns(4)
cols[0].metric("People", figures["people"])
cols[1].metric("Classes", figures["classes"])
cols[2].metric("Ceremonies", figures["ceremonies"])
cols[3].metric("Active users", figures["users"])

st.subheader(f"Today's sessions · {today:%A %d %B %Y}")
sessions = attendance.sessions_between(app, today, today)
if sessions.empty:
    st.info("No sessions today.")
else:
    grid(
        sessions[["class_name", "starts_at", "ends_at", "state", "attended", "expected", "late"]],
        hide_index=True, width="stretch",
        column_config={
            "class_name": "Class", "starts_at": st.column_config.DatetimeColumn("Starts", format="HH:mm"),
            "ends_at": st.column_config.DatetimeColumn("Ends", format="HH:mm"), "state": "State",
            "attended": "Checked in", "expected": "Expected", "late": "Late",
        },
    )

st.subheader("Ceremonies")
ceremonies = overview.ceremonies(app)
if ceremonies.empty:
    st.info("No ceremony yet.")
else:
    grid(ceremonies, hide_index=True, width="stretch",
         column_config={"name": "Ceremony", "on_date": st.column_config.DateColumn("Date"), "venue": "Venue",
                        "graduates": "Graduates", "received": "Received"})

if user.may_open("audit"):
    st.subheader("Recent activity")
    grid(overview.recent_activity(app), hide_index=True, width="stretch",
         column_config={"at_time": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
                        "actor": "Who", "action": "What", "target": "On", "reason": "Why"})

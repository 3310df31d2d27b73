from datetime import timedelta

import streamlit as st

from core import audit
from core.timeutil import local_today
from pages._ui import get_app, grid, require

require("audit")
app = get_app()
today = local_today(app.settings.tz)

st.title("Audit trail")
st.caption("Every change by a person, a device or the system, from the event log. Nothing here can be edited.")
c1, c2, c3 = st.columns([2, 2, 3])
period = c1.date_input("Period", (today - timedelta(days=30), today))
action = c2.selectbox("Action", ["(all)", *audit.actions(app)], format_func=audit.describe)
text = c3.text_input("Search who / on what / why")
start, end = (period if isinstance(period, tuple) and len(period) == 2 else (today, today))
rows = audit.search(app, start=start, end=end, action=None if action == "(all)" else action, text=text)
st.caption(f"{len(rows)} entries")
grid(rows, hide_index=True, width="stretch", column_config={
    "at_time": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss"),
    "actor": "Who", "action": "What", "target": "On", "detail": "Detail", "reason": "Why"})

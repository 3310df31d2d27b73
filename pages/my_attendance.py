import streamlit as st

from core import attendance, exports, people
from pages._ui import get_app, grid, plain, require

user = require("my_attendance")
app = get_app()
person = people.get(app, user.student_id or "")

st.title("My attendance")
if person is None:
    st.error("Your account is not linked to a person on the roster. Ask an administrator.")
    st.stop()
st.write(f"**{plain(person['name'])}**" + (f" · {plain(person['name_en'])}" if person.get("name_en") else "")
         + f" · {person['student_id']}")

history = attendance.student_history(app, person["student_id"])
counted = history[history["status"].isin(["present", "late", "absent"])]
cols = st.columns(4)
cols[0].metric("Sessions", len(counted))
cols[1].metric("Present", int((counted["status"] == "present").sum()))
cols[2].metric("Late", int((counted["status"] == "late").sum()))
cols[3].metric("Absent", int((counted["status"] == "absent").sum()))
if counted.empty:
    st.info("No sessions yet.")
else:
    rate = (counted["status"] != "absent").mean()
    st.progress(float(rate), text=f"Attendance rate {rate:.0%}")
grid(history[["starts_at", "class_name", "status", "checked_at", "method"]], hide_index=True,
     width="stretch",
     column_config={"starts_at": st.column_config.DatetimeColumn("Session", format="YYYY-MM-DD HH:mm"),
                    "class_name": "Class", "status": "Status",
                    "checked_at": st.column_config.DatetimeColumn("Checked in", format="HH:mm"),
                    "method": "How"})
st.download_button("Download CSV", b"".join(exports.csv_stream([history])),
                   file_name=f"attendance-{person['student_id']}.csv", mime="text/csv")

import streamlit as st

from core import auth
from pages._ui import get_app, grid, require

user = require("users")
app = get_app()
ROLES = [r.value for r in auth.Role]

st.title("Users")
if issued := st.session_state.pop("issued_password", None):
    who, password = issued
    st.success(f"One-time password for **{who}** (shown once; they choose their own at first sign-in):")
    st.code(password, language=None)

users = auth.list_users(app)
grid(users, hide_index=True, width="stretch", column_config={
    "username": "User", "display_name": "Name", "role": "Role", "student_id": "Student id",
    "enabled": "Enabled", "must_change": "Must change password", "failed_attempts": "Failed sign-ins",
    "locked_until": st.column_config.DatetimeColumn("Locked until", format="YYYY-MM-DD HH:mm"),
    "last_login": st.column_config.DatetimeColumn("Last sign-in", format="YYYY-MM-DD HH:mm"),
})

left, right = st.columns(2)
with left:
    st.subheader("Add a user")
    with st.form("add_user", clear_on_submit=True):
        username = st.text_input("User name", help="a–z, 0–9, dot, dash or underscore")
        display_name = st.text_input("Display name")
        role = st.selectbox("Role", ROLES, index=ROLES.index("operator"))
        student_id = st.text_input("Student id (student accounts only)")
        add = st.form_submit_button("Add user", type="primary")
    if add:
        try:
            password = auth.create_user(app, user.username, username, role, display_name=display_name or None,
                                        student_id=student_id.strip() or None)
        except auth.AuthError as exc:
            st.error(str(exc))
        else:
            st.session_state["issued_password"] = (username.strip().lower(), password)
            st.rerun()

with right:
    st.subheader("Change a user")
    target = st.selectbox("User", list(users["username"]), key="manage_user")
    row = users[users["username"] == target].iloc[0] if target else None
    if row is not None:
        new_role = st.selectbox("Role", ROLES, index=ROLES.index(row["role"]), key="manage_role")
        enabled = st.toggle("Enabled", value=bool(row["enabled"]), key="manage_enabled")
        reason = st.text_input("Reason (kept in the audit trail)", key="manage_reason")
        c1, c2 = st.columns(2)
        try:
            if c1.button("Save changes", key="manage_save"):
                auth.update_user(app, user.username, target, role=new_role, enabled=enabled,
                                 reason=reason or None)
                st.session_state["flash"] = f"Saved {target}."
                st.rerun()
            if c2.button("Reset password", key="manage_reset"):
                password = auth.reset_password(app, user.username, target, reason=reason or None)
                st.session_state["issued_password"] = (target, password)
                st.rerun()
        except auth.AuthError as exc:
            st.error(str(exc))

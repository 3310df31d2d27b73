import streamlit as st

from core import auth
from pages._ui import get_app, require, sign_in

user = require("account")
app = get_app()

st.title("Your account")
if user.must_change:
    st.warning("Choose a new password before you continue: the one you signed in with was for one use only.")
st.write(f"Signed in as **{user.username}** · role **{user.role.value}**")

with st.form("change_password", clear_on_submit=True):
    old = st.text_input("Current password", type="password")
    new = st.text_input(f"New password (at least {app.settings.min_password_length} characters)", type="password")
    again = st.text_input("New password again", type="password")
    submitted = st.form_submit_button("Change password", type="primary")

if submitted:
    try:
        if new != again:
            raise auth.AuthError("The two new passwords differ.")
        changed = auth.change_password(app, user.username, old, new)
    except auth.AuthError as exc:
        st.error(str(exc))
    else:
        sign_in(changed)  # the new password's fingerprint: this session stays signed in, the user's others end
        st.session_state["flash"] = "Password changed."
        st.session_state["go_home"] = user.must_change  # first sign-in: continue to the role's first page
        st.rerun()

import streamlit as st

from core import auth
from pages._ui import get_app, sign_in

st.title("Rollcall")
st.caption("Face check-in and live ceremonies")
with st.form("login"):
    username = st.text_input("User name", key="login_username")
    password = st.text_input("Password", type="password", key="login_password")
    submitted = st.form_submit_button("Sign in", type="primary")

if submitted:
    try:
        user = auth.login(get_app(), username, password)
    except auth.AuthError as exc:
        st.error(str(exc))
    else:
        sign_in(user)
        st.rerun()

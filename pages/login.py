import streamlit as st

from pages._ui import sign_in_form

st.title("Rollcall")
st.caption("Face check-in and live ceremonies")
sign_in_form()

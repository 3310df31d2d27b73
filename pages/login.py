import streamlit as st

from pages._ui import BAD_SCREEN_LINK, bad_screen_link, sign_in_form

if bad_screen_link():
    # A big screen opened an old or broken link: say so, plainly; staff may still sign in here.
    st.title("This screen link does not work")
    st.error(BAD_SCREEN_LINK, icon=":material/link_off:")
    with st.expander("Staff: sign in"):
        sign_in_form()
else:
    st.title("Rollcall")
    st.caption("Face check-in and live ceremonies")
    sign_in_form()

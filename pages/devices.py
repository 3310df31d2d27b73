import streamlit as st

from core import devices
from pages._ui import get_app, grid, require

user = require("devices")
app = get_app()

st.title("Devices")
st.caption("ESP32 stage sensors and ESP32-CAM boards. Each signs its requests with its own secret; "
           "a revoked device is refused at once.")
if issued := st.session_state.pop("issued_secret", None):
    device_id, secret = issued
    st.success(f"Device **{device_id}** registered. Copy its secret into the board's `config.h` now: "
               "it is not shown again.")
    st.code(secret, language=None)

table = devices.overview(app)
if table.empty:
    st.info("No device yet. Register one below.")
else:
    grid(table, hide_index=True, width="stretch", column_config={
        "device_id": "Device", "label": "Where", "role": "Role", "enabled": "Enabled",
        "registered": st.column_config.DatetimeColumn("Registered", format="YYYY-MM-DD"),
        "last_seen": st.column_config.DatetimeColumn("Last seen", format="YYYY-MM-DD HH:mm:ss"),
        "boot_id": "Boot", "firmware": "Firmware", "uptime_s": "Uptime (s)", "rssi": "RSSI (dBm)",
        "queue_depth": "Queued", "free_heap": "Free heap (B)"})

left, right = st.columns(2)
with left:
    st.subheader("Register a device")
    with st.form("add_device", clear_on_submit=True):
        device_id = st.text_input("Device id", placeholder="stage-1")
        label = st.text_input("Where is it?", placeholder="front of stage, left")
        role = st.selectbox("What is it?", list(devices.ROLE_LABELS), format_func=devices.ROLE_LABELS.get,
                            help="A device may post only what its role allows: a camera cannot move the ceremony.")
        add = st.form_submit_button("Register", type="primary")
    if add:
        try:
            secret = devices.add_device(app.log, device_id.strip(), user.username, label, role)
        except devices.DeviceError as exc:
            st.error(str(exc))
        else:
            app.fresh()
            st.session_state["issued_secret"] = (device_id.strip(), secret)
            st.rerun()
with right:
    st.subheader("Revoke or enable")
    if not table.empty:
        target = st.selectbox("Device", list(table["device_id"]), key="device_target")
        enabled = bool(table.set_index("device_id").loc[target, "enabled"])
        reason = st.text_input("Reason (kept in the audit trail)", key="device_reason")
        if st.button("Revoke" if enabled else "Enable", key="device_toggle", type="secondary"):
            secret = devices.set_enabled(app.log, target, not enabled, user.username, reason or None)
            app.fresh()
            if secret:  # enabled again: its old secret may be known, so it gets a new one
                st.session_state["issued_secret"] = (target, secret)
            else:
                st.session_state["flash"] = f"{target} revoked."
            st.rerun()

st.subheader("Latest device events")
recent = devices.recent_events(app, limit=100)
if recent.empty:
    st.info("Nothing received yet.")
else:
    grid(recent, hide_index=True, width="stretch", column_config={
        "at_time": st.column_config.DatetimeColumn("When (device clock)", format="YYYY-MM-DD HH:mm:ss"),
        "device_id": "Device", "kind": "Event", "detail": "Detail",
        "received_at": st.column_config.DatetimeColumn("Received", format="HH:mm:ss")})

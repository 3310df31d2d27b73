"""The device registry (kept in the event-log store, so the receiver can authenticate without DuckDB).

Registering and revoking touch only the event-log store, so the CLI can do it while the app runs.
"""

from __future__ import annotations

import re
import secrets

import pandas as pd

from core.eventlog import ROLES, Device, Event, EventLog, now_ms
from core.services import Rollcall

_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class DeviceError(ValueError):
    pass


ROLE_LABELS = {"stage": "Stage sensor (IR beams)", "rfid": "RFID reader", "camera": "Camera (ESP32-CAM)"}


def add_device(log: EventLog, device_id: str, actor: str, label: str = "", role: str = "stage") -> str:
    """Register a device and return its secret (shown once; only its owner should ever see it again). Its role
    says what it may post: `stage` beams, `rfid` scans, `camera` frames (core.eventlog.ROLES)."""
    if not _DEVICE_ID.match(device_id):
        raise DeviceError("A device id is 1–64 letters, digits, dash or underscore (e.g. stage-1).")
    if role not in ROLES:
        raise DeviceError(f"A device's role is one of {', '.join(ROLES)}.")
    if log.get_device(device_id) is not None:
        raise DeviceError(f"Device {device_id!r} already exists; revoke it and use a new id to replace its secret.")
    secret = secrets.token_hex(32)
    log.put_device(Device(device_id, secret, True, now_ms(), label.strip(), role))
    log.append([Event.new("device.registered", {"device_id": device_id, "label": label.strip(), "role": role},
                          actor=actor)])
    return secret


def set_enabled(log: EventLog, device_id: str, enabled: bool, actor: str, reason: str | None = None) -> str | None:
    """Revoke or enable a device. Enabling issues a new secret (returned, shown once): a device was revoked because
    its secret may be known, so the old one never works again."""
    device = log.get_device(device_id)
    if device is None:
        raise DeviceError(f"No device {device_id!r}.")
    secret = secrets.token_hex(32) if enabled else device.secret
    log.put_device(Device(device.device_id, secret, enabled, device.created_ms, device.label, device.role))
    kind = "device.enabled" if enabled else "device.revoked"
    log.append([Event.new(kind, {"device_id": device_id, "reason": reason}, actor=actor)])
    return secret if enabled else None


def overview(app: Rollcall) -> pd.DataFrame:
    """Registered devices with their last health report."""
    registry = pd.DataFrame([{"device_id": d.device_id, "label": d.label, "role": d.role, "enabled": d.enabled,
                              "registered": pd.Timestamp(d.created_ms, unit="ms", tz="UTC").tz_convert(app.settings.tz)}
                             for d in app.log.list_devices()],
                            columns=["device_id", "label", "role", "enabled", "registered"])
    status = app.db.query("SELECT * FROM device_status")
    return registry.merge(status, on="device_id", how="left")


def recent_events(app: Rollcall, device_id: str | None = None, limit: int = 50) -> pd.DataFrame:
    where, params = ("WHERE device_id = ?", [device_id]) if device_id else ("", [])
    return app.db.query(f"SELECT at_time, device_id, kind, detail, received_at FROM device_events {where} "
                        f"ORDER BY at_time DESC LIMIT {int(limit)}", params)

"""Event log: interface, back-ends, and the factory that picks one from settings."""

from __future__ import annotations

from core.config import Settings
from core.eventlog.base import AppendResult, Device, Event, EventLog, EventLogError, StoredEvent, now_ms
from core.eventlog.sqlite import SQLiteEventLog

__all__ = [
    "AppendResult",
    "Device",
    "Event",
    "EventLog",
    "EventLogError",
    "SQLiteEventLog",
    "StoredEvent",
    "now_ms",
    "open_event_log",
]


def open_event_log(settings: Settings) -> EventLog:
    if settings.event_log_backend == "local":
        return SQLiteEventLog(settings.events_path)
    raise EventLogError(f"event log back-end {settings.event_log_backend!r} is not available in this version")

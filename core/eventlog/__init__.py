"""Event log: interface, back-ends, and the factory that picks one from settings."""

from __future__ import annotations

from core.config import Settings
from core.eventlog.base import (
    ROLES,
    SEALED,
    AppendResult,
    Device,
    Event,
    EventLog,
    EventLogError,
    EventLogUnavailable,
    SecretSealer,
    StoredEvent,
    now_ms,
)
from core.eventlog.sqlite import SQLiteEventLog

__all__ = [
    "ROLES",
    "SEALED",
    "AppendResult",
    "Device",
    "Event",
    "EventLog",
    "EventLogError",
    "EventLogUnavailable",
    "SQLiteEventLog",
    "StoredEvent",
    "now_ms",
    "open_event_log",
]


def open_event_log(settings: Settings) -> EventLog:
    from core.keys import load_master_key

    sealer = SecretSealer(load_master_key(settings.master_key, settings.data_path))
    if settings.event_log_backend == "local":
        return SQLiteEventLog(settings.events_path, settings.event_log_busy_timeout_seconds, sealer)
    if settings.event_log_backend == "firestore":
        from core.eventlog.firestore import FirestoreEventLog  # imported only when chosen: it is heavy

        creds = str(settings.firestore_credentials) if settings.firestore_credentials else None
        return FirestoreEventLog(settings.firestore_project_id, settings.firestore_prefix, creds,
                                 shards=settings.firestore_shards, settle_ms=settings.firestore_settle_ms,
                                 append_budget_seconds=settings.firestore_append_budget_seconds, sealer=sealer)
    raise EventLogError(f"unknown event log back-end {settings.event_log_backend!r}")

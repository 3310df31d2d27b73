"""The event log interface: the durable, append-only hand-off between processes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.timeutil import now_ms


@dataclass(frozen=True)
class Event:
    """One state change. `id` is stable, so appending or ingesting it twice changes nothing."""

    id: str
    kind: str
    ts_ms: int
    payload: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None  # user name, device id, or "system"
    source: str = "app"

    @classmethod
    def new(cls, kind: str, payload: dict[str, Any] | None = None, *, actor: str | None = None,
            ts_ms: int | None = None, source: str = "app") -> Event:
        return cls(id=str(uuid.uuid4()), kind=kind, ts_ms=now_ms() if ts_ms is None else ts_ms,
                   payload=dict(payload or {}), actor=actor, source=source)


@dataclass(frozen=True)
class StoredEvent:
    """An event with its position in the log; positions only grow, so a reader keeps a cursor."""

    position: int
    event: Event


@dataclass(frozen=True)
class AppendResult:
    accepted: int
    duplicates: int
    # A position at or after every event of this append (new or already stored): a reader whose cursor has
    # reached it has seen them all. Lets a writer fold up to its own events without waiting for later ones.
    position: int = 0
    queued: int = 0  # kept in the local outbox because the store was down (see Rollcall.submit)


# What each kind of device may post (besides heartbeats): a door camera cannot move the ceremony, a stage beam
# cannot post faces. "any" is what devices registered before roles existed keep until they are registered anew.
ROLES: dict[str, frozenset[str]] = {
    "stage": frozenset({"beam.front", "beam.back", "pir.trigger", "button.press"}),
    "rfid": frozenset({"rfid.scan", "button.press"}),
    "camera": frozenset({"frame.captured"}),
    "any": frozenset({"beam.front", "beam.back", "pir.trigger", "button.press", "rfid.scan", "frame.captured"}),
}


@dataclass(frozen=True)
class Device:
    device_id: str
    secret: str
    enabled: bool
    created_ms: int
    label: str = ""
    role: str = "any"

    def may_post(self, kind: str) -> bool:
        return kind == "device.heartbeat" or kind in ROLES.get(self.role, frozenset())


class EventLogError(RuntimeError):
    pass


class EventLogUnavailable(EventLogError):
    """The store did not take the append after retries with backoff: nothing of it is known to be stored."""


class EventLog(Protocol):
    """Small on purpose: a local SQLite file and Firestore both implement it."""

    def append(self, events: list[Event]) -> AppendResult:
        """Append atomically; events whose id is already stored count as duplicates."""

    def read_after(self, cursor: int, limit: int = 1000) -> list[StoredEvent]:
        """Events with position > cursor, oldest first."""

    def head(self) -> int:
        """Position of the newest event (0 when empty)."""

    def put_device(self, device: Device) -> None: ...

    def get_device(self, device_id: str) -> Device | None: ...

    def list_devices(self) -> list[Device]: ...

    def remember_request(self, key: str, expires_ms: int) -> bool:
        """Record a signed request's signature; False when it was already seen (a replay)."""

    def rewrite(self, changes: dict[str, Event]) -> int:
        """Replace stored events in place: {stored id: the event to keep instead}, at the same position.

        The one exception to append-only, for privacy: retention redacts what expired (a frame's image)
        and erasure removes a person. The new event may have another id, kind, actor and payload; its
        position stays, so cursors and the order of the log do not move. The old bytes are overwritten
        on disk, not just unlinked. Returns how many events were found and replaced.
        """

    def close(self) -> None: ...


SEALED = "sealed:v1:"  # a device secret stored encrypted with the master key (events.sqlite or Firestore)


class SecretSealer:
    """Device secrets are sealed at rest with the master key: a copy of the log (a backup, a Firestore export)
    does not let anyone sign as a device. Secrets stored before sealing existed are read as they are."""

    def __init__(self, master_key: bytes):
        from cryptography.fernet import Fernet  # a dependency of core.keys as well

        self._fernet = Fernet(master_key)

    def seal(self, secret: str) -> str:
        return secret if secret.startswith(SEALED) else SEALED + self._fernet.encrypt(secret.encode()).decode()

    def open(self, device: Device) -> Device | None:
        """The device with its secret in clear, or None when it was sealed with another master key."""
        if not device.secret.startswith(SEALED):
            return device
        from cryptography.fernet import InvalidToken

        try:
            secret = self._fernet.decrypt(device.secret.removeprefix(SEALED).encode()).decode()
        except InvalidToken:
            import logging

            logging.getLogger(__name__).error("device %s: its secret was sealed with another master key (set the "
                                              "same ROLLCALL_MASTER_KEY on every box)", device.device_id)
            return None
        return Device(device.device_id, secret, device.enabled, device.created_ms, device.label, device.role)


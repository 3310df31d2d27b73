"""Firestore event log (firebase-admin): the distributed back-end, same contract as the SQLite one.

Positions come from a counter document updated in the same transaction as the appended events,
so every reader sees one total order and a cursor works exactly as with SQLite. That counter is the
throughput limit (Firestore sustains roughly one transaction per second per document under
contention): batch appends, and keep the local log for high-rate sensor traffic on one box.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import firebase_admin
import google.auth.credentials
from firebase_admin import credentials, firestore
from google.api_core.exceptions import AlreadyExists
from google.cloud.firestore_v1.base_query import FieldFilter

from core.eventlog.base import AppendResult, Device, Event, StoredEvent


class _Anonymous(credentials.Base):
    """The emulator needs no identity, but firebase-admin insists on a credential."""

    def get_credential(self):
        return google.auth.credentials.AnonymousCredentials()


class FirestoreEventLog:
    def __init__(self, project_id: str, prefix: str = "rollcall", credentials_file: str | None = None):
        if os.environ.get("FIRESTORE_EMULATOR_HOST"):
            cred = _Anonymous()
        elif credentials_file:
            cred = credentials.Certificate(credentials_file)
        else:
            cred = credentials.ApplicationDefault()
        # A named app per instance: several logs (tests, tools) can live in one process.
        self._app = firebase_admin.initialize_app(cred, {"projectId": project_id}, name=f"rollcall-{uuid.uuid4()}")
        self._db = firestore.client(self._app)
        self._events = self._db.collection(f"{prefix}_events")
        self._devices = self._db.collection(f"{prefix}_devices")
        self._nonces = self._db.collection(f"{prefix}_nonces")
        self._counter = self._db.collection(f"{prefix}_meta").document("head")

    def append(self, events: list[Event]) -> AppendResult:
        if not events:
            return AppendResult(0, 0)
        unique = list({e.id: e for e in reversed(events)}.values())[::-1]  # first copy of each id wins

        @firestore.transactional
        def write(tx) -> int:
            refs = [self._events.document(e.id) for e in unique]
            snaps = {s.reference.path: s for s in self._db.get_all([self._counter, *refs], transaction=tx)}
            counter = snaps[self._counter.path]
            head = counter.to_dict().get("position", 0) if counter.exists else 0
            fresh = [(e, ref) for e, ref in zip(unique, refs, strict=True) if not snaps[ref.path].exists]
            for e, ref in fresh:
                head += 1
                tx.set(ref, {"position": head, "kind": e.kind, "ts_ms": e.ts_ms, "actor": e.actor,
                             "source": e.source, "payload": json.dumps(e.payload, ensure_ascii=False)})
            if fresh:
                tx.set(self._counter, {"position": head})
            return len(fresh)

        accepted = write(self._db.transaction(max_attempts=50))  # writers contend on the counter: retry
        return AppendResult(accepted=accepted, duplicates=len(events) - accepted)

    def read_after(self, cursor: int, limit: int = 1000) -> list[StoredEvent]:
        query = (self._events.where(filter=FieldFilter("position", ">", cursor))
                 .order_by("position").limit(limit))
        out = []
        for doc in query.stream():
            d = doc.to_dict()
            out.append(StoredEvent(d["position"], Event(id=doc.id, kind=d["kind"], ts_ms=d["ts_ms"], actor=d["actor"],
                                                        source=d["source"], payload=json.loads(d["payload"]))))
        return out

    def rewrite(self, changes: dict[str, Event]) -> int:
        found = 0
        for old_id, e in changes.items():
            @firestore.transactional
            def swap(tx, old_id=old_id, e=e) -> int:
                old = self._events.document(old_id)
                snap = old.get(transaction=tx)
                if not snap.exists:
                    return 0
                tx.delete(old)  # a document id cannot change: the event moves to its new id at the same position
                tx.set(self._events.document(e.id), {
                    "position": snap.to_dict()["position"], "kind": e.kind, "ts_ms": e.ts_ms, "actor": e.actor,
                    "source": e.source, "payload": json.dumps(e.payload, ensure_ascii=False)})
                return 1

            found += swap(self._db.transaction())
        return found

    def head(self) -> int:
        snap = self._counter.get()
        return int(snap.to_dict().get("position", 0)) if snap.exists else 0

    def put_device(self, device: Device) -> None:
        self._devices.document(device.device_id).set(
            {"secret": device.secret, "enabled": device.enabled, "created_ms": device.created_ms,
             "label": device.label})

    def get_device(self, device_id: str) -> Device | None:
        snap = self._devices.document(device_id).get()
        return _device(snap) if snap.exists else None

    def list_devices(self) -> list[Device]:
        return sorted((_device(s) for s in self._devices.stream()), key=lambda d: d.device_id)

    def remember_request(self, key: str, expires_ms: int) -> bool:
        try:
            self._nonces.document(hashlib.sha256(key.encode()).hexdigest()).create({"expires_ms": expires_ms})
        except AlreadyExists:
            return False
        return True

    def close(self) -> None:
        firebase_admin.delete_app(self._app)


def _device(snap) -> Device:
    d = snap.to_dict()
    return Device(snap.id, d["secret"], bool(d["enabled"]), int(d["created_ms"]), d.get("label", ""))

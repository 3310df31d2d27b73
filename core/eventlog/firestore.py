"""Firestore event log (firebase-admin): the distributed back-end, same contract as the SQLite one.

Ordering without a hot document. Appends never touch a shared document: each event is one document
whose id is sha256(event id) (uniformly spread keys, so a retried append finds its own earlier commit
and counts it as a duplicate). An append reads which ids are stored already and creates the others in
one batched write, atomically; `create` fails if another append stored one meanwhile, and the append
is tried again. No transaction holds a lock, so no commit waits for another (see the settle window).
The order of the log comes from fields on the event itself:

- `committed`: the server timestamp of the append (Firestore's REQUEST_TIME: millisecond precision,
  taken when the commit request starts, a little before the commit really happens);
- `tie`: the writer's clock in microseconds (strictly increasing within a process) + 12 random hex
  characters per append + the event's index in it. It orders one append's events, and two appends that
  got the same millisecond deterministically, in the order one process made them (a random tie alone
  would put a process's second append before its first half the time).
- `shard`: 0..shards-1 at random per append. `committed` only grows, and one index range that only
  grows takes about 500 writes/s; the composite index (shard, committed, tie) spreads those writes
  over `shards` ranges, and the single-field index of `committed` (and of `ts_ms`, `id`, `payload`,
  which no query uses) is switched off. firestore.indexes.json at the repo root declares this for the
  default prefix (`rollcall_events`); deploy it with `firebase deploy --only firestore:indexes`.

Positions stay plain integers: (millisecond of `committed`) << 20 | rank, the rank being the event's
index among the events of that millisecond ordered by (committed, tie), except that the last one takes
the top rank 2**20 - 1. So the end of a millisecond is a real position: an append returns the end of its
millisecond (at or after all its events) and a reader's cursor does reach it. A reader queries every
shard from the start of its cursor's millisecond at one snapshot (a read_time) and merges them in
order; a shard that returned a full page bounds what the merge knows completely.

The settle window. `committed` is taken when the commit request starts (Firestore's maintainers say
so; measured here too) and the commit lands later: the request-to-commit lag. A reader whose snapshot
falls in between does not see the append, yet may pass its millisecond. Readers therefore deliver only
milliseconds that ended at least `settle_ms` before their snapshot: safe while no append's lag exceeds
it. A writer sees its own lag (commit time - `committed`) and logs a warning past half the window.
Appends and rewrites use no transaction, so no commit waits for another's lock inside that lag (a
commit that waited for a transaction's lock measured 0.9 s of lag on the emulator).
Measured with bench/firestore.py on the emulator: followers with settle 0 missed nothing (the emulator
holds reads back while a commit is in progress), but the lag itself reached 205 ms (single events, 16
writers) and 560 ms (300-event appends) on 2 busy cores. Production Firestore is not known to hold
readers back like that, so the default window (1 s) covers the largest lag measured, with a margin.
A read that returns fewer than `limit` events while newer ones are settling waits for them, once: a
writer reads its own append at once (at most the window later), as with SQLite.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import firebase_admin
import google.auth.credentials
from firebase_admin import credentials, firestore
from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from core.eventlog.base import (
    AppendResult,
    Device,
    Event,
    EventLogError,
    EventLogUnavailable,
    SecretSealer,
    StoredEvent,
)

log = logging.getLogger(__name__)

RANK_BITS = 20  # up to 1 048 576 events per millisecond; ms << 20 fits a BIGINT until the year 2248
TOP_RANK = (1 << RANK_BITS) - 1  # the rank of the last event of each millisecond
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Errors after which the whole append is tried again (the event ids make a second try harmless); AlreadyExists:
# another append stored one of its events between its read and its commit.
_TRANSIENT = (gexc.Aborted, gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
              gexc.TooManyRequests, gexc.ResourceExhausted, gexc.AlreadyExists)
T = TypeVar("T")


class _Anonymous(credentials.Base):
    """The emulator needs no identity, but firebase-admin insists on a credential."""

    def get_credential(self):
        return google.auth.credentials.AnonymousCredentials()


_tick_lock = threading.Lock()
_last_tick = 0


def _next_tick() -> int:
    """The wall clock in microseconds, made strictly increasing within this process."""
    global _last_tick
    with _tick_lock:
        _last_tick = max(time.time_ns() // 1000, _last_tick + 1)
        return _last_tick


def doc_id(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()[:40]


def _us(ts: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp would round)."""
    pb = ts.timestamp_pb()  # type: ignore[attr-defined]  # both DatetimeWithNanoseconds flavours the client returns have it
    return pb.seconds * 1_000_000 + pb.nanos // 1000


def _at_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _key(doc) -> tuple[int, str]:
    return _us(doc.get("committed")), doc.get("tie")


class FirestoreEventLog:
    def __init__(self, project_id: str, prefix: str = "rollcall", credentials_file: str | None = None, *,
                 shards: int = 4, settle_ms: int = 1000, append_budget_seconds: float = 20.0,
                 sealer: SecretSealer | None = None):
        self.sealer = sealer  # device secrets sealed at rest when given (the factory gives one)
        self.shards, self.settle_us, self.append_budget = int(shards), int(settle_ms) * 1000, append_budget_seconds
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
        self._clock = self._events.document("~clock")  # never written: reading it gives a snapshot's read time

    # -- writing -------------------------------------------------------------------------------------------

    def append(self, events: list[Event]) -> AppendResult:
        if not events:
            return AppendResult(0, 0, 0)
        unique = list({e.id: e for e in reversed(events)}.values())[::-1]  # first copy of each id wins
        refs = [self._events.document(doc_id(e.id)) for e in unique]
        tie, shard = f"{_next_tick():016x}{secrets.token_hex(6)}", random.randrange(self.shards)

        def attempt() -> AppendResult:
            # Read outside a transaction and write with `create` (fails if the document exists): nothing is
            # locked, so no commit waits for another's lock between its `committed` and its commit, a wait that
            # the settle window would have to cover (measured: 0.9 s when two transactions read the same id).
            stored = [s for s in self._db.get_all(refs) if s.exists]
            known = {s.reference.path for s in stored}
            newest_us = max((_us(s.get("committed")) for s in stored), default=0)
            batch, accepted = self._db.batch(), 0
            for i, (e, ref) in enumerate(zip(unique, refs, strict=True)):
                if ref.path not in known:
                    batch.create(ref, _fields(e) | {"committed": firestore.SERVER_TIMESTAMP,
                                                    "tie": f"{tie}{i:06d}", "shard": shard})
                    accepted += 1
            if accepted:
                # An event stored meanwhile by someone else fails the whole batch (AlreadyExists): tried again.
                committed_us = _us(batch.commit()[0].transform_results[0].timestamp_value)
                newest_us = max(newest_us, committed_us)
                lag_us = _us(batch.commit_time) - committed_us
                if self.settle_us and lag_us * 2 > self.settle_us:  # settle 0 is a choice to take the risk
                    log.warning("an append took %.1f ms from request to commit; readers assume at most "
                                "firestore_settle_ms=%d: raise it", lag_us / 1000, self.settle_us // 1000)
            # The last event of the newest millisecond this append's events are in: at or after them all.
            return AppendResult(accepted, len(events) - accepted, newest_us // 1000 << RANK_BITS | TOP_RANK)

        return self._retry(attempt, "append")

    def rewrite(self, changes: dict[str, Event]) -> int:
        items = list(changes.items())
        return sum(self._retry(functools.partial(self._rewrite, items[i:i + 200]), "rewrite")
                   for i in range(0, len(items), 200))

    def _rewrite(self, chunk: list[tuple[str, Event]]) -> int:
        # Like append, without a transaction: each old document is deleted only if unchanged since it was read.
        olds = [self._events.document(doc_id(old_id)) for old_id, _ in chunk]
        news = [self._events.document(doc_id(e.id)) for _, e in chunk]
        snaps = {s.reference.path: s for s in self._db.get_all(olds + news)}
        batch = self._db.batch()
        found = 0
        for (old_id, e), old, new in zip(chunk, olds, news, strict=True):
            snap = snaps[old.path]
            if not snap.exists:
                continue
            unchanged = self._db.write_option(last_update_time=snap.update_time)
            if new.path == old.path:
                batch.update(old, _fields(e), option=unchanged)
            elif snaps[new.path].exists:
                raise EventLogError(f"cannot rewrite {old_id!r} to {e.id!r}: that id is already stored")
            else:
                batch.delete(old, option=unchanged)  # a document id cannot change: the event moves to its new id
                # `committed` is copied, not a server timestamp: the event keeps its place in the order.
                batch.create(new, _fields(e) | {k: snap.get(k) for k in ("committed", "tie", "shard")})
            found += 1
        if found:
            try:
                batch.commit()
            except gexc.FailedPrecondition as exc:  # changed since it was read: read it again
                raise gexc.Aborted("an event changed while it was rewritten") from exc
        return found

    def _retry(self, attempt: Callable[[], T], what: str) -> T:
        """Runs `attempt` until it succeeds, backing off (exponential, full jitter) on transient errors."""
        deadline = time.monotonic() + self.append_budget
        backoff = 0.05
        while True:
            try:
                return attempt()
            except Exception as exc:
                if not _transient(exc):
                    raise
                pause = random.uniform(0, backoff)
                if time.monotonic() + pause > deadline:
                    raise EventLogUnavailable(f"Firestore did not take the {what} within "
                                              f"{self.append_budget:g} s: {exc}") from exc
                log.info("%s failed (%s), retrying in %.2f s", what, type(exc).__name__, pause)
                time.sleep(pause)
                backoff = min(backoff * 2, 2.0)

    # -- reading -------------------------------------------------------------------------------------------

    def read_after(self, cursor: int, limit: int = 1000) -> list[StoredEvent]:
        read_time, horizon_ms = self._snapshot()
        out, settling = self._read(cursor, limit, read_time, horizon_ms)
        if len(out) < limit and settling:
            # Events appended before this call are still settling: wait for them, once, rather than leave them
            # for a later call (a writer reads its own append at once; the wait is at most the settle window).
            later, horizon_ms = self._settled(_us(read_time) // 1000)
            out, _ = self._read(cursor, limit, later, horizon_ms)
        return out

    def _read(self, cursor: int, limit: int, read_time: datetime, horizon_ms: int) -> tuple[list[StoredEvent], bool]:
        """The settled events after `cursor` at one snapshot, and whether events after them are settling."""
        cursor_ms, cursor_rank = cursor >> RANK_BITS, cursor & TOP_RANK
        # After the last event of a millisecond, start at the next one; else read the cursor's millisecond again
        # from its start, which the ranks count from.
        start_ms, skip = (cursor_ms + 1, 0) if cursor_rank == TOP_RANK else (cursor_ms, cursor_rank + 1)
        out: list[StoredEvent] = []
        held: tuple[int, int, Any] | None = None  # (ms, rank, doc): the next event tells if it ends its ms
        settling = False
        for doc in self._ordered(start_ms, limit + skip + 1, read_time):
            ms = _us(doc.get("committed")) // 1000
            if ms >= horizon_ms:
                settling = True
                break
            if held is not None:
                _deliver(out, cursor, held, last=held[0] != ms)
                if len(out) == limit:
                    return out, False
            held = (ms, held[1] + 1 if held is not None and held[0] == ms else 0, doc)
        if held is not None:  # followed by a later (settling) millisecond or by nothing: it ends its millisecond
            _deliver(out, cursor, held, last=True)
        return out, settling

    def head(self) -> int:
        """The position of the newest event appended before the call (waiting, if it is still settling)."""
        read_time, _ = self._snapshot()
        newest = [doc for k in range(self.shards) for doc in self._shard(k).order_by(
            "committed", direction="DESCENDING").order_by("tie", direction="DESCENDING").limit(1)
            .stream(read_time=read_time)]
        if not newest:
            return 0
        ms = max(_us(doc.get("committed")) for doc in newest) // 1000
        self._settled(ms)
        return ms << RANK_BITS | TOP_RANK  # the last event of a millisecond has the top rank

    def _snapshot(self) -> tuple[datetime, int]:
        """A read time for one consistent snapshot, and the first millisecond not settled in it."""
        read_time = self._clock.get().read_time
        return read_time, (_us(read_time) - self.settle_us) // 1000

    def _settled(self, ms: int) -> tuple[datetime, int]:
        """Waits until the millisecond `ms` has settled; returns a snapshot in which it has."""
        while True:
            read_time, horizon_ms = self._snapshot()
            if horizon_ms > ms:
                return read_time, horizon_ms
            time.sleep(max((ms + 1) * 1000 + self.settle_us - _us(read_time), 1000) / 1e6)

    def _shard(self, k: int):
        return self._events.where(filter=FieldFilter("shard", "==", k))

    def _ordered(self, start_ms: int, need: int, read_time: datetime) -> Iterator[Any]:
        """Every event from the millisecond `start_ms` on, in order, at one snapshot, fetched as needed."""
        page = min(need, max(2 * need // self.shards, 20))  # about `need` events over all shards, often in one go
        after = None
        while True:
            docs, complete = self._merged(start_ms, after, page, read_time)
            yield from docs
            if complete:
                return
            after = _key(docs[-1])

    def _merged(self, start_ms: int, after: tuple[int, str] | None, page: int, read_time: datetime):
        """A page of every shard from `start_ms` (or after the key `after`) merged in order, as far as the merge
        is complete: a shard that filled its page may hold more events after its last one. Returns (docs,
        whether every shard was read to its end)."""
        docs, bound = [], None
        for k in range(self.shards):
            query = self._shard(k).where(filter=FieldFilter("committed", ">=", _at_ms(start_ms))) \
                .order_by("committed").order_by("tie")
            if after is not None:
                query = query.start_after({"committed": _EPOCH + timedelta(microseconds=after[0]), "tie": after[1]})
            got = list(query.limit(page).stream(read_time=read_time))
            docs += got
            if len(got) == page:
                bound = _key(got[-1]) if bound is None else min(bound, _key(got[-1]))
        docs.sort(key=_key)
        if bound is not None:
            docs = [d for d in docs if _key(d) <= bound]
        return docs, bound is None

    # -- devices and request memory ------------------------------------------------------------------------

    def put_device(self, device: Device) -> None:
        self._devices.document(device.device_id).set(
            {"secret": self.sealer.seal(device.secret) if self.sealer else device.secret, "enabled": device.enabled,
             "created_ms": device.created_ms,
             "label": device.label, "role": device.role})

    def get_device(self, device_id: str) -> Device | None:
        snap = self._devices.document(device_id).get()
        return self._open(_device(snap)) if snap.exists else None

    def list_devices(self) -> list[Device]:
        opened = (self._open(_device(s)) for s in self._devices.stream())
        return sorted((d for d in opened if d is not None), key=lambda d: d.device_id)

    def _open(self, device: Device) -> Device | None:
        return self.sealer.open(device) if self.sealer else device

    def remember_request(self, key: str, expires_ms: int) -> bool:
        try:
            self._nonces.document(hashlib.sha256(key.encode()).hexdigest()).create({"expires_ms": expires_ms})
        except gexc.AlreadyExists:
            return False
        return True

    def close(self) -> None:
        firebase_admin.delete_app(self._app)


def _transient(exc: BaseException | None) -> bool:
    """A transient error anywhere in the chain: the client gives up on commit-time aborts with a ValueError
    caused by the last Aborted, and a failed rollback after an error hides that error in __context__."""
    while exc is not None:
        if isinstance(exc, _TRANSIENT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _deliver(out: list[StoredEvent], cursor: int, held: tuple[int, int, Any], last: bool) -> None:
    ms, rank, doc = held
    if not last and rank >= TOP_RANK:
        raise EventLogError(f"more than {TOP_RANK} events in the millisecond {ms}")
    position = ms << RANK_BITS | (TOP_RANK if last else rank)
    if position > cursor:
        out.append(StoredEvent(position, _event(doc)))


def _fields(e: Event) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "ts_ms": e.ts_ms, "actor": e.actor, "source": e.source,
            "payload": json.dumps(e.payload, ensure_ascii=False)}


def _event(doc) -> Event:
    d = doc.to_dict()
    return Event(id=d["id"], kind=d["kind"], ts_ms=d["ts_ms"], actor=d["actor"], source=d["source"],
                 payload=json.loads(d["payload"]))


def _device(snap) -> Device:
    d = snap.to_dict()
    return Device(snap.id, d["secret"], bool(d["enabled"]), int(d["created_ms"]), d.get("label", ""),
                  d.get("role", "any"))

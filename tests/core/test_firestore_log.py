"""Firestore-only properties of the event log, on the real emulator: no shared document, retries exactly once."""

from __future__ import annotations

import uuid

import pytest
from google.api_core.exceptions import Aborted, ServiceUnavailable

from core.eventlog import Device, Event, EventLogUnavailable


@pytest.fixture
def open_log(firestore_emulator, monkeypatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    from core.eventlog.firestore import FirestoreEventLog

    opened = []

    def open_log(prefix: str | None = None, **options) -> FirestoreEventLog:
        opened.append(FirestoreEventLog("demo-test", prefix or f"t{uuid.uuid4().hex[:8]}", **options))
        return opened[-1]

    yield open_log
    for log in opened:
        log.close()


def fail_once(monkeypatch, api, method: str, exc: Exception, *, after_call: bool = False) -> list[int]:
    """Makes one gRPC method of the client raise `exc` once: before the call reaches the emulator, or after
    it was done there (a lost reply). Returns a list that counts the failures."""
    real, failed = getattr(api, method), []

    def flaky(*args, **kwargs):
        if failed:
            return real(*args, **kwargs)
        failed.append(1)
        if after_call:
            result = real(*args, **kwargs)
            if method == "batch_get_documents":
                list(result)  # a stream: drained, so the reads were really done
        raise exc

    monkeypatch.setattr(api, method, flaky)
    return failed


def test_no_document_is_written_by_every_append(open_log):
    log = open_log(shards=4)
    events = [Event.new("test.ping", {"i": i}) for i in range(30)]
    results = [log.append(events[i:i + 3]) for i in range(0, 30, 3)]
    log.put_device(Device("stage-1", "s3cret", True, 1000))
    assert log.remember_request("stage-1:abc", 10**13)
    prefix = log._events.id.removesuffix("_events")
    collections = {c.id: list(c.stream()) for c in log._db.collections() if c.id.startswith(prefix + "_")}
    assert {name: len(docs) for name, docs in collections.items()} == {
        f"{prefix}_events": 30, f"{prefix}_devices": 1, f"{prefix}_nonces": 1}
    # Each event document was written once, by its own append: nothing like a counter is shared.
    assert all(d.create_time == d.update_time for d in collections[f"{prefix}_events"])
    assert {d.get("shard") for d in collections[f"{prefix}_events"]} <= {0, 1, 2, 3}
    stored = log.read_after(0)
    assert [s.event.payload["i"] for s in stored] == list(range(30))
    positions = {s.event.id: s.position for s in stored}
    for i, result in enumerate(results):
        assert all(positions[e.id] <= result.position for e in events[3 * i:3 * i + 3])


def test_an_append_whose_reply_was_lost_counts_as_duplicates(open_log, monkeypatch):
    log = open_log()
    events = [Event.new("test.ping", {"i": i}) for i in range(3)]
    failed = fail_once(monkeypatch, log._db._firestore_api, "commit", Aborted("reply lost"), after_call=True)
    result = log.append(events)
    assert failed == [1]
    assert (result.accepted, result.duplicates) == (0, 3)  # the first try committed them; the retry found them
    stored = log.read_after(0)
    assert [s.event.id for s in stored] == [e.id for e in events]
    assert stored[-1].position <= result.position
    assert (log.append(events).accepted, log.append(events).duplicates) == (0, 3)  # and again, plainly


@pytest.mark.parametrize("method", ["batch_get_documents", "commit"])
def test_a_transient_error_anywhere_in_an_append_is_retried(open_log, monkeypatch, method):
    log = open_log()
    error = Aborted("contention") if method == "batch_get_documents" else ServiceUnavailable("blip")
    failed = fail_once(monkeypatch, log._db._firestore_api, method, error)
    result = log.append([Event.new("test.ping", {"i": 1}), Event.new("test.ping", {"i": 2})])
    assert failed == [1] and (result.accepted, result.duplicates) == (2, 0)
    assert [s.event.payload["i"] for s in log.read_after(0)] == [1, 2]


def test_an_event_stored_by_another_writer_between_read_and_commit_is_a_duplicate(open_log, monkeypatch):
    log, other = open_log(), None
    a, b = Event.new("test.ping", {"i": 1}), Event.new("test.ping", {"i": 2})
    api = log._db._firestore_api
    real_commit = api.commit

    def commit_after_another_writer(*args, **kwargs):
        if api.commit is commit_after_another_writer:
            monkeypatch.setattr(api, "commit", real_commit)
            assert other.append([b]).accepted == 1  # really stored, by another client, after our read
        return real_commit(*args, **kwargs)

    other = open_log(prefix=log._events.id.removesuffix("_events"))
    monkeypatch.setattr(api, "commit", commit_after_another_writer)
    result = log.append([a, b])
    assert (result.accepted, result.duplicates) == (1, 1)
    assert sorted(s.event.payload["i"] for s in log.read_after(0)) == [1, 2]


def test_an_append_gives_up_after_its_budget(open_log, monkeypatch):
    log = open_log(append_budget_seconds=0.5)

    def down(*args, **kwargs):
        raise ServiceUnavailable("down")

    monkeypatch.setattr(log._db._firestore_api, "commit", down)
    with pytest.raises(EventLogUnavailable):
        log.append([Event.new("test.ping", {})])
    monkeypatch.undo()
    assert log.read_after(0) == [] and log.head() == 0


def test_pages_over_big_appends_and_many_shards_match_one_full_read(open_log):
    log = open_log(shards=3)
    log.append([Event.new("test.ping", {"big": i}) for i in range(120)])  # one millisecond, one shard
    for i in range(20):
        log.append([Event.new("test.ping", {"small": i})])
    log.append([Event.new("test.ping", {"big2": i}) for i in range(60)])
    full = log.read_after(0, limit=10_000)
    assert len(full) == 200 and [s.position for s in full] == sorted({s.position for s in full})
    assert log.head() == full[-1].position
    for limit in (3, 50):
        cursor, paged = 0, []
        while batch := log.read_after(cursor, limit=limit):
            assert len(batch) <= limit
            paged += batch
            cursor = batch[-1].position
        assert paged == full


def test_rewrite_keeps_the_order_keys_and_refuses_a_taken_id(open_log):
    log = open_log()
    a, b = Event.new("test.ping", {"i": 1}), Event.new("test.ping", {"i": 2})
    log.append([a, b])
    before = log.read_after(0)
    assert log.rewrite({a.id: Event("redacted-1", "test.ping", a.ts_ms, {"redacted": True})}) == 1
    after = log.read_after(0)
    assert [s.position for s in after] == [s.position for s in before]
    assert [s.event.id for s in after] == ["redacted-1", b.id]
    from core.eventlog import EventLogError

    with pytest.raises(EventLogError):
        log.rewrite({"redacted-1": Event(b.id, "test.ping", 0, {})})
    assert [s.event.id for s in log.read_after(0)] == ["redacted-1", b.id]


def test_rewrite_under_the_same_id_keeps_its_place(open_log):
    log = open_log()
    events = [Event.new("test.ping", {"i": i, "frame": "jpeg bytes"}) for i in range(3)]
    log.append(events)
    before = log.read_after(0)
    redacted = Event(events[1].id, "test.ping", events[1].ts_ms, {"i": 1, "frame": None})
    assert log.rewrite({events[1].id: redacted}) == 1
    after = log.read_after(0)
    assert [(s.position, s.event.id) for s in after] == [(s.position, s.event.id) for s in before]
    assert after[1].event.payload == {"i": 1, "frame": None}


def test_a_rewrite_raced_by_another_is_read_again(open_log, monkeypatch):
    log = open_log()
    other = open_log(prefix=log._events.id.removesuffix("_events"))
    a = Event.new("test.ping", {"i": 1})
    log.append([a])
    position = log.read_after(0)[0].position
    api = log._db._firestore_api
    real_commit = api.commit

    def commit_after_another_rewrite(*args, **kwargs):
        monkeypatch.setattr(api, "commit", real_commit)
        assert other.rewrite({a.id: Event("by-other", "test.ping", 0, {})}) == 1  # between our read and commit
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(api, "commit", commit_after_another_rewrite)
    assert log.rewrite({a.id: Event("by-us", "test.ping", 0, {})}) == 0  # read again: the old event is gone
    assert [(s.position, s.event.id) for s in log.read_after(0)] == [(position, "by-other")]

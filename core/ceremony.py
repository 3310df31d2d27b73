"""The ceremony state machine: pure functions over a ceremony's entries (no I/O, no clock).

pending → (call) → waiting (yellow) → (front beam, RFID or face at the stage) → on_stage (blue)
→ (back beam) → received (green); waiting → absent (red) after the timeout without a front beam, counted
from when the graduate reached the front of the line (a batch called at once does not all time out together).
An IR beam does not know who crossed it: a front beam belongs to the earliest called graduate
still waiting (a FIFO line), a back beam to the earliest still on stage. RFID and face name the
person. Staff may set any status with a reason. Anything that cannot apply is kept as a flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import pairwise
from statistics import median

REHEARSAL_PREFIX = "rehearsal-"  # a rehearsal's ceremony id: left out of statistics (core/ceremony_tools.py)
STATUSES = ("pending", "waiting", "on_stage", "received", "absent", "skipped")
LABELS = {"pending": "Pending", "waiting": "Waiting", "on_stage": "On stage", "received": "Received",
          "absent": "Absent", "skipped": "Skipped"}


@dataclass
class Entry:
    student_id: str
    order_no: int
    status: str = "pending"
    queue_pos: float = 0.0  # place in the calling order; re-queueing moves it
    call_no: int | None = None  # the n-th call of the ceremony (FIFO for beams)
    called_at_ms: int | None = None
    on_stage_at_ms: int | None = None
    received_at_ms: int | None = None
    front_at_ms: int | None = None  # when they became first in the waiting line: their absent timer starts then

    def __setattr__(self, name: str, value) -> None:
        # The ceremony keeps its graduates by status (so a beam does not scan 1,500 of them): tell it of a move.
        owner = self.__dict__.get("_owner")
        if name == "status" and owner is not None:
            owner._moved(self, self.__dict__.get("status"), value)
        object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Flag:
    at_ms: int
    kind: str
    detail: str


@dataclass
class Ceremony:
    ceremony_id: str
    absent_timeout_ms: int
    entries: dict[str, Entry]
    status: str = "planned"  # planned | running | ended
    auto_advance: bool = False
    calls: int = 0
    flags: list[Flag] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_status: dict[str, dict[str, Entry]] = {status: {} for status in STATUSES}
        for entry in self.entries.values():
            self._by_status.setdefault(entry.status, {})[entry.student_id] = entry
            object.__setattr__(entry, "_owner", self)

    def _moved(self, entry: Entry, old: str | None, new: str) -> None:
        if old is not None:  # None: the entry is new
            self._by_status.get(old, {}).pop(entry.student_id, None)
        self._by_status.setdefault(new, {})[entry.student_id] = entry

    def queue(self) -> list[Entry]:
        """Who will be called, in order."""
        return sorted(self._by_status["pending"].values(), key=_queue_order)

    def next_up(self) -> Entry | None:
        """The first of the queue (without ordering the whole of it)."""
        pending = self._by_status["pending"].values()
        return min(pending, key=_queue_order) if pending else None

    def line(self, status: str) -> list[Entry]:
        """Graduates in a status, earliest first (the FIFO that beams follow)."""
        return sorted(self._by_status.get(status, {}).values(), key=_LINE_ORDER.get(status, _queue_order))

    def current(self) -> Entry | None:
        """The graduate the room is looking at: on stage, else the earliest still waiting, else the last called."""
        for status in ("on_stage", "waiting"):
            if line := self.line(status):
                return line[0]
        called = [e for e in self.entries.values() if e.call_no]
        return max(called, key=lambda e: e.call_no or 0) if called else None

    def up_next(self, n: int = 2) -> list[Entry]:
        """Who comes after the graduate the room is looking at (`current`): the rest of the line in the order it
        moves — on stage, then waiting in call order — then the pending queue in calling order."""
        current = self.current()
        return [e for e in self.reading_order() if e is not current][:max(n, 0)]

    def reading_order(self) -> list[Entry]:
        """Everyone still to go, in the order they walk: on stage, then waiting in call order, then the queue."""
        return [*self.line("on_stage"), *self.line("waiting"), *self.queue()]

    def to_read(self, last_read: str | None, n: int = 5) -> list[Entry]:
        """The reader's prompter: the next `n` names to read after `last_read` (the last name the reader ticked).
        Whoever is before it in the line was read too; once it has left the line (received, absent), the prompter
        starts again at the head of the line, so a lost place is never more than the people on stage behind."""
        ahead = self.reading_order()
        ids = [e.student_id for e in ahead]
        if last_read in ids:
            ahead = ahead[ids.index(last_read) + 1:]
        return ahead[:max(n, 0)]

    def read_before(self, last_read: str | None) -> str | None:
        """The prompter's Back: the reader's place one name earlier (None: the head of the line)."""
        ids = [e.student_id for e in self.reading_order()]
        at = ids.index(last_read) if last_read in ids else 0
        return ids[at - 1] if at > 0 else None

    def counts(self) -> dict[str, int]:
        return {status: len(self._by_status.get(status, {})) for status in STATUSES}


def _queue_order(e: Entry) -> float:
    return e.queue_pos


_LINE_ORDER = {"waiting": lambda e: e.call_no or 0, "on_stage": lambda e: (e.on_stage_at_ms or 0, e.call_no or 0)}


class CeremonyError(ValueError):
    """A staff action that does not make sense now (shown to the operator)."""


def apply(c: Ceremony, kind: str, payload: dict, at_ms: int) -> Ceremony:
    """Fold one event into the ceremony (mutates and returns it). Unknown kinds change nothing."""
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(c, payload, at_ms)
        _mark_front(c, at_ms)
    return c


def _mark_front(c: Ceremony, at_ms: int) -> None:
    """Whoever is first in the waiting line now, and was not before, starts their clock now."""
    waiting = c.line("waiting")
    if waiting and waiting[0].front_at_ms is None:
        waiting[0].front_at_ms = at_ms


def _flag(c: Ceremony, at_ms: int, kind: str, detail: str) -> None:
    c.flags.append(Flag(at_ms, kind, detail))


def _entry(c: Ceremony, payload: dict, at_ms: int, action: str) -> Entry | None:
    entry = c.entries.get(payload.get("student_id", ""))
    if entry is None:
        _flag(c, at_ms, "unknown_graduate", f"{action}: {payload.get('student_id')!r} is not in this ceremony")
    return entry


def _call(c: Ceremony, entry: Entry, at_ms: int) -> None:
    c.calls += 1
    entry.status, entry.call_no, entry.called_at_ms = "waiting", c.calls, at_ms
    entry.on_stage_at_ms = entry.received_at_ms = entry.front_at_ms = None


def _started(c: Ceremony, payload: dict, at_ms: int) -> None:
    c.status = "running"


def _ended(c: Ceremony, payload: dict, at_ms: int) -> None:
    c.status = "ended"


def _settings(c: Ceremony, payload: dict, at_ms: int) -> None:
    if "auto_advance" in payload:
        c.auto_advance = bool(payload["auto_advance"])
    if "absent_timeout_min" in payload:
        c.absent_timeout_ms = int(payload["absent_timeout_min"] * 60_000)


def _called(c: Ceremony, payload: dict, at_ms: int) -> None:
    if payload.get("student_id"):
        entry = _entry(c, payload, at_ms, "call")
        if entry is None:
            return
        if entry.status in ("waiting", "on_stage", "received"):
            _flag(c, at_ms, "already_called", f"{entry.student_id} is already {LABELS[entry.status].lower()}")
            return
    else:
        entry = c.next_up()
        if entry is None:
            _flag(c, at_ms, "queue_empty", "call next: nobody is left to call")
            return
    _call(c, entry, at_ms)


def _call_undone(c: Ceremony, payload: dict, at_ms: int) -> None:
    entry = _entry(c, payload, at_ms, "undo call")
    if entry is None or entry.status != "waiting":
        if entry is not None:
            _flag(c, at_ms, "undo_ignored", f"{entry.student_id} is {LABELS[entry.status].lower()}, not waiting")
        return
    entry.status, entry.call_no, entry.called_at_ms, entry.front_at_ms = "pending", None, None, None


def _skipped(c: Ceremony, payload: dict, at_ms: int) -> None:
    entry = _entry(c, payload, at_ms, "skip")
    if entry is not None and entry.status in ("pending", "waiting"):
        entry.status = "skipped"


def _requeued(c: Ceremony, payload: dict, at_ms: int) -> None:
    """A late arrival goes back into the line, to be called next."""
    entry = _entry(c, payload, at_ms, "re-queue")
    if entry is None:
        return
    if entry.status in ("on_stage", "received"):
        _flag(c, at_ms, "requeue_ignored", f"{entry.student_id} is already {LABELS[entry.status].lower()}")
        return
    first = c.next_up()
    entry.queue_pos = (first.queue_pos - 1.0) if first else entry.queue_pos
    entry.status, entry.call_no, entry.called_at_ms, entry.front_at_ms = "pending", None, None, None


def _status_set(c: Ceremony, payload: dict, at_ms: int) -> None:
    """Staff override: any status, with a reason (the reason is in the event, for the audit trail)."""
    entry = _entry(c, payload, at_ms, "override")
    status = payload.get("status")
    if entry is None:
        return
    if status not in STATUSES:
        _flag(c, at_ms, "bad_status", f"override to unknown status {status!r}")
        return
    if status == "waiting":
        _call(c, entry, at_ms)
        return
    entry.status = status
    if status == "on_stage":
        entry.on_stage_at_ms = at_ms
    elif status == "received":
        entry.received_at_ms = at_ms
    elif status == "pending":
        entry.call_no = entry.called_at_ms = entry.on_stage_at_ms = entry.received_at_ms = entry.front_at_ms = None


def _absent_timeout(c: Ceremony, payload: dict, at_ms: int) -> None:
    entry = c.entries.get(payload.get("student_id", ""))
    # Only the call the timer was started for: a re-call since then restarts the clock.
    if entry is not None and entry.status == "waiting" and entry.called_at_ms == payload.get("called_at_ms"):
        entry.status = "absent"


def _front_beam(c: Ceremony, payload: dict, at_ms: int) -> None:
    waiting = c.line("waiting")
    if not waiting:
        _flag(c, at_ms, "beam_unmatched", "front beam with nobody waiting")
        return
    waiting[0].status, waiting[0].on_stage_at_ms = "on_stage", at_ms


def _back_beam(c: Ceremony, payload: dict, at_ms: int) -> None:
    on_stage = c.line("on_stage")
    if not on_stage:
        _flag(c, at_ms, "beam_unmatched", "back beam with nobody on stage")
        return
    on_stage[0].status, on_stage[0].received_at_ms = "received", at_ms
    if c.auto_advance and not c.line("waiting") and (first := c.next_up()) is not None:
        _call(c, first, at_ms)


def _identified(c: Ceremony, payload: dict, at_ms: int) -> None:
    """RFID or face at the stage names the graduate: they are on stage, called or not."""
    entry = _entry(c, payload, at_ms, f"{payload.get('method', 'identified')} at the stage")
    if entry is None or entry.status in ("on_stage", "received"):
        return
    if entry.status != "waiting":
        _flag(c, at_ms, "not_called", f"{entry.student_id} reached the stage without being called")
        c.calls += 1
        entry.call_no = entry.call_no or c.calls
    entry.status, entry.on_stage_at_ms = "on_stage", at_ms


_HANDLERS = {
    "ceremony.started": _started, "ceremony.ended": _ended, "ceremony.settings": _settings,
    "ceremony.called": _called, "ceremony.call_undone": _call_undone, "ceremony.skipped": _skipped,
    "ceremony.requeued": _requeued, "ceremony.status_set": _status_set,
    "ceremony.absent_timeout": _absent_timeout, "beam.front": _front_beam, "beam.back": _back_beam,
    "stage.identified": _identified,
}


def due_timeouts(c: Ceremony, now_ms: int) -> list[Entry]:
    """Waiting graduates whose time to reach the stage has run out: counted from when each reached the front of
    the line (the ones behind them have not started their clock)."""
    if c.status != "running":
        return []
    return [e for e in c.line("waiting") if e.called_at_ms is not None and e.front_at_ms is not None
            and now_ms - max(e.front_at_ms, e.called_at_ms) >= c.absent_timeout_ms]


@dataclass(frozen=True)
class Pace:
    seconds_per_graduate: float | None  # median time between two graduates received
    eta_ms: dict[str, int]  # waiting and pending graduates -> expected time on stage
    expected_end_ms: int | None


def pace(c: Ceremony, now_ms: int) -> Pace:
    """ETAs from the live pace: the median gap between consecutive receptions (robust to one long speech)."""
    received = sorted(e.received_at_ms for e in c.entries.values() if e.received_at_ms)
    gaps = [b - a for a, b in pairwise(received) if b > a]
    if not gaps:
        return Pace(None, {}, None)
    step = median(gaps)
    ahead = [*c.line("on_stage"), *c.line("waiting"), *c.queue()]
    eta = {e.student_id: int(now_ms + n * step) for n, e in enumerate(ahead) if e.status in ("waiting", "pending")}
    end = int(now_ms + len(ahead) * step) if ahead else int(received[-1])
    return Pace(step / 1000, eta, end)


def snapshot(c: Ceremony) -> Ceremony:
    """A copy safe to fold into without touching the original (for previews and tests)."""
    return replace(c, entries={k: replace(v) for k, v in c.entries.items()}, flags=list(c.flags))

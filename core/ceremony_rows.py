"""A ceremony as the read model stores it (tables `ceremonies`, `ceremony_entries`), read back in one place:
by the fold (core/projections.py, inside its transaction) and by the pages (core/ceremonies.load).

Takes any DuckDB cursor, so it runs inside the caller's transaction; the state machine itself (core/ceremony.py)
stays free of I/O.
"""

from __future__ import annotations

from typing import Any

from core.ceremony import Ceremony, Entry

_CEREMONY = ("SELECT absent_timeout_min, status, auto_advance, calls, epoch_ms(started_at), epoch_ms(ended_at) "
             "FROM ceremonies WHERE ceremony_id = ?")
_ENTRIES = ("SELECT student_id, order_no, status, queue_pos, call_no, epoch_ms(called_at), epoch_ms(on_stage_at), "
            "epoch_ms(received_at), epoch_ms(front_at) FROM ceremony_entries WHERE ceremony_id = ?")


def read_ceremony(cur: Any, ceremony_id: str) -> tuple[Ceremony, int | None, int | None] | None:
    """(the ceremony, started_at_ms, ended_at_ms), or None when there is no such ceremony."""
    rows = cur.execute(_CEREMONY, [ceremony_id]).fetchall()  # read to the end: the cursor is used again below
    if not rows:
        return None
    timeout_min, status, auto_advance, calls, started_ms, ended_ms = rows[0]
    entries = {r[0]: Entry(*r) for r in cur.execute(_ENTRIES, [ceremony_id]).fetchall()}
    ceremony = Ceremony(ceremony_id, int(float(timeout_min) * 60_000), entries, status, bool(auto_advance),
                        int(calls))
    return ceremony, started_ms, ended_ms

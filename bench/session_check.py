"""What staying signed in costs each run (prints figures; not a pass/fail test).

    .venv/bin/python -m bench.session_check [--audit 1000000] [--signouts 20000] [--runs 200]

Every run of a signed-in page (timed fragments included) asks whether its session was signed out
(core.session_tokens.still_valid: one query on the audit trail), and a new tab signs in from its cookie
(restore: the MAC, the user row, the same query). Fills a temporary read model's audit trail with --audit rows
(--signouts of them sign-outs of other sessions), then times both: p50 / p95 over --runs. Goal: a few ms, well
under the 500 ms a live board refreshes in.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.timing import timed
from core import auth, session_tokens
from core.config import Settings
from core.eventlog import Event
from core.services import Rollcall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--signouts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = Rollcall(Settings(data_dir=Path(tmp) / "data"))
        app.submit(Event.new("user.created", {"username": "op1", "role": "operator", "must_change": False,
                                              "password_hash": auth.hash_password("bench-password-1")}, actor="b"))
        with app.db.write() as cur:  # synthetic history: other actions over a year, and other sessions' sign-outs
            cur.execute(
                "INSERT INTO audit SELECT 'bench-' || i, now() - to_seconds(i * 30), 'op' || (i % 50), "
                "CASE WHEN i < $signouts THEN 'user.updated' ELSE 'ceremony.called' END, 'op' || (i % 50), "
                "CASE WHEN i < $signouts THEN '{\"signed_out_session\":\"s' || i || '\"}' ELSE '{}' END, NULL "
                "FROM range($n) t(i)", {"n": args.audit, "signouts": args.signouts})
        user = auth.load_user(app, "op1")
        token, text = session_tokens.issue(app, user)
        rows = app.db.scalar("SELECT count(*) FROM audit")
        p50, p95 = timed(lambda: session_tokens.still_valid(app, token), args.runs)
        print(f"audit rows {rows:,}: still_valid (every run)   p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
        p50, p95 = timed(lambda: session_tokens.restore(app, text), args.runs)
        print(f"audit rows {rows:,}: restore (a new tab, F5)  p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
        app.close()


if __name__ == "__main__":
    main()

"""A 1,500-graduate ceremony: what one refresh of the board and of the prompter costs on the server, how much
HTML a board screen sends, and how long the line-up and reader sheets take to print (prints figures).

    .venv/bin/python -m bench.ceremony_tools [--graduates 1500] [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--graduates", type=int, default=1500)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ROLLCALL_DATA_DIR"] = str(Path(tmp) / "data")
        from core import ceremonies, ceremony_tools
        from core.config import get_settings
        from core.eventlog import Event
        from core.services import Rollcall
        from pages._ceremony_ui import sectioned_tiles, tiles

        app = Rollcall(get_settings())
        depts = ["คณะวิศวกรรมศาสตร์", "คณะนิเทศศาสตร์", "คณะวิทยาศาสตร์", "คณะบริหารธุรกิจ"]
        rows = [{"student_id": f"B{n:05d}", "name": f"นางสาวกิตติพัชร์ ศรีสวัสดิ์ {n}", "name_en": f"Graduate {n}",
                 "department": depts[n * len(depts) // (args.graduates + 1)], "pronunciation": "กิด-ติ-พัด"}
                for n in range(1, args.graduates + 1)]
        app.submit(
            Event.new("roster.imported", {"file_name": "b.csv", "encoding": "utf-8", "part": 1, "parts": 1,
                                          "columns": list(rows[0]), "rows": rows}, actor="bench"),
            Event.new("ceremony.created", {"ceremony_id": "big", "name": "พิธี", "on_date": "2026-12-02",
                                           "entries": [{"student_id": r["student_id"], "order_no": n}
                                                       for n, r in enumerate(rows, 1)]}, actor="bench"),
            Event.new("ceremony.started", {"ceremony_id": "big"}, actor="bench"))
        app.submit(*[Event.new("ceremony.called", {"ceremony_id": "big"}, actor="bench")
                     for _ in range(args.graduates // 2)])

        def timed(fn) -> tuple[float, object]:
            times, out = [], None
            for _ in range(args.runs):
                start = time.perf_counter()
                out = fn()
                times.append((time.perf_counter() - start) * 1000)
            return statistics.median(times), out

        def board_screen() -> str:
            state = ceremonies.load(app, "big")
            board = ceremonies.board(app, "big")
            current = state.current()
            shown = ceremony_tools.board_page(board, current.student_id if current else None)
            return sectioned_tiles(ceremony_tools.sections(shown.rows), ceremony_tools.department_totals(board),
                                   {}, app.settings.tz)

        ms, screen = timed(board_screen)
        full_ms, full = timed(lambda: tiles(ceremonies.board(app, "big"), {}, app.settings.tz))
        print(f"board screen ({ceremony_tools.BOARD_PAGE_SIZE} tiles of {args.graduates}): {ms:.1f} ms median a "
              f"refresh (load + query + window + HTML), {len(screen) / 1024:.0f} KiB of HTML")
        print(f"all {args.graduates} tiles at once: {full_ms:.1f} ms for query + HTML, {len(full) / 1024:.0f} KiB")
        ms, _ = timed(lambda: ceremony_tools.prompter(app, "big", "B00700", 5))
        print(f"prompter refresh (5 names): {ms:.1f} ms median")
        for kind in ("lineup", "reader"):
            start = time.perf_counter()
            pdf = ceremony_tools.sheet_pdf(app, "big", kind)
            print(f"{kind} sheet, {args.graduates} names: {time.perf_counter() - start:.1f} s, "
                  f"{len(pdf) / 1024:.0f} KiB")
        app.close()


if __name__ == "__main__":
    main()

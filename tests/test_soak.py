"""A short soak (bench/soak.py for the long one): ten minutes of ceremony and check-ins at 30× through the real
receiver into the real app with a live board open. Everything arrives and is folded, no error is logged, memory
stays put."""

from __future__ import annotations

from bench.soak import run


def test_a_short_accelerated_ceremony_with_check_ins(tmp_path):
    result = run(minutes=10, speed=30, graduates=60, checkins=200, sample=1.0, work=tmp_path)
    print(result.report())
    assert result.received == result.graduates == 60
    assert result.checkins_folded == result.checkins == 200
    assert result.beams == 120 and result.heartbeats >= 5
    assert result.ingest_errors == 0 and result.error_lines == []
    assert len(result.board_runs) > 20 and max(result.board_runs) < 5  # the board kept drawing
    # 20 s is too short to call a trend; it does show a leak that grows with each request or event.
    assert result.receiver.growth_after_warm_up_mb < 5
    assert result.app.growth_after_warm_up_mb < 30

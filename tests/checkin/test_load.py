"""The overload warning of the check-in page: told from the frame processor's own timing (injected clocks)."""

from __future__ import annotations

from itertools import chain, count

import pytest

from core.checkin.live import LiveCheckin
from core.checkin.load import LoadMonitor
from tests.checkin.conftest import canvas


class Clock:
    def __init__(self, now: float = 100.0, step: float = 0.0):
        self.now, self.step = now, step

    def __call__(self) -> float:
        self.now += self.step  # each reading advances: a processor that takes `step` per reading
        return self.now


def feed(monitor: LoadMonitor, clock: Clock, seconds: float, every: float, work: float) -> None:
    """Frames `every` seconds apart (the processor's pace), each taking `work` seconds to process."""
    end = clock.now + seconds
    while clock.now < end:
        start = clock.now
        monitor.frame(start, start + work)
        clock.now = start + every


def test_a_box_keeping_up_is_not_overloaded():
    clock = Clock()
    monitor = LoadMonitor(15, clock=clock)
    feed(monitor, clock, 3, every=0.04, work=0.012)  # a 25 fps camera, 12 ms a frame
    status = monitor.status()
    assert status.fps == pytest.approx(25, abs=1) and status.busy == pytest.approx(0.3, abs=0.05)
    assert not status.overloaded and status.message is None


def test_a_processor_busy_all_the_time_below_the_needed_rate_is_overloaded():
    clock = Clock()
    monitor = LoadMonitor(15, clock=clock)
    feed(monitor, clock, 3, every=0.1, work=0.1)  # 100 ms a frame, back to back: 10 fps, the rest dropped
    status = monitor.status()
    assert status.overloaded and status.fps == pytest.approx(10, abs=0.6) and status.busy > 0.95
    assert "overloaded" in status.message and "10 frames a second" in status.message and "needs 15" in status.message
    feed(monitor, clock, 3, every=0.04, work=0.02)  # another job ended: it keeps up again
    assert not monitor.status().overloaded


def test_a_camera_sending_few_frames_is_not_an_overload():
    clock = Clock()
    monitor = LoadMonitor(15, clock=clock)
    feed(monitor, clock, 3, every=0.125, work=0.015)  # 8 fps from the camera, the processor mostly idle
    status = monitor.status()
    assert status.fps < 15 and not status.overloaded


def test_no_verdict_without_enough_video():
    clock = Clock()
    monitor = LoadMonitor(15, clock=clock)
    assert not monitor.status().overloaded  # no frames yet
    feed(monitor, clock, 0.5, every=0.1, work=0.1)  # overloaded pace, but only half a second of it
    assert not monitor.status().overloaded
    feed(monitor, clock, 2, every=0.1, work=0.1)
    assert monitor.status().overloaded
    clock.now += 5  # the camera was switched off: its old frames no longer count
    assert not monitor.status().overloaded and monitor.status().fps == 0


def frame_clock(every: float, work: float):
    """The processor's clock, read at the start and at the end of each frame: frames `every` s apart, `work` s each."""
    readings = chain.from_iterable((100 + n * every, 100 + n * every + work) for n in count())
    return lambda: next(readings)


def test_the_processor_reports_overload_from_its_own_timing(live_app, picture):
    live = LiveCheckin(live_app, "op", clock=frame_clock(every=0.12, work=0.12))  # 120 ms a frame, back to back
    frame = canvas(picture("obama2.jpg"))
    for n in range(25):
        live.process(frame.copy(), 1_000 + n * 120)
    live.close()
    status = live.load_status()
    assert status.overloaded and 7.5 <= status.fps <= 9 and status.frame_ms == pytest.approx(120)
    relaxed = LiveCheckin(live_app, "op", clock=frame_clock(every=0.04, work=0.01))  # a 25 fps camera, 10 ms a frame
    for n in range(75):
        relaxed.process(frame.copy(), 1_000 + n * 40)
    relaxed.close()
    status = relaxed.load_status()
    assert not status.overloaded and status.fps == pytest.approx(25, abs=1)

"""The check-in page's frame processor: every frame in, an annotated frame out, attendance as events.

`process` runs on streamlit-webrtc's worker thread (no Streamlit calls there). It detects faces on
every frame, follows them with the tracker, recognises a track only until k of n recognitions agree
(and re-checks it every few seconds), applies the session's rules (time window, late threshold,
liveness, once per day, class membership) and records one attendance per person per session.
Appending to the event log happens on a separate thread, so a slow store never stalls the video.
The page's script thread reads `snapshot()` and calls `use_session` / `refresh`.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np

from core.attendance import attendance_event
from core.checkin import overlay
from core.checkin.liveness import Challenge, LivenessRules, Sample, challenge_for, passive_ok
from core.checkin.load import LoadMonitor, LoadStatus
from core.checkin.tracking import UNKNOWN, Track, Tracker
from core.eventlog import Event
from core.faces.eyes import eye_view
from core.faces.quality import estimate_yaw
from core.faces.scaling import ScaledDetector
from core.qr import QRError, read_card, read_qr_codes
from core.services import Rollcall
from core.session_rules import admit, session_gate
from core.sessions import already_attended_today
from core.timeutil import from_ms, local_day

log = logging.getLogger(__name__)


@dataclass
class Health:
    fps: float = 0.0  # frames processed per second (last two seconds)
    inference_ms: float = 0.0  # detection + recognition per frame, smoothed
    detect_scale: float = 1.0  # the resolution the last frame was detected at (1: full)
    frames: int = 0
    faces_now: int = 0
    peak: int = 0
    known_seen: set[str] = field(default_factory=set)
    unknown_tracks: int = 0
    recorded: int = 0


@dataclass(frozen=True)
class Seen:
    """One line of the 'latest' list the page shows while the camera runs."""
    at_ms: int
    student_id: str | None
    name: str
    outcome: str  # present | late | already recorded | refused: <why> | unknown
    score: float | None


class LiveCheckin:
    def __init__(self, app: Rollcall, operator: str, *, alerts=None, k: int = 3, n: int = 5,
                 reverify_ms: int = 3000, reacquire_ms: int = 300, qr_every: int = 6,
                 rules: LivenessRules | None = None, background: bool = False, status_every_ms: int = 1000,
                 scaled_detection: bool | None = None, sure_margin: float | None = None,
                 clock=time.monotonic):
        """`background`: recognise on a thread of its own, so video keeps the detector's frame rate while
        new faces are recognised (the page); without it each frame waits for its recognitions (tests, batch).
        `scaled_detection`: detect on a smaller copy while the faces are large (default: the setting).
        `reacquire_ms`: a face back after this long unseen (and missed in a frame at least) is recognised afresh
        (the next in a queue steps into the place of the one who left; the tracker keeps a lost face for a second,
        through missed detections).
        `sure_margin`: a first recognition this far above the person's threshold and ahead of the runner-up
        decides at once, without waiting for k of n (the pages pass `checkin_sure_margin`; None: always k of n).
        `clock`: monotonic seconds, for the load monitor (tests inject one)."""
        self.app = app
        self.operator = operator
        self.alerts = alerts
        self.reverify_ms = reverify_ms
        # The video reads its session's state itself this often (by the frames' clock): ended on this page, on
        # the Sessions page or on another instance, the banner says so within about a second, whether or not the
        # page's timed refresh runs (a browser slows the timers of a tab in the background).
        self.status_every_ms = status_every_ms
        self._status_read_ms: int | None = None
        self.reacquire_ms = reacquire_ms
        self.qr_every = qr_every
        self.rules = rules or LivenessRules(min_sharpness=app.settings.min_sharpness)
        self.tracker = Tracker(k=k, n=n)
        self.sure_margin = sure_margin
        if scaled_detection is None:
            scaled_detection = app.settings.checkin_scaled_detection
        self.detector = ScaledDetector(app.faces.engine, enabled=scaled_detection)
        self.load = LoadMonitor(app.settings.checkin_min_fps, clock=clock)
        self.health = Health()
        self.seen: deque[Seen] = deque(maxlen=20)
        self.session: dict | None = None
        self.session_id: str | None = None
        self._members: set[str] = set()
        self._names: dict[str, str] = {}
        self._recorded: set[str] = set()  # people with a record in this session (from any source)
        self._attended_elsewhere: set[str] = set()  # once per day: present at another session today
        self._instance = uuid.uuid4().hex[:8]  # track ids restart with the processor: keep event ids unique
        self._frame_times: deque[float] = deque(maxlen=60)
        self._refreshed = float("-inf")
        self._lock = threading.Lock()
        self._outbox: queue.Queue[Event | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_events, name="rollcall-checkin-writer", daemon=True)
        self._writer.start()
        self.background = background
        self._jobs: queue.Queue[tuple[Track, object, int] | None] = queue.Queue(maxsize=4)
        self._in_flight: set[int] = set()
        if background:
            threading.Thread(target=self._recognise_in_background, name="rollcall-checkin-recognise",
                             daemon=True).start()

    @classmethod
    def as_configured(cls, app: Rollcall, operator: str, **options) -> LiveCheckin:
        """As the pages run it: the settings' votes and sure margin, recognition beside the video (`options`
        override any of them)."""
        s = app.settings
        configured = {"k": s.checkin_votes_k, "n": s.checkin_votes_n, "sure_margin": s.checkin_sure_margin,
                      "background": True}
        return cls(app, operator, **{**configured, **options})

    # --- the script thread ---------------------------------------------------------------------

    def use_session(self, session_id: str | None) -> None:
        """Check in for this session from now on (None: recognise only, record nothing)."""
        with self._lock:
            if session_id != self.session_id:
                self.session_id = session_id
                self.tracker = Tracker(k=self.tracker.k, n=self.tracker.n)
                self.health = Health()
                self.seen.clear()
            self._load_session()

    def refresh(self, min_interval: float = 0.0) -> None:
        """Pick up what changed elsewhere: the session ended or was set up, records, enrollments — at most once
        per `min_interval` seconds (the page's live panel asks several times a second)."""
        now = time.monotonic()
        if now - self._refreshed < min_interval:
            return
        self._refreshed = now
        with self._lock:
            self._load_session()
        self.app.faces.refresh()

    def _load_session(self) -> None:
        if self.session_id is None:
            self.session, self._members, self._recorded = None, set(), set()
            return
        rows = self.app.db.query("SELECT s.*, c.name AS class_name FROM sessions s JOIN classes c USING (class_id) "
                                 "WHERE session_id = ?", [self.session_id])
        self.session = None if rows.empty else rows.iloc[0].to_dict()
        members = self.app.db.query(
            "SELECT m.student_id, coalesce(p.name, m.student_id) AS name FROM class_members m "
            "LEFT JOIN people p USING (student_id) WHERE m.class_id = ?",
            [self.session["class_id"] if self.session else ""])
        self._members = set(members["student_id"])
        self._names.update(zip(members["student_id"], members["name"], strict=True))
        recorded = self.app.db.query("SELECT student_id FROM attendance WHERE session_id = ?", [self.session_id])
        self._recorded = set(recorded["student_id"])
        self._attended_elsewhere = set()

    def snapshot(self) -> tuple[Health, list[Seen], dict | None]:
        with self._lock:
            health = dataclasses.replace(self.health, known_seen=set(self.health.known_seen))
            return health, list(self.seen), dict(self.session) if self.session else None

    def load_status(self) -> LoadStatus:
        """Is the box keeping up with this camera (from the processor's own timing)?"""
        with self._lock:
            return self.load.status()

    def last_frame_age(self) -> float:
        """Seconds since the last frame was processed (inf before the first): is video arriving?"""
        return time.monotonic() - self._frame_times[-1] if self._frame_times else float("inf")

    def close(self) -> None:
        if self.background:
            self._jobs.put(None)
        self._outbox.put(None)
        self._writer.join(timeout=5)

    # --- the video thread ----------------------------------------------------------------------

    def process(self, image: np.ndarray, now_ms: int | None = None) -> np.ndarray:
        """Look at one BGR frame; returns it with boxes, names, scores, liveness and the session status."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        started, began = time.perf_counter(), self.load.clock()
        self._read_status(now_ms)
        faces = self.detector.detect(image)
        with self._lock:
            tracks = self.tracker.update([f.box for f in faces], now_ms)
            for face, track in zip(faces, tracks, strict=True):
                self._look_at(image, face, track, now_ms)
            if self.qr_every and self.health.frames % self.qr_every == 0:
                self._read_cards(image, tracks, now_ms)
            self._count(faces, started)
            labels = [(track.box, *self._label(track)) for track in tracks]
            banner = self._banner(now_ms)
        for box, lines, colour in labels:
            overlay.draw_face(image, box, lines, colour)
        overlay.draw_banner(image, *banner)
        with self._lock:
            self.load.frame(began, self.load.clock())  # the whole callback: drawing counts too
        return image

    def _read_status(self, now_ms: int) -> None:
        """The session's row again (started, ended, its setup), when `status_every_ms` has passed."""
        session_id = self.session_id
        last = self._status_read_ms
        if session_id is None or (last is not None and 0 <= now_ms - last < self.status_every_ms):
            return
        self._status_read_ms = now_ms
        rows = self.app.db.query("SELECT * FROM sessions WHERE session_id = ?", [session_id])
        with self._lock:
            if rows.empty or self.session is None or self.session_id != session_id:
                return
            self.session = {**self.session, **rows.iloc[0].to_dict()}

    def _look_at(self, image: np.ndarray, face, track: Track, now_ms: int) -> None:
        if track.gap_ms >= self.reacquire_ms and track.gap_frames >= 1 and track.votes:
            # Maybe someone else: nothing of the last face carries over (its identity, record, head turn).
            track.votes.clear()
            track.identity = track.score = track.runner_up_gap = None
            track.state = {k: v for k, v in track.state.items() if k == "reported"}  # one alert a track
        state = track.state
        kind = self._liveness()
        if kind is not None:
            if state.get("challenge_kind") != kind:  # first look, or the session's check was changed
                state["challenge"], state["challenge_kind"] = challenge_for(kind, self.rules), kind
            challenge: Challenge = state["challenge"]
            if not challenge.passed:  # a passed face (recorded, or waiting for a rule) costs no eye view
                eyes = eye_view(image, face.landmarks) if challenge.needs_eyes else None
                challenge.observe(Sample(estimate_yaw(face.landmarks), eyes), now_ms)
        if track.identity is None or now_ms - (track.last_recognised_ms or 0) >= self.reverify_ms:
            self._recognise(track, face, now_ms)
        if track.identity is None:
            return
        if track.identity == UNKNOWN:
            if not state.get("reported"):
                state["reported"] = True
                self._report_unknown(image, track, now_ms)
            return
        self.health.known_seen.add(track.identity)
        if state.get("outcome") not in ("present", "late"):  # rules can change: the session starts, the head turns
            sharpness = float(cv2.Laplacian(cv2.cvtColor(face.aligned, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())
            state["outcome"] = self._try_record(track, face, sharpness, now_ms)

    # --- recognition: in the frame's thread, or beside it ------------------------------------------

    def _recognise(self, track: Track, face, now_ms: int) -> None:
        if not self.background:
            self._apply(track, self._match(face), now_ms)
            return
        if id(track) in self._in_flight:
            return  # its last face is still being recognised
        try:
            self._jobs.put_nowait((track, face, now_ms))
            self._in_flight.add(id(track))
        except queue.Full:
            pass  # recognition is behind: this frame is only tracked and drawn

    def _match(self, face):
        self.app.faces.engine.embed([face])
        return self.app.faces.gallery.match(face.embedding)

    def _apply(self, track: Track, match, now_ms: int) -> None:
        track.votes.add(match.student_id)
        track.score, track.runner_up_gap = match.score, match.runner_up_gap
        track.last_recognised_ms, track.recognitions = now_ms, track.recognitions + 1
        track.state["model"], track.state["threshold"] = match.model, match.threshold
        decided = track.votes.decision()
        if decided is None and track.identity is None and self._sure(match):
            decided = match.student_id
        if decided is not None and decided != track.identity:
            if track.identity is not None:  # the tracker swapped people, or a re-check disagrees
                track.state.pop("outcome", None)
            track.identity = decided

    def _sure(self, match) -> bool:
        """Far above the person's threshold and far ahead of anyone else: no need to wait for more votes."""
        margin = self.sure_margin
        return (margin is not None and match.known and match.score >= match.threshold + margin
                and match.runner_up_gap >= margin)

    def _recognise_in_background(self) -> None:
        while (job := self._jobs.get()) is not None:
            track, face, now_ms = job
            try:
                match = self._match(face)
            except Exception:
                log.exception("recognition failed")
                match = None
            with self._lock:
                self._in_flight.discard(id(track))
                if match is not None and self.tracker.tracks.get(track.track_id) is track:
                    self._apply(track, match, now_ms)

    def _liveness(self) -> str | None:
        """The session's active check (head_turn, blink, either), None when it is off."""
        kind = None if self.session is None else self.session.get("liveness")
        return None if kind in (None, "off") else str(kind)

    def _try_record(self, track: Track, face, sharpness: float, now_ms: int) -> str:
        """Record the track's person if every rule allows it; returns what to show on the video."""
        student_id = track.identity
        assert student_id is not None  # _look_at asks only for a decided, known person
        outcome = self._admit(student_id, now_ms)
        if outcome not in ("present", "late"):
            return outcome
        liveness = "off"
        if self._liveness() is not None:
            challenge: Challenge = track.state["challenge"]
            if not challenge.passed:
                return f"waiting: {challenge.prompt()}"
            if not passive_ok(sharpness, self.rules):
                return "waiting: hold still, the image is blurred"
            liveness = challenge.passed_as
        ok, crop = cv2.imencode(".jpg", face.aligned, [cv2.IMWRITE_JPEG_QUALITY, 80])
        evidence = {"runner_up_gap": track.runner_up_gap, "liveness": liveness, "model": track.state.get("model"),
                    "threshold": track.state.get("threshold"), "track": f"{self._instance}:{track.track_id}",
                    "recognitions": track.recognitions}
        if ok:
            evidence["crop_token"] = self.app.keys.encrypt(student_id, crop.tobytes())
        self._record(student_id, outcome, "face", now_ms, track.score, evidence)
        return outcome

    def _admit(self, student_id: str, now_ms: int) -> str:
        """present / late, or why this sighting does not count (core.session_rules.admit, as for device cameras)."""
        if self.session is None:
            return "no session chosen"
        at = from_ms(now_ms)
        status, why = admit(self.session, at, member=student_id in self._members,
                            already_recorded=student_id in self._recorded,
                            attended_elsewhere_today=lambda: self._attended_elsewhere_today(student_id, at))
        return status or why

    def _attended_elsewhere_today(self, student_id: str, at: datetime) -> bool:
        """Once-per-day rule. Asked only when every other rule passed; a yes is kept (until the next refresh) so a
        person standing in view does not cost a query per frame."""
        if student_id not in self._attended_elsewhere and already_attended_today(
                self.app, student_id, local_day(at, self.app.settings.tz), except_session=self.session_id):
            self._attended_elsewhere.add(student_id)
        return student_id in self._attended_elsewhere

    def _record(self, student_id: str, status: str, method: str, now_ms: int, score: float | None,
                evidence: dict) -> None:
        assert self.session_id is not None  # _admit let it through: a session is chosen
        self._recorded.add(student_id)
        self.health.recorded += 1
        self.seen.appendleft(Seen(now_ms, student_id, self._names.get(student_id, student_id), status, score))
        self._outbox.put(attendance_event(self.session_id, student_id, status, now_ms, method, self.operator,
                                          score=score, evidence=evidence))

    def _report_unknown(self, image: np.ndarray, track: Track, now_ms: int) -> None:
        self.health.unknown_tracks += 1
        self.seen.appendleft(Seen(now_ms, None, "unknown", "unknown", track.score))
        key = f"webcam:{self._instance}:{track.track_id}"
        self._outbox.put(Event(id=f"unknown:{key}", kind="face.unknown_seen", ts_ms=now_ms, actor=self.operator,
                               source="worker", payload={"source": "webcam", "score": track.score,
                                                          "session_id": self.session_id}))
        if self.alerts is not None:
            x, y, w, h = track.box
            pad = max(w, h) // 3
            crop = image[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad]
            ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                where = self.session["class_name"] if self.session else "the check-in camera"
                self.alerts.offer(key, jpeg.tobytes(), self.alerts.caption(where, now_ms), "webcam")

    def _read_cards(self, image: np.ndarray, tracks: list[Track], now_ms: int) -> None:
        """QR fallback: a genuine card shown to the camera checks its holder in (with a face, if the session asks)."""
        for text in read_qr_codes(image):
            try:
                _, student_id = read_card(self.app.settings, text)
            except QRError as exc:
                self.seen.appendleft(Seen(now_ms, None, "QR card", f"refused: {exc}", None))
                continue
            outcome = self._admit(student_id, now_ms)
            if outcome in ("present", "late") and (self.session or {}).get("qr_needs_face") \
                    and student_id not in {t.identity for t in tracks}:
                outcome = "waiting: show your face with the card"
            if outcome in ("present", "late"):
                self._record(student_id, outcome, "qr", now_ms, None, {"liveness": "not checked"})
            elif not outcome.startswith("waiting") and outcome != "already recorded":
                self.seen.appendleft(Seen(now_ms, student_id, self._names.get(student_id, student_id),
                                          f"refused: {outcome}", None))

    def _count(self, faces: list, started: float) -> None:
        h = self.health
        h.frames += 1
        h.faces_now = len(faces)
        h.detect_scale = self.detector.last_scale
        h.peak = max(h.peak, h.faces_now)
        elapsed_ms = (time.perf_counter() - started) * 1000
        h.inference_ms = elapsed_ms if h.frames == 1 else 0.8 * h.inference_ms + 0.2 * elapsed_ms
        now = time.monotonic()
        self._frame_times.append(now)
        while self._frame_times and now - self._frame_times[0] > 2.0:
            self._frame_times.popleft()
        span = self._frame_times[-1] - self._frame_times[0]
        h.fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0

    def _label(self, track: Track) -> tuple[list[str], tuple[int, int, int]]:
        score = f"{track.score:.2f}" if track.score is not None else ""
        if track.identity is None:
            return [f"… {score}"], overlay.GREY
        if track.identity == UNKNOWN:
            return [f"unknown {score}"], overlay.RED
        name = self._names.get(track.identity) or track.identity
        outcome = track.state.get("outcome", "")
        colour = {"present": overlay.GREEN, "late": overlay.YELLOW,
                  "already recorded": overlay.GREEN}.get(outcome, overlay.BLUE)
        return [f"{name} {score}", outcome], colour

    def _banner(self, now_ms: int) -> tuple[str, tuple[int, int, int]]:
        if self.session is None:
            return "NO SESSION — recognising only", overlay.GREY
        at = from_ms(now_ms)
        status, why = session_gate(self.session, at, must_be_started=True)
        name = self.session.get("class_name", "")
        if status is None:
            word = "ENDED" if "ended" in why or "closed" in why else "NOT ACTIVE"
            return f"{word} · {name} · {why}", overlay.RED
        return f"ACTIVE · {name}", overlay.GREEN

    # --- the writer thread -----------------------------------------------------------------------

    def _write_events(self) -> None:
        while (event := self._outbox.get()) is not None:
            try:
                self.app.submit(event, keep=True)  # the video showed it: kept in the outbox if the store is down
            except Exception:  # the video keeps going; the failure is in the log for the operator
                log.exception("could not record %s", event.id)

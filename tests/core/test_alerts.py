"""Unknown-face alerts over real HTTP on loopback, against a fake Bot API, into a real read model."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import datetime

import cv2
import numpy as np
import pytest

from core.alerts import AlertError, RateLimiter, TelegramClient, UnknownFaceAlerts
from core.config import Settings
from core.services import Rollcall
from tests.telegram_fake import CHAT, TOKEN, TelegramFake


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def face_jpeg(seed: int = 0) -> bytes:
    image = np.full((160, 120, 3), 90, np.uint8)
    cv2.circle(image, (60, 80), 45, (150, 180, 210), -1)
    image += np.random.default_rng(seed).integers(0, 20, image.shape, dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def alert_rows(app: Rollcall) -> dict[str, dict]:
    rows = app.db.query("SELECT * FROM alerts ORDER BY at_time, alert_id").to_dict("records")
    return {row["alert_id"]: row for row in rows}


def test_a_photo_of_the_unknown_face_reaches_the_chat(configure, telegram):
    app = configure()
    alerts = UnknownFaceAlerts(app)
    jpeg = face_jpeg()
    assert alerts.offer("webcam:s1:7", jpeg, source="Gate 1") is True
    assert alerts.drain()
    alerts.close()

    [photo] = telegram.photos
    assert (photo.token, photo.chat_id, photo.filename, photo.content_type) == (TOKEN, CHAT, "face.jpg", "image/jpeg")
    assert photo.photo == jpeg
    assert cv2.imdecode(np.frombuffer(photo.photo, np.uint8), cv2.IMREAD_COLOR).shape == (160, 120, 3)
    when = re.fullmatch(r"Unknown face at Gate 1, (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", photo.caption)
    assert when, photo.caption
    shown = datetime.strptime(when[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=app.settings.tz)
    assert abs((datetime.now(app.settings.tz) - shown).total_seconds()) < 60  # local time, not UTC

    row = alert_rows(app)["alert:webcam:s1:7"]
    assert (row["kind"], row["source"], row["status"], row["detail"]) == ("unknown_face", "Gate 1", "sent", "message 1")
    [stored] = [s.event for s in app.log.read_after(0) if s.event.kind == "alert.sent"]
    assert (stored.actor, stored.source) == ("alerts", "worker")
    assert "jpeg" not in json.dumps(stored.payload).lower()  # the log keeps the outcome, never the face


def test_a_given_caption_is_sent_as_is(configure, telegram):
    app = configure()
    alerts = UnknownFaceAlerts(app)
    assert alerts.offer("t1", face_jpeg(), "ใบหน้าที่ไม่รู้จัก ที่ประตู 2", "ประตู 2")
    assert alerts.drain()
    alerts.close()
    assert telegram.photos[0].caption == "ใบหน้าที่ไม่รู้จัก ที่ประตู 2"
    assert alert_rows(app)["alert:t1"]["source"] == "ประตู 2"


def test_each_track_alerts_once(configure, telegram):
    app = configure()
    alerts = UnknownFaceAlerts(app)
    assert [alerts.offer("track-1", face_jpeg(n)) for n in range(3)] == [True, False, False]
    assert alerts.offer("track-2", face_jpeg(9)) is True
    assert alerts.drain()
    assert alerts.offer("track-1", face_jpeg()) is False  # also after it was sent
    alerts.close()
    assert len(telegram.photos) == 2
    assert {k: r["status"] for k, r in alert_rows(app).items()} == {"alert:track-1": "sent", "alert:track-2": "sent"}


def test_the_remembered_tracks_are_bounded(configure, telegram):
    app = configure()
    alerts = UnknownFaceAlerts(app, remember=2)
    for key in ("a", "b", "c"):
        assert alerts.offer(key, face_jpeg())
    assert alerts.offer("c", face_jpeg()) is False
    assert alerts.drain()
    alerts.close()
    assert len(alerts._seen) == 2


def test_alerts_are_rate_limited(configure, telegram):
    app = configure(ALERT_MAX_PER_MINUTE="2")
    clock = Clock()
    alerts = UnknownFaceAlerts(app, clock=clock)
    assert [alerts.offer(f"t{n}", face_jpeg(n)) for n in range(3)] == [True, True, False]
    clock.now += 59
    assert alerts.offer("t3", face_jpeg(3)) is False
    clock.now += 1.5  # the first two are now more than a minute old
    assert alerts.offer("t4", face_jpeg(4)) is True
    assert alerts.drain()
    alerts.close()

    assert len(telegram.photos) == 3
    statuses = {k: r["status"] for k, r in alert_rows(app).items()}
    assert statuses == {"alert:t0": "sent", "alert:t1": "sent", "alert:t2": "rate_limited",
                        "alert:t3": "rate_limited", "alert:t4": "sent"}
    assert alert_rows(app)["alert:t2"]["detail"] == "not sent: over 2 alerts a minute"


def test_rate_limiter_is_a_sliding_window():
    clock = Clock()
    limiter = RateLimiter(3, 60, clock)
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.now += 30
    assert limiter.try_acquire() is False
    clock.now += 30
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
    limiter.hold(100)
    clock.now += 90
    assert limiter.held() and limiter.try_acquire() is False
    clock.now += 10
    assert not limiter.held() and limiter.try_acquire() is True
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_a_telegram_error_is_recorded_without_the_token(configure, telegram, caplog):
    caplog.set_level(logging.DEBUG)
    app = configure()
    telegram.fail(401, "Unauthorized")
    alerts = UnknownFaceAlerts(app)
    assert alerts.offer("t1", face_jpeg(), source="Gate 1") is True
    assert alerts.drain()
    alerts.close()

    row = alert_rows(app)["alert:t1"]
    assert row["status"] == "failed"
    assert row["detail"] == "Telegram refused sendPhoto (401): Unauthorized"
    assert telegram.requests and TOKEN in telegram.requests[0]  # the token was used...
    assert TOKEN not in caplog.text  # ...but never logged
    assert "<bot-token>" in caplog.text  # httpx's request line, masked
    assert all(TOKEN not in json.dumps(s.event.payload) for s in app.log.read_after(0))


def test_a_wrong_token_fails_and_an_unreachable_server_too(configure, telegram):
    app = configure(TELEGRAM_BOT_TOKEN="999:WrongToken")
    alerts = UnknownFaceAlerts(app)
    alerts.offer("t1", face_jpeg())
    assert alerts.drain()
    telegram.stop()
    alerts.offer("t2", face_jpeg())
    assert alerts.drain()
    alerts.close()
    rows = alert_rows(app)
    assert rows["alert:t1"]["detail"] == "Telegram refused sendPhoto (401): Unauthorized"
    assert rows["alert:t2"]["status"] == "failed"
    assert rows["alert:t2"]["detail"].startswith("Telegram could not be reached: ConnectError")
    assert not any("WrongToken" in r["detail"] for r in rows.values())


def test_telegram_asking_to_wait_holds_every_alert_back(configure, telegram):
    app = configure()
    clock = Clock()
    alerts = UnknownFaceAlerts(app, clock=clock)
    telegram.rate_limit(retry_after=30)
    assert alerts.offer("t1", face_jpeg()) is True
    assert alerts.drain()
    telegram.reset()
    assert alerts.offer("t2", face_jpeg()) is False  # still inside Telegram's 30 s
    clock.now += 31
    assert alerts.offer("t3", face_jpeg()) is True
    assert alerts.drain()
    alerts.close()

    rows = alert_rows(app)
    assert rows["alert:t1"]["status"] == "rate_limited"
    assert rows["alert:t1"]["detail"] == "Telegram refused sendPhoto (429): Too Many Requests: retry after 30"
    assert (rows["alert:t2"]["status"], rows["alert:t2"]["detail"]) == ("rate_limited",
                                                                      "not sent: Telegram asked to wait")
    assert rows["alert:t3"]["status"] == "sent"
    assert len(telegram.photos) == 1


def test_client_reports_retry_after():
    with TelegramFake() as fake:
        fake.rate_limit(retry_after=7)
        client = TelegramClient(fake.url, TOKEN, CHAT, timeout=2)
        with pytest.raises(AlertError) as caught:
            client.send_photo(face_jpeg(), "x")
        client.close()
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(client)


def test_nothing_is_sent_when_alerts_are_not_configured(app, telegram):
    assert not app.settings.alerts_enabled
    alerts = UnknownFaceAlerts(app)
    assert not alerts.enabled
    assert alerts.offer("t1", face_jpeg(), source="Gate 1") is False
    alerts.close()
    assert telegram.requests == []
    assert alert_rows(app) == {}
    assert not [s for s in app.log.read_after(0) if s.event.kind == "alert.sent"]


@pytest.mark.parametrize(("token", "chat", "enabled"), [
    (None, None, False), (TOKEN, None, False), (None, CHAT, False), (TOKEN, "", False), (" ", CHAT, False),
    (TOKEN, CHAT, True),
])
def test_alerts_need_both_a_token_and_a_chat(token, chat, enabled):
    settings = Settings(telegram_bot_token=token, telegram_chat_id=chat)
    assert settings.alerts_enabled is enabled
    assert TOKEN not in repr(settings)


def test_offer_does_not_wait_for_a_slow_telegram(configure, telegram):
    app = configure()
    telegram.delay = 2.0
    alerts = UnknownFaceAlerts(app)
    started = time.perf_counter()
    assert alerts.offer("t1", face_jpeg()) is True
    took = [time.perf_counter() - started]
    deadline = time.monotonic() + 5
    while not telegram.requests and time.monotonic() < deadline:  # the sender now waits on Telegram
        time.sleep(0.01)
    started = time.perf_counter()
    assert alerts.offer("t2", face_jpeg(1)) is True
    took.append(time.perf_counter() - started)
    assert max(took) < 0.5, took
    alerts.close()  # waits for the photo in flight; the queued one is recorded as not sent
    rows = alert_rows(app)
    assert rows["alert:t1"]["status"] == "sent"
    assert (rows["alert:t2"]["status"], rows["alert:t2"]["detail"]) == ("failed", "not sent: the app was stopping")
    assert len(telegram.photos) == 1


def test_a_timeout_is_a_failed_alert(configure, telegram):
    app = configure(ALERT_TIMEOUT_SECONDS="0.3")
    telegram.delay = 1.0
    alerts = UnknownFaceAlerts(app)
    alerts.offer("t1", face_jpeg())
    assert alerts.drain()
    alerts.close()
    row = alert_rows(app)["alert:t1"]
    assert row["status"] == "failed" and "ReadTimeout" in row["detail"]


def test_a_full_queue_drops_the_alert_and_records_it(configure, telegram):
    app = configure()
    telegram.delay = 1.0
    alerts = UnknownFaceAlerts(app, max_queue=1)
    assert alerts.offer("t1", face_jpeg()) is True
    deadline = time.monotonic() + 5
    while not telegram.requests and time.monotonic() < deadline:  # t1 is in flight, the queue empty
        time.sleep(0.01)
    assert alerts.offer("t2", face_jpeg()) is True
    assert alerts.offer("t3", face_jpeg()) is False
    assert alerts.drain()
    alerts.close()
    statuses = {k: r["status"] for k, r in alert_rows(app).items()}
    assert statuses == {"alert:t1": "sent", "alert:t2": "sent", "alert:t3": "failed"}
    assert alert_rows(app)["alert:t3"]["detail"] == "not sent: the alert queue was full"


def test_close_stops_the_sender(configure, telegram):
    app = configure()
    alerts = UnknownFaceAlerts(app)
    thread = alerts._thread
    assert thread is not None and thread.is_alive()
    alerts.stop()  # the name app.close() calls on app.workers
    assert not thread.is_alive()
    assert alerts.offer("t1", face_jpeg()) is False

"""Telegram: unknown-face alerts (the face's photo to a staff chat, at most once per track and rate-limited), and
the families' channel (a graduate approaching the stage, on stage now).

The webcam's frame callback runs on a worker thread that must never wait, so `UnknownFaceAlerts.offer`
only decides and queues; one background thread talks to Telegram and records every outcome as an
`alert.sent` event (folded into the `alerts` table). Nothing is sent unless the bot token and the chat id
are both set. The bot token is part of every Bot API URL: it is masked in every message and log line.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from core.eventlog import Event, now_ms
from core.timeutil import from_ms
from core.workers import Poller

log = logging.getLogger(__name__)

REDACTED = "<bot-token>"
CAPTION_LIMIT = 1024  # Telegram cuts longer photo captions
MESSAGE_LIMIT = 4096
WINDOW_SECONDS = 60.0


class AlertError(RuntimeError):
    """Telegram refused the request or could not be reached. The message never holds the bot token;
    `retry_after` is set when Telegram asked us to wait (HTTP 429)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _MaskSecret(logging.Filter):
    """httpx logs each request's URL, and a Bot API URL holds the token: mask it before any handler sees it."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, REDACTED), ()
        return True


class TelegramClient:
    """A minimal Bot API client: one method, `send_photo`. Safe to use from one thread at a time."""

    def __init__(self, api_base: str, token: str, chat_id: str, timeout: float = 5.0):
        if not token or not str(chat_id):
            raise ValueError("a Telegram bot token and chat id are needed")
        self.api_base = api_base.rstrip("/")
        self.chat_id = str(chat_id)
        self._token = token
        self._http = httpx.Client(timeout=timeout)
        self._mask = _MaskSecret(token)
        logging.getLogger("httpx").addFilter(self._mask)

    def __repr__(self) -> str:
        return f"TelegramClient({self.api_base!r}, chat_id={self.chat_id!r})"

    def redact(self, text: str) -> str:
        return text.replace(self._token, REDACTED)

    def send_photo(self, jpeg: bytes, caption: str) -> dict[str, Any]:
        """Send a JPEG with a caption to the chat; returns the Bot API `result` (the message)."""
        return self._call("sendPhoto", data={"chat_id": self.chat_id, "caption": caption[:CAPTION_LIMIT]},
                          files={"photo": ("face.jpg", jpeg, "image/jpeg")})

    def send_message(self, text: str) -> dict[str, Any]:
        """Send a text message to the chat; returns the Bot API `result` (the message)."""
        return self._call("sendMessage", data={"chat_id": self.chat_id, "text": text[:MESSAGE_LIMIT]})

    def _call(self, method: str, **request: Any) -> dict[str, Any]:
        try:
            response = self._http.post(f"{self.api_base}/bot{self._token}/{method}", **request)
        except httpx.HTTPError as exc:
            # `from None`: the httpx error's own text may hold the URL, hence the token.
            raise AlertError(self.redact(f"Telegram could not be reached: {type(exc).__name__}: {exc}")) from None
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise AlertError(f"Telegram answered HTTP {response.status_code} without a Bot API reply",
                             status=response.status_code)
        if response.is_success and reply.get("ok") is True:
            result = reply.get("result")
            return result if isinstance(result, dict) else {"result": result}
        code = reply.get("error_code") or response.status_code
        description = str(reply.get("description") or "no description")
        parameters = reply.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        retry_after = float(retry_after) if isinstance(retry_after, int | float) else None
        message = f"Telegram refused {method} ({code}): {description}"
        if retry_after is not None and "retry after" not in description.lower():
            message += f"; retry after {retry_after:g} s"
        raise AlertError(self.redact(message), status=response.status_code, retry_after=retry_after)

    def close(self) -> None:
        self._http.close()
        logging.getLogger("httpx").removeFilter(self._mask)


class RateLimiter:
    """At most `limit` acquisitions in any `window` seconds (a sliding window). `hold(s)` refuses
    everything for s seconds, e.g. when Telegram answers 429 with `retry_after`. Thread-safe."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic):
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        self.limit = limit
        self.window = window
        self.clock = clock
        self._times: collections.deque[float] = collections.deque()
        self._held_until = float("-inf")
        self._lock = threading.Lock()

    def held(self) -> bool:
        with self._lock:
            return self.clock() < self._held_until

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._held_until = max(self._held_until, self.clock() + seconds)

    def try_acquire(self) -> bool:
        with self._lock:
            now = self.clock()
            if now < self._held_until:
                return False
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False
            self._times.append(now)
            return True


@dataclass(frozen=True)
class _Alert:
    track_key: str
    ts_ms: int
    source: str
    jpeg: bytes = b""
    caption: str = ""
    status: str | None = None  # set when the outcome is already known (nothing to send)
    detail: str | None = None


class UnknownFaceAlerts:
    """Decides on the caller's thread, sends on its own.

    `offer` is safe to call from a video frame callback: it takes a lock for a few microseconds and
    never does I/O. Each track key alerts at most once (the last `remember` keys are kept); over the
    rate limit, or with the queue full, the alert is refused and recorded as such. One background thread
    sends the queued photos and appends an `alert.sent` event for each outcome. `close()` (or `stop()`,
    so it can sit in `app.workers`) stops it.
    """

    def __init__(self, app: Any, client: TelegramClient | None = None,
                 clock: Callable[[], float] = time.monotonic, *, max_queue: int = 16, remember: int = 10_000):
        self.app = app
        settings = app.settings
        self._owns_client = False
        if client is None and settings.alerts_enabled:
            client = TelegramClient(settings.telegram_api_base, settings.telegram_bot_token.get_secret_value(),
                                    settings.telegram_chat_id, settings.alert_timeout_seconds)
            self._owns_client = True
        self.client = client
        self.limiter = RateLimiter(settings.alert_max_per_minute, WINDOW_SECONDS, clock)
        self.max_queue = max_queue
        self._remember = remember
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._queue: collections.deque[_Alert] = collections.deque()  # photos to send, at most max_queue
        self._outcomes: collections.deque[_Alert] = collections.deque(maxlen=1000)  # refusals to record
        self._wake = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        if self.client is not None:
            self._thread = threading.Thread(target=self._run, name="rollcall-alerts", daemon=True)
            self._thread.start()

    @property
    def enabled(self) -> bool:
        return self.client is not None and not self._closed

    def caption(self, source: str, at_ms: int | None = None) -> str:
        at = from_ms(now_ms() if at_ms is None else at_ms)
        return f"Unknown face at {source}, {at.astimezone(self.app.settings.tz):%Y-%m-%d %H:%M:%S}"

    def offer(self, track_key: str, jpeg: bytes, caption: str | None = None, source: str = "camera") -> bool:
        """Queue an alert for this unknown face's track; True when queued for sending. Never blocks.

        False when alerts are off (nothing is recorded), when this track already had its alert, or when
        the alert was refused (rate limit, full queue: recorded with status `rate_limited` / `failed`).
        Without a caption, `caption(source)` is used.
        """
        if not self.enabled or not jpeg:
            return False
        at_ms = now_ms()
        with self._wake:
            if self._closed or track_key in self._seen:
                return False
            self._seen[track_key] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            if len(self._queue) >= self.max_queue:
                refused = _Alert(track_key, at_ms, source, status="failed", detail="not sent: the alert queue was full")
            elif self.limiter.held():
                refused = _Alert(track_key, at_ms, source, status="rate_limited",
                                 detail="not sent: Telegram asked to wait")
            elif not self.limiter.try_acquire():
                refused = _Alert(track_key, at_ms, source, status="rate_limited",
                                 detail=f"not sent: over {self.limiter.limit} alerts a minute")
            else:
                self._queue.append(_Alert(track_key, at_ms, source, bytes(jpeg),
                                          caption or self.caption(source, at_ms)))
                self._wake.notify()
                return True
            self._outcomes.append(refused)
            self._wake.notify()
            return False

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything offered so far is sent and recorded (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._outcomes or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._wake.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            timeout = self.app.settings.alert_timeout_seconds
            self._thread.join(timeout=timeout * 2 + 1)
            self._thread = None
        if self._owns_client and self.client is not None:
            self.client.close()

    stop = close

    # --- the sender thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._queue or self._outcomes or self._closed):
                    self._wake.wait()
                if self._closed and not (self._queue or self._outcomes):
                    return
                outcomes = list(self._outcomes)
                self._outcomes.clear()
                alert = self._queue.popleft() if self._queue else None
                closing = self._closed
                self._busy = True
            try:
                for refused in outcomes:
                    self._record(refused, refused.status or "failed", refused.detail)
                if alert is not None:
                    if closing:
                        self._record(alert, "failed", "not sent: the app was stopping")
                    else:
                        self._send(alert)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _send(self, alert: _Alert) -> None:
        assert self.client is not None
        if self.limiter.held():
            self._record(alert, "rate_limited", "not sent: Telegram asked to wait")
            return
        try:
            message = self.client.send_photo(alert.jpeg, alert.caption)
            status, detail = "sent", f"message {message.get('message_id')}"
        except AlertError as exc:
            if exc.retry_after is not None:
                self.limiter.hold(exc.retry_after)
            status, detail = ("rate_limited" if exc.retry_after is not None else "failed"), str(exc)
        except Exception as exc:  # noqa: BLE001 - the sender must not die on a surprise; the outcome is recorded
            status, detail = "failed", self.client.redact(f"{type(exc).__name__}: {exc}")
        if status != "sent":
            log.warning("unknown-face alert for %s %s: %s", alert.track_key, status, detail)
        self._record(alert, status, detail)

    def _record(self, alert: _Alert, status: str, detail: str | None) -> None:
        event = Event(id=f"alert:{alert.track_key}", kind="alert.sent", ts_ms=alert.ts_ms, actor="alerts",
                      source="worker", payload={"kind": "unknown_face", "source": alert.source, "status": status,
                                                "detail": detail})
        try:
            self.app.submit(event, keep=True)  # the message went out: its record must not be lost
        except Exception:
            log.exception("could not record the alert for %s", alert.track_key)


# --- the families' channel ---------------------------------------------------------------------

STAGES = {"called": "approaching the stage", "on_stage": "on stage now"}


@dataclass(frozen=True)
class FamilyMessage:
    alert_id: str  # alert:family:<ceremony>:<call no>:<stage>: no name, no student id (the log keeps it)
    ceremony_id: str
    stage: str  # called | on_stage
    at_ms: int
    text: str


def family_text(stage: str, name: str, order_no: int, department: str) -> str:
    return f"🎓 {name} — {STAGES[stage]} (#{order_no}{' · ' + department if department else ''})"


def due_family_messages(app: Any, since_ms: int) -> list[FamilyMessage]:
    """Calls and arrivals on stage since `since_ms` in running ceremonies (not rehearsals) that have no message
    yet. A call already on stage gets only its "on stage now"."""
    from core.ceremony import REHEARSAL_PREFIX

    rows = app.db.query(
        """
        WITH moves AS (
            SELECT e.ceremony_id, e.call_no, e.order_no, 'called' AS stage, epoch_ms(e.called_at) AS at_ms,
                   e.student_id
            FROM ceremony_entries e JOIN ceremonies c USING (ceremony_id)
            WHERE c.status = 'running' AND e.called_at IS NOT NULL AND e.on_stage_at IS NULL
              AND epoch_ms(e.called_at) >= ? AND e.call_no IS NOT NULL
            UNION ALL
            SELECT e.ceremony_id, e.call_no, e.order_no, 'on_stage', epoch_ms(e.on_stage_at), e.student_id
            FROM ceremony_entries e JOIN ceremonies c USING (ceremony_id)
            WHERE c.status = 'running' AND e.on_stage_at IS NOT NULL AND epoch_ms(e.on_stage_at) >= ?
              AND e.call_no IS NOT NULL)
        SELECT 'alert:family:' || m.ceremony_id || ':' || m.call_no || ':' || m.stage AS alert_id, m.ceremony_id,
               m.stage, m.at_ms, m.order_no, coalesce(nullif(trim(p.name), ''), m.student_id) AS name,
               coalesce(p.department, '') AS department
        FROM moves m LEFT JOIN people p USING (student_id)
        WHERE NOT starts_with(m.ceremony_id, ?)
          AND 'alert:family:' || m.ceremony_id || ':' || m.call_no || ':' || m.stage
              NOT IN (SELECT alert_id FROM alerts)
        ORDER BY m.at_ms
        """, [since_ms, since_ms, REHEARSAL_PREFIX])
    return [FamilyMessage(r.alert_id, r.ceremony_id, r.stage, int(r.at_ms),
                          family_text(r.stage, r.name, int(r.order_no), r.department))
            for r in rows.itertuples(index=False)]


class FamilyMessages(Poller):
    """Follows the running ceremony and posts each call and arrival on stage to the families' channel, at most
    `family_max_per_minute`; over the limit a message is dropped (a late "approaching the stage" is wrong), and
    recorded as such. Only what happened in the last `family_fresh_seconds` and since this worker started is
    announced, each once (its `alert.sent` record names the ceremony and the call, never the graduate)."""

    name = "rollcall-family-messages"

    def __init__(self, app: Any, client: TelegramClient | None = None, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], int] = now_ms):
        super().__init__()
        settings = app.settings
        self.app, self.now = app, now
        self._owns_client = False
        if client is None and settings.family_messages_enabled:
            client = TelegramClient(settings.telegram_api_base, settings.telegram_bot_token.get_secret_value(),
                                    settings.family_chat_id, settings.alert_timeout_seconds)
            self._owns_client = True
        self.client = client
        self.limiter = RateLimiter(settings.family_max_per_minute, WINDOW_SECONDS, clock)
        self.started_ms = now()
        self._done: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def start(self, poll_seconds: float) -> None:
        if self.enabled:  # off: no thread at all
            super().start(poll_seconds)

    def stop(self) -> None:
        super().stop()
        if self._owns_client and self.client is not None:
            self.client.close()

    def tick(self) -> int:
        if not self.enabled:
            return 0
        since = max(self.started_ms, self.now() - int(self.app.settings.family_fresh_seconds * 1000))
        sent = 0
        for message in due_family_messages(self.app, since):
            if message.alert_id in self._done:  # recorded, not folded yet
                continue
            self._done.add(message.alert_id)
            sent += self._post(message)
        return sent

    def _post(self, message: FamilyMessage) -> int:
        assert self.client is not None
        if not self.limiter.try_acquire():
            status, detail = "rate_limited", f"not sent: over {self.limiter.limit} messages a minute"
        else:
            try:
                status, detail = "sent", f"message {self.client.send_message(message.text).get('message_id')}"
            except AlertError as exc:
                if exc.retry_after is not None:
                    self.limiter.hold(exc.retry_after)
                status, detail = ("rate_limited" if exc.retry_after is not None else "failed"), str(exc)
        if status != "sent":
            log.warning("families' message %s %s: %s", message.alert_id, status, detail)
        event = Event(id=message.alert_id, kind="alert.sent", ts_ms=message.at_ms, actor="alerts", source="worker",
                      payload={"kind": f"family_{message.stage}", "source": message.ceremony_id, "status": status,
                               "detail": detail})
        self.app.submit(event, keep=True)
        return status == "sent"

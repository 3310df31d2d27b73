"""FastAPI receiver: authenticates each device request, validates it and appends to the event log.

It never opens DuckDB and loads no models, so it can run beside the app or as several replicas.
Run: `uvicorn receiver.app:app --host 127.0.0.1 --port 8502` plus `uvicorn_args(settings)` (`make run` starts it).
Admission: a token bucket per device (requests) and one across all devices (events) before anything is stored;
every event-log call runs on a worker thread with a deadline, so a stuck store answers 503 and never blocks
the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.config import Settings, get_settings
from core.eventlog import Event, EventLog, EventLogError, EventLogUnavailable, now_ms, open_event_log
from receiver.deps import (
    DEVICE_ID,
    Problem,
    ReceiverState,
    Signed,
    SignedEvents,
    SignedFrame,
    SignedHeartbeat,
    retry_after,
)

log = logging.getLogger("rollcall.receiver")
BOOT_ID = r"^[A-Za-z0-9_-]{1,32}$"
PROBLEM = "application/problem+json"
_STORE_RETRY_AFTER = "2"  # seconds; the firmware backs off on its own too
Clock = Callable[[], float]  # monotonic seconds; injected by tests
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def problem_response(p: Problem, path: str) -> JSONResponse:
    log.warning("refused %s: %s %s: %s", path, p.status, p.code, p.reason)
    body = {"type": f"/problems/{p.code}", "title": p.code.replace("_", " "), "status": p.status,
            "code": p.code, "detail": p.detail}
    return JSONResponse(body, status_code=p.status, media_type=PROBLEM, headers=p.headers)


# --- request bodies (strict: unknown fields are refused) ---------------------------------------

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RfidPayload(Strict):
    tag: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{4,32}$")]


class DeviceEvent(Strict):
    device_id: Annotated[str, Field(pattern=DEVICE_ID)]
    boot_id: Annotated[str, Field(pattern=BOOT_ID)]
    seq: Annotated[int, Field(ge=1, le=2**53)]
    kind: Literal["beam.front", "beam.back", "rfid.scan", "pir.trigger", "button.press"]
    ts_ms: Annotated[int, Field(ge=0, le=2**53)]
    payload: dict = Field(default_factory=dict)


class EventBatch(Strict):
    events: Annotated[list[DeviceEvent], Field(min_length=1)]


class Heartbeat(Strict):
    device_id: Annotated[str, Field(pattern=DEVICE_ID)]
    boot_id: Annotated[str, Field(pattern=BOOT_ID)]
    firmware: Annotated[str, Field(max_length=32)]
    uptime_s: Annotated[int, Field(ge=0, le=2**40)]
    rssi: Annotated[int, Field(ge=-127, le=20)]
    queue_depth: Annotated[int, Field(ge=0, le=2**31)]
    free_heap: Annotated[int, Field(ge=0, le=2**40)]


class Accepted(BaseModel):
    accepted: int
    duplicates: int


# --- admission: token buckets with an injectable clock -----------------------------------------

class TokenBucket:
    """`rate` tokens a second, up to `burst`. In memory: each replica limits on its own."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic):
        if rate <= 0 or burst <= 0:
            raise ValueError("a rate limit needs a rate and a burst above zero")  # at start-up, not as a 500 later
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens, self._last = burst, clock()
        self._lock = threading.Lock()

    def take(self, cost: float = 1.0) -> float:
        """Take `cost` tokens: 0.0 when admitted, else the seconds until they would be there (nothing taken)."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
            self._last = now
            # A cost above the burst could never be met: it passes on a full bucket and leaves a debt instead.
            need = min(cost, self.burst)
            if self._tokens >= need:
                self._tokens -= cost
                return 0.0
            return (need - self._tokens) / self.rate


class RateLimiter:
    """One token bucket per key (an authenticated device id, so the keys are bounded by the registry)."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.clock)
        return bucket.take(cost)


def device_event_id(device_id: str, boot_id: str, seq: int | str) -> str:
    """A device event's stable id (a retry is a duplicate), in a namespace of its own: whatever a device calls
    itself, its ids never equal the app's own (`attendance:<session>:<person>`, `absent:…`, UUIDs), so a device
    cannot pre-empt a real check-in by posting its id first."""
    return f"dev:{device_id}:{boot_id}:{seq}"


def frame_cost(size: int, bytes_per_event: int) -> int:
    """A frame weighs on the log by its size: one event per `bytes_per_event` bytes, at least one."""
    return max(1, math.ceil(size / bytes_per_event))


def clock_error(ts_ms: int, received_ms: int, max_skew_hours: int) -> str | None:
    """Why a device-given time cannot be taken, or None. One rule for event times and frame capture times."""
    if abs(ts_ms - received_ms) > max_skew_hours * 3600_000:
        return f"is more than {max_skew_hours} h from the server clock (is NTP set?)"
    return None


class Store:
    """Runs the blocking event-log calls on worker threads with a deadline.

    SQLite and Firestore's client block; on the event loop one stuck call froze every request (/healthz too).
    A call that misses the deadline raises EventLogUnavailable (answered 503); it may still finish on its
    thread, which is harmless: appends are idempotent by event id, so the device's retry is a duplicate.
    A call still queued when its deadline passes is cancelled, so a stuck store does not pile up work.
    """

    def __init__(self, log: EventLog, threads: int, timeout: float):
        self.log, self.timeout = log, timeout
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="rollcall-eventlog")

    async def __call__(self, fn: Callable[..., T], *args: object) -> T:
        name = getattr(fn, "__name__", "call")
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self._pool.submit(fn, *args)), self.timeout)
        except TimeoutError:
            raise EventLogUnavailable(f"event log {name} took longer than {self.timeout} s") from None
        except sqlite3.OperationalError as exc:  # "database is locked", I/O errors: the local store is unavailable
            raise EventLogUnavailable(f"event log {name}: {exc}") from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.log.close()


# --- the app -----------------------------------------------------------------------------------

def create_app(settings: Settings | None = None, *, clock: Clock = time.monotonic) -> FastAPI:
    """`clock` (monotonic seconds) drives the rate limits, so tests can advance time instead of sleeping."""
    settings = settings or get_settings()
    state = ReceiverState(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        state.store = Store(open_event_log(settings), settings.receiver_store_threads,
                            settings.receiver_store_timeout_seconds)
        state.limiter = RateLimiter(settings.device_rate_per_second, 2 * settings.device_rate_per_second, clock)
        state.admission = TokenBucket(settings.receiver_max_events_per_second,
                                      2 * settings.receiver_max_events_per_second, clock)
        yield
        state.store.close()

    app = FastAPI(title="Rollcall device receiver", version="1.0.0", lifespan=lifespan,
                  description="Signed endpoints for ESP32 stage sensors and ESP32-CAM boards. Every request "
                              "carries X-Device-Id, X-Timestamp and X-Signature (HMAC-SHA256, see README).")
    app.state.receiver = state  # what the dependencies of receiver/deps.py read

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(Problem(422, "invalid_request", _first_error(exc.errors())), request.url.path)

    @app.exception_handler(EventLogError)
    async def _unavailable(request: Request, exc: EventLogError) -> JSONResponse:
        # Nothing was acknowledged: the device keeps the batch and retries (429/5xx mean "retry" to the firmware).
        return problem_response(Problem(503, "event_log_unavailable", "the event log is not answering; retry later",
                                        {"Retry-After": _STORE_RETRY_AFTER}, reason=str(exc)), request.url.path)

    async def store_events(signed: Signed, events: list[Event], cost: float) -> Accepted:
        """Admit across all devices, refuse a replay, append: in that order, so a refusal stores nothing."""
        store: Store = state.store
        wait = state.admission.take(cost)
        if wait:
            limit = settings.receiver_max_events_per_second
            raise Problem(429, "receiver_busy", f"the receiver takes at most {limit:g} events a second from all "
                                                "devices; retry later", retry_after(wait))
        # A retry is signed anew (new timestamp); the very same signed request twice is a replay.
        expires = (signed.timestamp + settings.signature_window_seconds) * 1000
        if not await store(store.log.remember_request, f"{signed.device_id}:{signed.signature}", expires):
            raise Problem(409, "replayed_request", "this exact signed request was already received")
        # 200 only once the append has returned: an acknowledged event is stored.
        result = await store(store.log.append, events)
        return Accepted(accepted=result.accepted, duplicates=result.duplicates)

    def parse(model: type[M], body: bytes) -> M:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise Problem(422, "invalid_body", _first_error(exc.errors())) from None

    def check_clock(ts_ms: int, received: int, field: str) -> None:
        error = clock_error(ts_ms, received, settings.device_clock_skew_hours)
        if error:
            raise Problem(422, "bad_clock", f"{field} {error}")

    def to_event(device_id: str, n: int, e: DeviceEvent, received: int) -> Event:
        if e.device_id != device_id:
            raise Problem(403, "wrong_device", f"events[{n}] names device {e.device_id!r}, not {device_id!r}")
        check_clock(e.ts_ms, received, f"events[{n}].ts_ms")
        if e.kind == "rfid.scan":
            try:
                payload = RfidPayload.model_validate(e.payload).model_dump()
            except ValidationError as exc:
                raise Problem(422, "invalid_body", f"events[{n}].payload: {_first_error(exc.errors())}") from None
            payload["tag"] = payload["tag"].upper()
        elif e.payload:
            raise Problem(422, "invalid_body", f"events[{n}].payload must be empty for {e.kind}")
        else:
            payload = {}
        # The stable id makes a retried event a duplicate, stored once.
        return Event(id=device_event_id(device_id, e.boot_id, e.seq), kind=e.kind, ts_ms=e.ts_ms, actor=device_id,
                     source="device", payload={**payload, "device_id": device_id, "boot_id": e.boot_id,
                                               "seq": e.seq, "received_ms": received})

    @app.post("/v1/events", response_model=Accepted, summary="A batch of sensor events",
              openapi_extra=_signed_body_doc("application/json", EventBatch))
    async def post_events(signed: SignedEvents) -> Accepted:
        batch: EventBatch = parse(EventBatch, signed.body)
        if len(batch.events) > settings.max_events_per_batch:
            raise Problem(413, "batch_too_large", f"at most {settings.max_events_per_batch} events per request")
        received = now_ms()
        events = [to_event(signed.device_id, n, e, received) for n, e in enumerate(batch.events)]
        for n, e in enumerate(events):
            signed.check_role(e.kind, f"events[{n}]")
        return await store_events(signed, events, len(events))

    @app.post("/v1/heartbeat", response_model=Accepted, summary="Device health",
              openapi_extra=_signed_body_doc("application/json", Heartbeat))
    async def post_heartbeat(signed: SignedHeartbeat) -> Accepted:
        beat: Heartbeat = parse(Heartbeat, signed.body)
        device_id = signed.device_id
        if beat.device_id != device_id:
            raise Problem(403, "wrong_device", f"heartbeat names device {beat.device_id!r}, not {device_id!r}")
        event = Event(id=device_event_id(device_id, beat.boot_id, f"hb:{beat.uptime_s}"), kind="device.heartbeat",
                      ts_ms=now_ms(), actor=device_id, source="device", payload=beat.model_dump())
        return await store_events(signed, [event], 1)

    @app.post("/v1/frames/{boot_id}/{seq}/{captured_ms}", response_model=Accepted,
              summary="A JPEG from an ESP32-CAM",
              description="The metadata is in the path so that the signature (which covers the path) covers it. "
                          "captured_ms must be within the same window of the server clock as event times.",
              openapi_extra=_signed_body_doc("image/jpeg", None))
    async def post_frame(signed: SignedFrame, boot_id: Annotated[str, Path(pattern=BOOT_ID)],
                         seq: Annotated[int, Path(ge=1, le=2**53)],
                         captured_ms: Annotated[int, Path(ge=0, le=2**53)]) -> Accepted:
        signed.check_role("frame.captured", "this frame")
        body, device_id = signed.body, signed.device_id
        if not (body[:3] == b"\xff\xd8\xff" and body.rstrip(b"\x00")[-2:] == b"\xff\xd9"):
            raise Problem(422, "not_a_jpeg", "the body is not a complete JPEG image")
        received = now_ms()
        check_clock(captured_ms, received, "captured_ms")
        event = Event(id=device_event_id(device_id, boot_id, seq), kind="frame.captured", ts_ms=captured_ms,
                      actor=device_id, source="device",
                      payload={"device_id": device_id, "boot_id": boot_id, "seq": seq, "received_ms": received,
                               "jpeg_b64": base64.b64encode(body).decode()})
        return await store_events(signed, [event], frame_cost(len(body), settings.receiver_frame_bytes_per_event))

    @app.get("/healthz", summary="Liveness and event-log reachability",
             description="503 with a problem when the event log does not answer within the store timeout.")
    async def healthz() -> dict:
        store: Store = state.store
        return {"status": "ok", "event_log_head": await store(store.log.head)}

    return app


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How to run uvicorn in front of this app (core/cli.py, tests). uvicorn never times out a client that
    stops in the middle of its headers, and counts such connections before it answers 503: the reverse proxy
    must enforce header/body timeouts and a connection cap (README, Devices)."""
    return {
        "http": "h11",  # the header limit below is h11's; httptools (if installed) would ignore it
        "timeout_keep_alive": settings.receiver_keep_alive_seconds,  # idle keep-alive connections close
        "limit_concurrency": settings.receiver_limit_concurrency,  # beyond this, 503 at once instead of queuing
        "h11_max_incomplete_event_size": settings.receiver_max_header_bytes,  # request line + headers
    }


def uvicorn_args(settings: Settings) -> list[str]:
    """uvicorn_options as command-line flags."""
    return [arg for k, v in uvicorn_options(settings).items() for arg in (f"--{k.replace('_', '-')}", str(v))]


def _first_error(errors) -> str:
    errors = list(errors)
    if not errors:
        return "invalid request"
    err = errors[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
    return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid"))


def _signed_body_doc(media_type: str, model: type[BaseModel] | None) -> dict:
    """OpenAPI: the body is read raw (it is signed byte for byte), so describe it by hand."""
    schema = _inline_refs(model.model_json_schema()) if model else {"type": "string", "format": "binary"}
    headers = [{"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
               for h in ("X-Device-Id", "X-Timestamp", "X-Signature")]
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}, "parameters": headers}


def _inline_refs(schema: dict) -> dict:
    """Pydantic puts nested models under $defs; inline them so the OpenAPI document resolves on its own."""
    defs = schema.pop("$defs", {})

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


app = create_app()

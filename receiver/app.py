"""FastAPI receiver: authenticates each device request, validates it and appends to the event log.

It never opens DuckDB and loads no models, so it can run beside the app or as several replicas.
Run: `uvicorn receiver.app:app --host 127.0.0.1 --port 8502` (started by `make run`).
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.config import Settings, get_settings
from core.eventlog import Event, EventLog, now_ms, open_event_log
from receiver.signing import signature

log = logging.getLogger("rollcall.receiver")
DEVICE_ID = r"^[A-Za-z0-9_-]{1,64}$"
BOOT_ID = r"^[A-Za-z0-9_-]{1,32}$"
PROBLEM = "application/problem+json"
_DIGITS = re.compile(r"[0-9]{1,15}")


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def problem_response(p: Problem, path: str) -> JSONResponse:
    log.warning("refused %s: %s %s: %s", path, p.status, p.code, p.detail)
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


# --- per-device rate limit ---------------------------------------------------------------------

class RateLimiter:
    """Token bucket per device, in memory (each replica limits on its own)."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            return allowed


# --- the app -----------------------------------------------------------------------------------

def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state: dict = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        state["log"] = open_event_log(settings)
        state["limiter"] = RateLimiter(settings.device_rate_per_second, 2 * settings.device_rate_per_second)
        yield
        state["log"].close()

    app = FastAPI(title="Rollcall device receiver", version="1.0.0", lifespan=lifespan,
                  description="Signed endpoints for ESP32 stage sensors and ESP32-CAM boards. Every request "
                              "carries X-Device-Id, X-Timestamp and X-Signature (HMAC-SHA256, see README).")

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(Problem(422, "invalid_request", _first_error(exc.errors())), request.url.path)

    async def read_body(request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length", "")
        if _DIGITS.fullmatch(declared) and int(declared) > limit:
            raise Problem(413, "body_too_large", f"the body is larger than {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise Problem(413, "body_too_large", f"the body is larger than {limit} bytes")
        return bytes(body)

    async def authenticate(request: Request, limit: int, content_type: str) -> tuple[str, bytes]:
        """Check identity, freshness, signature, revocation, rate and replay; returns (device id, raw body)."""
        events: EventLog = state["log"]
        device_id = request.headers.get("x-device-id", "")
        timestamp = request.headers.get("x-timestamp", "")
        given = request.headers.get("x-signature", "").lower()
        if not (device_id and timestamp and given):
            raise Problem(401, "unsigned", "X-Device-Id, X-Timestamp and X-Signature headers are required")
        if not re.match(DEVICE_ID, device_id):
            raise Problem(401, "unknown_device", "malformed device id")
        if not _DIGITS.fullmatch(timestamp):  # ASCII only: str.isdigit() also accepts "²", which int() refuses
            raise Problem(401, "bad_timestamp", "X-Timestamp must be Unix seconds")
        if abs(time.time() - int(timestamp)) > settings.signature_window_seconds:
            raise Problem(401, "stale_timestamp",
                          f"X-Timestamp is more than {settings.signature_window_seconds} s from the server clock")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != content_type:
            raise Problem(415, "wrong_content_type", f"Content-Type must be {content_type}")
        body = await read_body(request, limit)
        device = events.get_device(device_id)
        if device is None:
            raise Problem(401, "unknown_device", f"device {device_id!r} is not registered")
        expected = signature(device.secret, request.method, request.url.path, timestamp, body)
        if not hmac.compare_digest(expected, given):
            raise Problem(401, "bad_signature", "the signature does not match the request")
        if not device.enabled:
            raise Problem(403, "device_revoked", f"device {device_id!r} has been revoked")
        if not state["limiter"].allow(device_id):
            raise Problem(429, "rate_limited", "too many requests from this device", {"Retry-After": "1"})
        # A retry is signed anew (new timestamp); the very same signed request twice is a replay.
        expires = (int(timestamp) + settings.signature_window_seconds) * 1000
        if not events.remember_request(f"{device_id}:{given}", expires):
            raise Problem(409, "replayed_request", "this exact signed request was already received")
        return device_id, body

    def parse(model: type[BaseModel], body: bytes) -> BaseModel:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise Problem(422, "invalid_body", _first_error(exc.errors())) from None

    def to_event(device_id: str, n: int, e: DeviceEvent, received: int) -> Event:
        if e.device_id != device_id:
            raise Problem(403, "wrong_device", f"events[{n}] names device {e.device_id!r}, not {device_id!r}")
        if abs(e.ts_ms - received) > settings.device_clock_skew_hours * 3600_000:
            raise Problem(422, "bad_clock", f"events[{n}].ts_ms is more than {settings.device_clock_skew_hours} h "
                                            "from the server clock (is NTP set?)")
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
        return Event(id=f"{device_id}:{e.boot_id}:{e.seq}", kind=e.kind, ts_ms=e.ts_ms, actor=device_id,
                     source="device", payload={**payload, "device_id": device_id, "boot_id": e.boot_id,
                                               "seq": e.seq, "received_ms": received})

    @app.post("/v1/events", response_model=Accepted, summary="A batch of sensor events",
              openapi_extra=_signed_body_doc("application/json", EventBatch))
    async def post_events(request: Request) -> Accepted:
        device_id, body = await authenticate(request, settings.max_event_body_bytes, "application/json")
        batch: EventBatch = parse(EventBatch, body)
        if len(batch.events) > settings.max_events_per_batch:
            raise Problem(413, "batch_too_large", f"at most {settings.max_events_per_batch} events per request")
        received = now_ms()
        events = [to_event(device_id, n, e, received) for n, e in enumerate(batch.events)]
        result = state["log"].append(events)
        return Accepted(accepted=result.accepted, duplicates=result.duplicates)

    @app.post("/v1/heartbeat", response_model=Accepted, summary="Device health",
              openapi_extra=_signed_body_doc("application/json", Heartbeat))
    async def post_heartbeat(request: Request) -> Accepted:
        device_id, body = await authenticate(request, 4096, "application/json")
        beat: Heartbeat = parse(Heartbeat, body)
        if beat.device_id != device_id:
            raise Problem(403, "wrong_device", f"heartbeat names device {beat.device_id!r}, not {device_id!r}")
        event = Event(id=f"{device_id}:{beat.boot_id}:hb:{beat.uptime_s}", kind="device.heartbeat",
                      ts_ms=now_ms(), actor=device_id, source="device", payload=beat.model_dump())
        result = state["log"].append([event])
        return Accepted(accepted=result.accepted, duplicates=result.duplicates)

    @app.post("/v1/frames/{boot_id}/{seq}/{captured_ms}", response_model=Accepted,
              summary="A JPEG from an ESP32-CAM",
              description="The metadata is in the path so that the signature (which covers the path) covers it.",
              openapi_extra=_signed_body_doc("image/jpeg", None))
    async def post_frame(request: Request, boot_id: Annotated[str, Path(pattern=BOOT_ID)],
                         seq: Annotated[int, Path(ge=1, le=2**53)],
                         captured_ms: Annotated[int, Path(ge=0, le=2**53)]) -> Accepted:
        device_id, body = await authenticate(request, settings.max_frame_bytes, "image/jpeg")
        if not (body[:3] == b"\xff\xd8\xff" and body.rstrip(b"\x00")[-2:] == b"\xff\xd9"):
            raise Problem(422, "not_a_jpeg", "the body is not a complete JPEG image")
        event = Event(id=f"{device_id}:{boot_id}:{seq}", kind="frame.captured", ts_ms=captured_ms,
                      actor=device_id, source="device",
                      payload={"device_id": device_id, "boot_id": boot_id, "seq": seq, "received_ms": now_ms(),
                               "jpeg_b64": base64.b64encode(body).decode()})
        result = state["log"].append([event])
        return Accepted(accepted=result.accepted, duplicates=result.duplicates)

    @app.get("/healthz", summary="Liveness and event-log reachability")
    async def healthz() -> dict:
        return {"status": "ok", "event_log_head": state["log"].head()}

    return app


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

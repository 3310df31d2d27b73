"""Request-scoped parts of the receiver, as FastAPI dependencies: the receiver's state and device authentication.

A route declares what it needs (`signed: SignedJson`) instead of calling a check by hand, so no route can forget
it and every route checks the same way: identity, freshness, content type, body size, signature, revocation and
the device's rate, in that order, before the route's own code runs.
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from core.config import Settings
from core.eventlog import Device
from receiver.signing import signature

if TYPE_CHECKING:  # the state's parts are made by receiver.app at start-up
    from receiver.app import RateLimiter, Store, TokenBucket

DEVICE_ID = r"^[A-Za-z0-9_-]{1,64}$"
_DIGITS = re.compile(r"[0-9]{1,15}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
# One public answer for an unknown device and a wrong signature, so a caller cannot probe which ids exist.
_UNAUTHENTICATED = "the signature does not match the request"


class Problem(Exception):
    """An HTTP refusal; `reason` is logged instead of `detail` when the caller must not learn it."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None,
                 reason: str | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}
        self.reason = reason or detail


@dataclass
class ReceiverState:
    """What every request of one receiver app shares (`app.state.receiver`); the store and the limits are set
    when the app starts (its lifespan)."""

    settings: Settings
    decoy_secret: str = field(default_factory=lambda: secrets.token_hex(32))  # an unknown device costs an HMAC too
    store: Store | Any = None
    limiter: RateLimiter | Any = None  # per device
    admission: TokenBucket | Any = None  # across all devices


def receiver_state(request: Request) -> ReceiverState:
    return request.app.state.receiver


@dataclass(frozen=True)
class Signed:
    """An authenticated request: who sent it, its raw body, and what makes it unique (for replay checks)."""

    device_id: str
    body: bytes
    signature: str
    timestamp: int
    role: str = "any"  # what the device may post (core.eventlog.ROLES)

    def check_role(self, kind: str, where: str) -> None:
        if not Device(self.device_id, "", True, 0, role=self.role).may_post(kind):
            raise Problem(403, "not_allowed_for_role", f"{where}: a {self.role} device may not post {kind}")


def retry_after(wait_seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait_seconds)))}


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


async def authenticate(request: Request, limit: int, content_type: str) -> Signed:
    """Check identity, freshness, signature, revocation and the device's rate."""
    state = receiver_state(request)
    settings, store = state.settings, state.store
    device_id = request.headers.get("x-device-id", "")
    timestamp = request.headers.get("x-timestamp", "")
    given = request.headers.get("x-signature", "").lower()
    if not (device_id and timestamp and given):
        raise Problem(401, "unsigned", "X-Device-Id, X-Timestamp and X-Signature headers are required")
    if not re.fullmatch(DEVICE_ID, device_id):
        raise Problem(401, "bad_signature", _UNAUTHENTICATED, reason=f"malformed device id {device_id!r}")
    if not _DIGITS.fullmatch(timestamp):  # ASCII only: str.isdigit() also accepts "²", which int() refuses
        raise Problem(401, "bad_timestamp", "X-Timestamp must be Unix seconds")
    if abs(time.time() - int(timestamp)) > settings.signature_window_seconds:
        raise Problem(401, "stale_timestamp",
                      f"X-Timestamp is more than {settings.signature_window_seconds} s from the server clock")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != content_type:
        raise Problem(415, "wrong_content_type", f"Content-Type must be {content_type}")
    body = await read_body(request, limit)
    device = await store(store.log.get_device, device_id)
    expected = signature(device.secret if device else state.decoy_secret, request.method, request.url.path,
                         timestamp, body)
    # Checked as hex first: compare_digest() raises on non-ASCII text (headers arrive as Latin-1).
    if device is None or not (_HEX_SIGNATURE.fullmatch(given) and hmac.compare_digest(expected, given)):
        why = f"device {device_id!r} is not registered" if device is None else "signature mismatch"
        raise Problem(401, "bad_signature", _UNAUTHENTICATED, reason=why)
    if not device.enabled:
        raise Problem(403, "device_revoked", f"device {device_id!r} has been revoked")
    wait = state.limiter.take(device_id)
    if wait:
        raise Problem(429, "rate_limited", "too many requests from this device", retry_after(wait))
    return Signed(device_id, body, given, int(timestamp), device.role)


def signed_request(content_type: str, max_bytes: Callable[[Settings], int]) -> Callable:
    """A dependency: the request, authenticated, with a body of `content_type` up to `max_bytes(settings)`."""

    async def dependency(request: Request) -> Signed:
        return await authenticate(request, max_bytes(receiver_state(request).settings), content_type)

    return dependency


SignedEvents = Annotated[Signed, Depends(signed_request("application/json", lambda s: s.max_event_body_bytes))]
SignedHeartbeat = Annotated[Signed, Depends(signed_request("application/json", lambda s: 4096))]
SignedFrame = Annotated[Signed, Depends(signed_request("image/jpeg", lambda s: s.max_frame_bytes))]

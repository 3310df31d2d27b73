"""Request signing shared by the receiver, the simulator and the tests (the firmware does the same in C++)."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, method: str, path: str, timestamp: str, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 over METHOD \\n PATH \\n TIMESTAMP \\n then the raw body bytes."""
    message = f"{method.upper()}\n{path}\n{timestamp}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(device_id: str, secret: str, method: str, path: str, body: bytes, timestamp: int) -> dict[str, str]:
    ts = str(timestamp)
    return {"X-Device-Id": device_id, "X-Timestamp": ts, "X-Signature": signature(secret, method, path, ts, body)}

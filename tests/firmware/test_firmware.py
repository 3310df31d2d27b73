"""The ESP32 firmware (firmware/esp32) on the host: its unit tests, a 32-bit compile check of both sketches
against stub headers, and the sign tool's requests checked against Python's own hmac/hashlib/json.

There is no ESP32 toolchain here, so the real board build is not part of this; see firmware/esp32/README.md.
Other tests get the exact bytes the firmware would send through build_sign_tool() and sign_request().
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT

FIRMWARE = PROJECT_ROOT / "firmware" / "esp32"
BUILD = FIRMWARE / "build"
TOOLS_HINT = ("the firmware tests need make, g++ with 32-bit support and doctest: "
              "`make test` installs g++-multilib and doctest-dev")
USAGE_ERROR = 2  # the sign tool's exit status for bad arguments


@functools.cache
def _require_tools() -> None:
    if shutil.which("make") is None or shutil.which("g++") is None:
        pytest.fail(f"make or g++ not found; {TOOLS_HINT}")
    if not Path("/usr/include/doctest/doctest.h").is_file():
        pytest.fail(f"doctest.h not found; {TOOLS_HINT}")
    # Without multilib, g++ -m32 cannot find the 32-bit libstdc++ and prints the bare name back.
    found = subprocess.run(["g++", "-m32", "-print-file-name=libstdc++.so"], capture_output=True, text=True,
                           check=False).stdout.strip()
    if not Path(found).is_absolute():
        pytest.fail(f"g++ has no 32-bit libraries; {TOOLS_HINT}")


def _make(*targets: Path) -> None:
    """Builds targets with firmware/esp32/host/Makefile (incremental) and fails the test with its output."""
    _require_tools()
    result = subprocess.run(["make", "-j2", "-C", str(FIRMWARE / "host"), f"BUILD={BUILD}", *map(str, targets)],
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, f"make failed ({TOOLS_HINT}):\n{result.stdout}\n{result.stderr}"


def build_sign_tool() -> Path:
    """Builds the firmware's sign tool if needed and returns the path of the binary."""
    tool = BUILD / "sign_tool"
    _make(tool)
    return tool


def sign_request(*args: str) -> dict:
    """Runs the sign tool with args; returns {"path", "body", "headers"} (body: str, UTF-8 = the exact bytes)."""
    result = subprocess.run([str(build_sign_tool()), *args], capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def expected_signature(secret: str, path: str, timestamp: str, body: bytes) -> str:
    message = f"POST\n{path}\n{timestamp}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def assert_signed(out: dict, secret: str, device: str, timestamp: int, path: str) -> None:
    assert list(out) == ["path", "body", "headers"]
    assert out["path"] == path
    assert list(out["headers"]) == ["X-Device-Id", "X-Timestamp", "X-Signature"]
    assert out["headers"]["X-Device-Id"] == device
    assert out["headers"]["X-Timestamp"] == str(timestamp)
    assert out["headers"]["X-Signature"] == expected_signature(secret, path, str(timestamp), out["body"].encode())


@pytest.mark.parametrize("binary", ["test_logic", "test_logic32"])
def test_unit_tests_pass(binary):
    _make(BUILD / binary)
    result = subprocess.run([str(BUILD / binary)], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Status: SUCCESS!" in result.stdout


@pytest.mark.parametrize("unit", ["stage_sensor", "stage_sensor_rfid", "esp32_cam", "rollcall_link"])
def test_compiles_for_32_bit_against_stubs(unit):
    # make exits non-zero on any warning (-Wall -Wextra -Werror); the object proves the compile ran.
    _make(BUILD / "check" / f"{unit}.o")
    assert (BUILD / "check" / f"{unit}.o").is_file()


@pytest.mark.parametrize(
    ("kind", "count", "tag"),
    [("beam.front", 1, None), ("beam.back", 20, None), ("rfid.scan", 3, "04A1B2C3D4E5F6"), ("button.press", 2, None)],
)
def test_event_batch_is_signed_like_python_does(kind, count, tag):
    secret = "q8Jx-2v_RkP0d3sWmZ9tYh4LcN7uBeAa"
    args = ["--secret", secret, "--device", "stage-1", "--boot", "b7", "--seq", "17", "--ts-ms", "1795000000000",
            "--timestamp", "1795000000", "--count", str(count), "--kind", kind]
    out = sign_request(*args, *(["--tag", tag] if tag else []))
    assert_signed(out, secret, "stage-1", 1795000000, "/v1/events")
    events = [
        {"device_id": "stage-1", "boot_id": "b7", "seq": 17 + i, "kind": kind, "ts_ms": 1795000000000 + i,
         "payload": {"tag": tag} if kind == "rfid.scan" else {}}
        for i in range(count)
    ]
    assert json.loads(out["body"]) == {"events": events}
    assert out["body"] == compact({"events": events})  # key order and no spaces, byte for byte


def test_the_protocol_example_body_is_exact():
    out = sign_request("--secret", "topsecret", "--device", "stage-1", "--boot", "b7", "--seq", "17",
                       "--ts-ms", "1795000000000", "--timestamp", "1795000000", "--count", "1")
    assert out["body"] == ('{"events":[{"device_id":"stage-1","boot_id":"b7","seq":17,"kind":"beam.front",'
                           '"ts_ms":1795000000000,"payload":{}}]}')
    assert out["headers"]["X-Signature"] == "787c4bab08839b2099b427336e8bb4f0f8fb225133e03b0a894f220f2821b67c"


def test_heartbeat_is_signed_like_python_does():
    out = sign_request("--heartbeat", "--secret", "s3cret", "--device", "cam-1", "--boot", "0badf00d",
                       "--timestamp", "1795000030", "--uptime-s", "123", "--rssi", "-61", "--queue-depth", "4",
                       "--free-heap", "123456")
    assert_signed(out, "s3cret", "cam-1", 1795000030, "/v1/heartbeat")
    assert out["body"] == compact({"device_id": "cam-1", "boot_id": "0badf00d", "firmware": "1.0.0",
                                   "uptime_s": 123, "rssi": -61, "queue_depth": 4, "free_heap": 123456})


def test_strings_are_escaped_like_json_dumps():
    device, boot, tag = 'st"age\\1\n\t\x01é', 'b"7', '"}{\\'
    secret = 'se"cr\\et'
    out = sign_request("--secret", secret, "--device", device, "--boot", boot, "--seq", "1", "--ts-ms", "5",
                       "--timestamp", "1795000000", "--count", "1", "--kind", "rfid.scan", "--tag", tag)
    assert_signed(out, secret, device, 1795000000, "/v1/events")
    event = {"device_id": device, "boot_id": boot, "seq": 1, "kind": "rfid.scan", "ts_ms": 5, "payload": {"tag": tag}}
    assert json.loads(out["body"]) == {"events": [event]}
    assert out["body"] == compact({"events": [event]})


@pytest.mark.parametrize(
    "args",
    [
        ["--device", "d", "--boot", "b", "--timestamp", "1", "--seq", "1", "--ts-ms", "1", "--count", "1"],
        ["--secret", "s", "--device", "d", "--boot", "b", "--timestamp", "1", "--seq", "1", "--ts-ms", "1",
         "--count", "1", "--kind", "beam.sideways"],
        ["--secret", "s", "--device", "d", "--boot", "b", "--timestamp", "1e9", "--heartbeat"],
        ["--secret", "s", "--device", "d", "--boot", "b", "--timestamp", "1", "--seq", "1", "--ts-ms", "1",
         "--count", "1", "--tag", "0" * 21],
        ["--secret", "s", "--bogus"],
    ],
    ids=["no-secret", "unknown-kind", "bad-number", "long-tag", "unknown-flag"],
)
def test_sign_tool_rejects_bad_arguments(args):
    result = subprocess.run([str(build_sign_tool()), *args], capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == USAGE_ERROR
    assert result.stdout == ""
    assert "usage: sign_tool" in result.stderr

"""Security settings that must not drift: loopback by default, no secrets in the repository."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT, Settings
from tests.browser.conftest import free_port, wait_http

LOOPBACK = "127.0.0.1"


def test_the_app_and_the_receiver_default_to_loopback():
    fields = Settings.model_fields
    assert fields["app_host"].default == LOOPBACK and fields["receiver_host"].default == LOOPBACK
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == LOOPBACK  # `streamlit run` by hand, without make
    assert config["browser"]["gatherUsageStats"] is False


def listening(port: int) -> list[str]:
    """Local addresses (hex, as the kernel lists them) of the sockets listening on a TCP port."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def own_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    return [a for a in out if re.fullmatch(r"[0-9.]+", a) and not a.startswith("127.")]


@pytest.fixture
def running(tmp_path):
    """`python -m core.cli run` (what `make run` starts) on free ports, with nothing saying which host."""
    env = {k: v for k, v in os.environ.items() if k not in ("ROLLCALL_APP_HOST", "ROLLCALL_RECEIVER_HOST")}
    ports = {"app": free_port(), "receiver": free_port()}
    env.update(ROLLCALL_DATA_DIR=str(tmp_path / "data"), ROLLCALL_APP_PORT=str(ports["app"]),
               ROLLCALL_RECEIVER_PORT=str(ports["receiver"]))
    env.pop("DISPLAY", None)
    with (tmp_path / "run.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "core.cli", "run", "--no-demo"], cwd=PROJECT_ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://{LOOPBACK}:{ports['receiver']}/healthz", timeout=60)
        wait_http(f"http://{LOOPBACK}:{ports['app']}/_stcore/health", timeout=60)
        yield proc, ports
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
        proc.wait(timeout=10)


def test_run_listens_on_loopback_only_and_sigterm_stops_both(running):
    proc, ports = running
    for name, port in ports.items():
        assert listening(port) == ["0100007F"], (name, listening(port))  # 127.0.0.1, and nothing else
        for address in own_addresses():
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(2)
                s.connect((address, port))
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True,
                              check=False).stdout.split()
    assert len(children) == 2
    proc.send_signal(signal.SIGTERM)  # a service manager stopping `make run`
    assert proc.wait(timeout=30) is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "the app or the receiver outlived run"
    assert not listening(ports["app"]) and not listening(ports["receiver"])


# ------------------------------------------------------------------------------------------- secrets

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "service-account key": re.compile(r'"private_key"\s*:\s*"-----BEGIN'),
    "Telegram bot token": re.compile(r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Fernet or master key": re.compile(r"""master_key\s*=\s*["'][A-Za-z0-9_-]{43}="""),
}
SECRET_FILES = re.compile(r"(^|/)(\.streamlit/secrets\.toml|\.env|master\.key|keys\.sqlite|[^/]*\.pem|[^/]*\.key|"
                          r"[^/]*service[-_]?account[^/]*\.json|[^/]*\.(duckdb|sqlite)(-wal|-shm|\.wal)?)$")


def tracked_files() -> list[str]:
    return subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True,
                          text=True).stdout.strip("\0").split("\0")


def test_no_secret_or_state_file_is_tracked():
    files = tracked_files()
    assert ".streamlit/secrets.toml.example" in files  # the example is fine, and the scan sees it
    assert [f for f in files if SECRET_FILES.search(f)] == []


def test_no_tracked_file_holds_a_secret():
    found = []
    for name in tracked_files():
        path = PROJECT_ROOT / name
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "ignore")
        found += [f"{name}: {kind}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert found == []


def test_the_patterns_do_catch_secrets():
    samples = {"private key": "-----BEGIN " + "PRIVATE KEY-----", "Telegram bot token": "123456789:AA" + "x" * 33,
               "GitHub token": "ghp_" + "a" * 36, "AWS access key": "AKIA" + "A" * 16}
    for kind, sample in samples.items():
        assert SECRET_PATTERNS[kind].search(sample), kind
    assert SECRET_FILES.search(".streamlit/secrets.toml") and not SECRET_FILES.search(".streamlit/secrets.toml.example")
    assert SECRET_FILES.search("data/rollcall.duckdb") and SECRET_FILES.search("data/events.sqlite-wal")


def test_no_page_shows_a_traceback_to_a_visitor():
    """An unexpected error shows a short message; the traceback (server paths, code) stays in the server log."""
    import tomllib

    from core.config import PROJECT_ROOT

    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] in ("none", False)


def test_device_secrets_are_sealed_at_rest(tmp_path):
    """events.sqlite (and a backup or copy of it) does not hold a device's secret in clear; the receiver's store
    opens it with the master key, and a store with another master key cannot."""
    import sqlite3

    from cryptography.fernet import Fernet

    from core import devices
    from core.config import Settings
    from core.eventlog import SEALED, open_event_log

    settings = Settings(data_dir=tmp_path / "data")
    log = open_event_log(settings)
    secret = devices.add_device(log, "stage-7", "test")
    stored = sqlite3.connect(settings.events_path).execute("SELECT secret FROM devices").fetchone()[0]
    assert stored.startswith(SEALED) and secret not in stored
    assert secret.encode() not in settings.events_path.read_bytes()
    assert log.get_device("stage-7").secret == secret and log.list_devices()[0].secret == secret
    stranger = open_event_log(Settings(data_dir=tmp_path / "data", master_key=Fernet.generate_key().decode()))
    assert stranger.get_device("stage-7") is None and stranger.list_devices() == []

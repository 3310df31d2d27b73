"""The real Firestore emulator (Google's jar, preinstalled on every machine of this kind), on a free port."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

EMULATOR_DIR = Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator")
PROJECT = "demo-test"


class FirestoreEmulator:
    def __init__(self, port: int):
        jar = EMULATOR_DIR / "cloud-firestore-emulator.jar"
        if not jar.exists():
            raise RuntimeError(f"The Firestore emulator is missing: expected {jar} (preinstalled on this kind of "
                               "machine; it cannot be installed from a package registry).")
        self.host = f"127.0.0.1:{port}"
        # Started directly, not through the gcloud wrapper, whose Java child would outlive it.
        self.proc = subprocess.Popen(
            ["java", "-cp", str(jar), "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
             "--host=127.0.0.1", f"--port={port}", f"--project_id={PROJECT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as resp:
                    if resp.read().strip() == b"Ok":
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("The Firestore emulator did not start within 60 s")

    def wipe(self) -> None:
        req = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{PROJECT}/databases/(default)/documents", method="DELETE")
        urllib.request.urlopen(req, timeout=10).close()

    def env(self) -> dict[str, str]:
        return {"FIRESTORE_EMULATOR_HOST": self.host, "ROLLCALL_EVENT_LOG_BACKEND": "firestore",
                "ROLLCALL_FIRESTORE_PROJECT_ID": PROJECT}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


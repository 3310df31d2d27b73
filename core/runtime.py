"""The one start-up: the app, the CLI, the benchmarks and the tests open Rollcall here.

`open_app` opens the store (event log, DuckDB, keys) with the face service wired in, and — for a process that
serves people, like the Streamlit app — starts every background worker. `Rollcall.close()` stops them all.
It sits at the top of core/: it may import any core module; only entry points (core/cli.py, pages/, bench/,
tests/) import it.
"""

from __future__ import annotations

import threading

from core.alerts import FamilyMessages, UnknownFaceAlerts
from core.ceremonies import CeremonyClock
from core.config import Settings, get_settings
from core.faces.frames import FrameWorker
from core.privacy import RetentionWorker, pending_erasure, resume_erasure
from core.services import Rollcall

RETENTION_POLL_SECONDS = 30.0  # the purge is due at most daily; looking twice a minute costs nothing


def _face_service(app: Rollcall):
    from core.faces.service import FaceService  # loads OpenCV and the model code: only when faces are needed

    return FaceService(app)


def open_app(settings: Settings | None = None, *, workers: bool = True) -> Rollcall:
    """The store with the face service (models load on first use). With `workers`, the process's followers of the
    log run too; without (the CLI, most tests, benchmarks), every change is still folded by `submit`."""
    app = Rollcall(settings or get_settings(), faces=_face_service)
    if workers:
        start_workers(app)
    return app


def start_workers(app: Rollcall) -> None:
    """Start, once per store: the ingestor (other processes' events), the frame worker (device camera frames:
    the face models load when the first one comes), the ceremony clock (no-shows marked absent), the retention
    purge (when due), the unknown-face alerts (one sender and one rate limit for every camera of the process) and
    the families' channel (when switched on).
    An erasure a kill interrupted is finished beside the pages."""
    if app.alerts is not None:
        return
    poll = app.settings.ingest_poll_seconds
    app.ingestor.start(poll)
    for worker, seconds in ((FrameWorker(app), poll), (CeremonyClock(app), poll),
                            (RetentionWorker(app), RETENTION_POLL_SECONDS)):
        worker.start(seconds)
        app.workers.append(worker)
    app.alerts = UnknownFaceAlerts(app)
    app.workers.append(app.alerts)
    family = FamilyMessages(app)  # the families' Telegram channel: no thread unless switched on in settings
    family.start(poll)
    app.workers.append(family)
    if pending_erasure(app):
        threading.Thread(target=resume_erasure, args=(app,), name="rollcall-erasure", daemon=True).start()

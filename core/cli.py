"""Command line: `python -m core.cli COMMAND …` (run with --help for the list)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core import auth, people
from core.config import PROJECT_ROOT, get_settings
from core.db import DatabaseDamagedError, DatabaseLockedError, set_aside, unreadable_reason
from core.demo import load_demo
from core.eventlog import open_event_log
from core.roster import RosterFileError, parse_roster
from core.runtime import open_app
from core.services import Rollcall


@contextmanager
def opened(*, fold: bool = True) -> Iterator[Rollcall]:
    """The store (refused while the app runs), with anything the log has that DuckDB lacks folded in."""
    app = open_app(workers=False)
    try:
        if fold:
            app.ingestor.pump()
        yield app
    finally:
        app.close()


class CliError(Exception):
    """A refusal to print as one line on stderr, with exit status 1."""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Prepare the data folder: schema, demo data when empty, the first admin."""
    with opened() as app:
        if not args.no_demo and people.count(app) == 0:
            print(f"Loaded demo data ({load_demo(app)} events).")
        password = auth.ensure_first_admin(app)
        if password:
            print("\n  First sign-in:  user 'admin'  one-time password:  " + password)
            print("  (you will be asked to choose a new password)\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """What `make run` does: bootstrap, then serve the app and the device receiver until Ctrl-C."""
    cmd_bootstrap(args)
    settings = get_settings()
    app_url = f"http://{settings.app_host}:{settings.app_port}"
    receiver_url = f"http://{settings.receiver_host}:{settings.receiver_port}"
    # `python -m receiver` runs uvicorn with the receiver's own limits (header size, keep-alive, connections).
    receiver = subprocess.Popen([sys.executable, "-m", "receiver", "--host", settings.receiver_host,
                                 "--port", str(settings.receiver_port)], cwd=PROJECT_ROOT)
    app_proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "streamlit_app.py"),
                                 "--server.address", settings.app_host, "--server.port", str(settings.app_port),
                                 "--browser.gatherUsageStats", "false",
                                 # On a desktop, Streamlit opens the browser by itself.
                                 "--server.headless", "false" if os.environ.get("DISPLAY") else "true"],
                                cwd=PROJECT_ROOT)
    print(f"Rollcall app:      {app_url}\nDevice receiver:   {receiver_url}  (API docs {receiver_url}/docs)\n"
          "Ctrl-C stops both.", flush=True)

    def stop(signum, _frame) -> None:
        raise KeyboardInterrupt  # `kill`, a service manager or a closed terminal: stop both like Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        return app_proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in (app_proc, receiver):
            proc.terminate()
            proc.wait(timeout=20)


def cmd_demo(args: argparse.Namespace) -> int:
    with opened() as app:
        print(f"Demo data: {load_demo(app)} new events.")
    return 0


def cmd_import_roster(args: argparse.Namespace) -> int:
    settings = get_settings()
    path = Path(args.file)
    data = _read(path)
    try:
        preview = parse_roster(data, path.name, max_bytes=settings.max_roster_bytes,
                               max_rows=settings.max_roster_rows)
    except RosterFileError as exc:
        return _fail(f"{path.name}: {exc}")
    for note in preview.notes:
        print(note)
    if preview.errors:
        for err in preview.errors:
            print(f"{path.name}: {err}", file=sys.stderr)
        return _fail(f"nothing imported: {len(preview.errors)} error(s) in {preview.error_rows} row(s)", 2)
    try:
        with opened() as app:
            summary = people.preview_summary(app, preview)
            people.commit_import(app, preview, args.actor)
    except DatabaseLockedError:
        # The app is running: the log is the hand-off, and its ingestor folds the import in.
        open_event_log(settings).append(people.roster_events(preview, args.actor))
        print(f"Queued {len(preview.rows)} rows; the running app applies them within a second.")
        return 0
    print(f"Imported {len(preview.rows)} rows: {summary['new']} new, {summary['updated']} updated.")
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Replay the event log into a new read model. A DuckDB file that cannot be opened (a damaged header, a
    block failing its checksum, another DuckDB version) is renamed `.corrupt-<time>` first: it is disposable."""
    path = get_settings().duckdb_path
    reason = unreadable_reason(path)  # DatabaseLockedError while the app runs
    if reason:
        aside = set_aside(path)
        print(f"{path.name} cannot be opened ({reason}); moved aside to {aside.name}.", file=sys.stderr)
    with opened(fold=False) as app:  # the rebuild folds the whole log anyway
        n = app.ingestor.rebuild()
        print(f"Rebuilt the read model from {n} events.")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the event log and the key store into DEST with SQLite's online backup API: consistent while the app
    and the receiver run (a copy of the files could catch a write halfway or miss what is still in the WAL)."""
    from core.backup import BackupError, backup

    try:
        report = backup(get_settings(), Path(args.dest))
    except BackupError as exc:
        raise CliError(str(exc)) from None
    for line in report.lines():
        print(line)
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    with opened() as app:
        df = people.search(app, args.search or "", limit=1_000_000)
    records = json.loads(df.to_json(orient="records", force_ascii=False))
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=1))
    else:
        for r in records:
            print(f"{r['student_id']}\t{r['name']}\t{r['name_en'] or ''}\t{r['department'] or ''}")
    return 0


def cmd_reset_password(args: argparse.Namespace) -> int:
    try:
        with opened() as app:
            password = auth.reset_password(app, "cli", args.username, reason="reset from the command line")
    except auth.AuthError as exc:
        return _fail(str(exc))
    print(f"One-time password for {args.username!r}: {password}")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    from core.faces.images import ImageError

    path = Path(args.photo)
    data = _read(path)
    try:
        with opened() as app:
            faces = app.faces.identify(data, path.name)
    except ImageError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({"photo": str(path), "faces": [f.as_dict() for f in faces]}, ensure_ascii=False, indent=1))
        return 0
    if not faces:
        print(f"{path.name}: no face found")
    for n, f in enumerate(faces, 1):
        box = "x={} y={} w={} h={}".format(*f.box)
        if f.known:
            print(f"face {n} [{box}]: {f.name} ({f.student_id}) · {f.department or '-'} · guardian "
                  f"{f.guardian_name or '-'} · contact {f.contact or '-'} · {f.images_count} enrolled image(s) · "
                  f"score {f.score:.3f}, runner-up gap {f.runner_up_gap:.3f}")
        else:
            print(f"face {n} [{box}]: unknown (best score {f.score:.3f})")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from core.faces.service import EnrollmentError
    from core.privacy.consent import ConsentRequiredError

    photos = []
    for name in args.photos:
        try:
            photos.append((Path(name).name, Path(name).read_bytes()))
        except OSError as exc:
            print(f"{name}: cannot read ({exc.strerror})", file=sys.stderr)
    try:
        with opened() as app:
            if args.consent:
                app.faces.record_consent(args.student_id, args.consent, args.actor)
            verdicts = app.faces.enroll(args.student_id, photos, args.actor)
    except (ConsentRequiredError, EnrollmentError) as exc:
        return _fail(str(exc))
    for v in verdicts:
        line = f"{v.name}: {'enrolled' if v.accepted else 'refused: ' + v.reason}"
        print(line + "".join(f" (warning: {w})" for w in v.warnings), file=sys.stdout if v.accepted else sys.stderr)
    accepted = sum(v.accepted for v in verdicts)
    print(f"{accepted} of {len(args.photos)} photo(s) enrolled for {args.student_id}.")
    return 0 if accepted else 1


def cmd_device(args: argparse.Namespace) -> int:
    from core import devices

    if args.action == "list":
        log = open_event_log(get_settings())
        for d in log.list_devices():
            print(f"{d.device_id}\t{d.role}\t{'enabled' if d.enabled else 'revoked'}\t{d.label}")
        return 0
    if not args.device_id:
        return _fail(f"device {args.action} needs a DEVICE_ID")
    log = open_event_log(get_settings())  # the registry lives beside the log: works while the app runs
    try:
        if args.action == "add":
            secret: str | None = devices.add_device(log, args.device_id, args.actor, args.label or "", args.role)
            print(f"Device {args.device_id} registered. Its secret (shown once; put it in config.h):\n{secret}")
        else:
            secret = devices.set_enabled(log, args.device_id, args.action == "enable", args.actor, args.reason)
            if secret:
                print(f"Device {args.device_id} enabled with a new secret (shown once; put it in config.h):\n{secret}")
            else:
                print(f"Device {args.device_id} revoked.")
    except devices.DeviceError as exc:
        return _fail(str(exc))
    finally:
        log.close()
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """List the event log (whichever back-end is configured); binary payloads are summarised."""
    log = open_event_log(get_settings())
    stored = log.read_after(args.after, args.limit)
    rows = []
    for s in stored:
        payload = dict(s.event.payload)
        if "jpeg_b64" in payload:
            payload["jpeg_b64"] = f"<{len(payload['jpeg_b64']) * 3 // 4} bytes>"
        for secret in ("password_hash", "token"):
            if secret in payload:
                payload[secret] = "<hidden>"
        rows.append({"position": s.position, "id": s.event.id, "kind": s.event.kind, "ts_ms": s.event.ts_ms,
                     "actor": s.event.actor, "source": s.event.source, "payload": payload})
    if args.json:
        print(json.dumps({"events": rows, "next_cursor": rows[-1]["position"] if rows else args.after},
                         ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r['position']}\t{r['kind']}\t{r['actor'] or ''}\t{r['id']}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """Synthetic data at scale, straight into the read model (a rebuild from the log drops it)."""
    from core import synth

    people_n, days = (args.people, args.days) if args.rows is None else synth.plan_for_rows(args.rows)
    with opened() as app:
        counts = synth.generate(app.db, people=people_n, days=days, classes=args.classes, seed=args.seed,
                                progress=print)
    print(json.dumps(counts, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.cli", description="Rollcall command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bootstrap", help="prepare the data folder (schema, demo data, first admin)")
    p.add_argument("--no-demo", action="store_true", help="do not load demo data")
    p.set_defaults(func=cmd_bootstrap)
    p = sub.add_parser("run", help="bootstrap, then serve the app (what `make run` does)")
    p.add_argument("--no-demo", action="store_true", help="do not load demo data")
    p.set_defaults(func=cmd_run)
    sub.add_parser("demo", help="load the demo data").set_defaults(func=cmd_demo)
    p = sub.add_parser("import-roster", help="import a roster (CSV or .xlsx); all rows or none")
    p.add_argument("file")
    p.add_argument("--actor", default="cli", help="who is importing (for the audit trail)")
    p.set_defaults(func=cmd_import_roster)
    sub.add_parser("rebuild", help="rebuild the read model from the event log (a damaged one is moved aside)"
                   ).set_defaults(func=cmd_rebuild)
    p = sub.add_parser("backup", help="copy the event log and the keys into a new folder (safe while the app runs)")
    p.add_argument("dest", help="a folder that does not exist yet, or is empty")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("people", help="list people")
    p.add_argument("--json", action="store_true")
    p.add_argument("--search", help="filter by name, id, department …")
    p.set_defaults(func=cmd_people)
    p = sub.add_parser("identify", help="find every face in a photo and say who it is")
    p.add_argument("photo")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_identify)
    p = sub.add_parser("enroll", help="enroll a person's face from photos (consent required)")
    p.add_argument("student_id")
    p.add_argument("photos", nargs="+")
    p.add_argument("--consent", help="record consent first, saying how it was given (e.g. 'signed form 2026')")
    p.add_argument("--actor", default="cli", help="who is enrolling (for the audit trail)")
    p.set_defaults(func=cmd_enroll)
    p = sub.add_parser("device", help="register, revoke or list devices (ESP32 boards)")
    p.add_argument("action", choices=["add", "revoke", "enable", "list"])
    p.add_argument("device_id", nargs="?")
    p.add_argument("--label", help="where it is, e.g. 'front of stage'")
    p.add_argument("--role", default="stage", choices=["stage", "rfid", "camera"],
                   help="what it may post: stage beams (default), RFID scans or camera frames")
    p.add_argument("--reason")
    p.add_argument("--actor", default="cli")
    p.set_defaults(func=cmd_device)
    p = sub.add_parser("events", help="list what is in the event log")
    p.add_argument("--json", action="store_true")
    p.add_argument("--after", type=int, default=0, help="cursor: the position of the last event already seen")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=cmd_events)
    p = sub.add_parser("synth", help="synthetic people, classes, attendance and ceremonies at scale")
    p.add_argument("--people", type=int, default=2000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--classes", type=int)
    p.add_argument("--rows", type=int, help="aim for about this many attendance rows instead")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_synth)
    p = sub.add_parser("reset-password", help="give a user a new one-time password")
    p.add_argument("username")
    p.set_defaults(func=cmd_reset_password)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatabaseLockedError, DatabaseDamagedError, CliError) as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())

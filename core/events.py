"""Every kind of event, once: what the audit trail calls it and what it carries.

How each kind changes the read model is in `core/projections.py` (a test checks that every kind here has a
fold there and that every kind the code emits is listed here; an event of an unlisted kind is recorded as an
ingest error, never skipped in silence).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # what the audit trail shows
    personal: bool = False  # carries a person's data (names, faces, attendance): erasure looks at it
    device: bool = False  # posted by a device through the receiver (high volume: not audit material)
    always_audited: bool = False  # a worker's action the audit trail must show all the same


_ALL = [
    # people and rosters
    Kind("roster.imported", "Imported a roster", personal=True),
    Kind("person.upserted", "Edited a person", personal=True),
    Kind("person.deleted", "Deleted a person", personal=True),
    Kind("person.erased", "Erased a person"),
    # classes, schedules, sessions, attendance
    Kind("class.upserted", "Saved a class"),
    Kind("schedule.upserted", "Saved a schedule"),
    Kind("schedule.removed", "Removed a schedule"),
    Kind("session.scheduled", "Scheduled a session"),
    Kind("session.started", "Started attendance"),
    Kind("session.ended", "Ended attendance"),
    Kind("attendance.recorded", "Checked in", personal=True),
    Kind("attendance.corrected", "Corrected attendance", personal=True),
    # ceremonies
    Kind("ceremony.created", "Created a ceremony"),
    Kind("ceremony.started", "Started a ceremony"),
    Kind("ceremony.ended", "Ended a ceremony"),
    Kind("ceremony.settings", "Changed ceremony settings"),
    Kind("ceremony.called", "Called a graduate"),
    Kind("ceremony.call_undone", "Undid a call"),
    Kind("ceremony.skipped", "Skipped a graduate"),
    Kind("ceremony.requeued", "Re-queued a graduate"),
    Kind("ceremony.status_set", "Changed a graduate's status"),
    Kind("ceremony.absent_timeout", "Marked absent by the timer"),
    Kind("ceremony.lineup_checked", "Checked a card at line-up", personal=True),
    Kind("ceremony.links_revoked", "Revoked the screen links"),
    Kind("stage.identified", "Identified at the stage", personal=True),
    # devices
    Kind("beam.front", "Front beam", device=True),
    Kind("beam.back", "Back beam", device=True),
    Kind("rfid.scan", "RFID scan", personal=True, device=True),
    Kind("pir.trigger", "Motion", device=True),
    Kind("button.press", "Button", device=True),
    Kind("device.heartbeat", "Heartbeat", device=True),
    Kind("frame.captured", "Camera frame", personal=True, device=True),
    Kind("frame.processed", "Camera frame looked at", personal=True),
    Kind("device.registered", "Registered a device"),
    Kind("device.revoked", "Revoked a device"),
    Kind("device.enabled", "Enabled a device"),
    # faces and consent
    Kind("consent.recorded", "Recorded consent", personal=True),
    Kind("consent.revoked", "Revoked consent", personal=True),
    Kind("face.enrolled", "Enrolled a face", personal=True),
    Kind("face.removed", "Removed faces", personal=True),
    Kind("face.not_this_person", "Marked a wrong match", personal=True),
    Kind("face.unknown_seen", "Unknown face"),
    Kind("alert.sent", "Sent an alert"),
    # users and sign-in
    Kind("user.created", "Added a user"),
    Kind("user.updated", "Changed a user"),
    Kind("user.password_set", "Set a password"),
    Kind("auth.login_failed", "Failed sign-in"),
    Kind("auth.login_succeeded", "Signed in"),
    Kind("auth.signed_out", "Signed out"),
    # privacy
    Kind("retention.purged", "Purged expired data", always_audited=True),
    Kind("redacted", "Redacted"),
]

KINDS: dict[str, Kind] = {k.name: k for k in _ALL}
assert len(KINDS) == len(_ALL), "an event kind is listed twice"


def label(kind: str) -> str:
    """The audit trail's words for a kind (an unknown kind shows as itself)."""
    known = KINDS.get(kind)
    return known.label if known else kind

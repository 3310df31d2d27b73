"""Privacy: the consent register, retention of each kind of personal data, and erasure of a person.

The event log is append-only with one exception, `EventLog.rewrite`, which this package alone uses:
retention redacts what expired (a frame's image, a check-in's face crop, old attendance, idle face
templates) and erasure takes a person out of every event. What a rewrite changes is mirrored in the read
model in the same step, row by row, and the read model file is then copied afresh (no bytes of removed rows
stay in its freed blocks); a rebuild always gives the tables the app shows (the tests compare). Biometric data is
encrypted with a key per person (core.keys): shredding that key makes every copy unreadable, wherever it is.
"""

from core.privacy.common import DAY_MS, ERASED, PrivacyError, iter_log, photo_folder, tombstone
from core.privacy.consent import consent_register, revoke_consent
from core.privacy.erasure import ErasureReport, erase_person, pending_erasure, resume_erasure
from core.privacy.policy import policy, retention_summary
from core.privacy.retention import (
           PurgeResult,
           RetentionRule,
           RetentionWorker,
           last_purges,
           purge_expired,
           retention_rules,
)

__all__ = ["DAY_MS", "ERASED", "ErasureReport", "PrivacyError", "PurgeResult", "RetentionRule", "RetentionWorker",
           "consent_register", "erase_person", "iter_log", "last_purges", "pending_erasure", "photo_folder", "policy",
           "purge_expired", "resume_erasure", "retention_rules", "retention_summary", "revoke_consent", "tombstone"]

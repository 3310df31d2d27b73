"""Enrollment, identification and "not this person", over the engine, the gallery and the key store."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.eventlog import Event
from core.faces.engine import Face, FaceEngine
from core.faces.gallery import Gallery, Match, PersonThreshold
from core.faces.images import ImageError, decode_image
from core.faces.quality import assess, main_faces
from core.keys import KeyErasedError
from core.privacy import consent
from core.services import Rollcall


class EnrollmentError(ValueError):
    pass


@dataclass
class LookAlike:
    """Someone else already enrolled whom a new photo's face matches (score at or above the match threshold)."""
    student_id: str
    name: str | None
    score: float


@dataclass
class PhotoVerdict:
    name: str
    accepted: bool
    reason: str = ""  # why it was refused, in plain words
    warnings: list[str] = field(default_factory=list)  # accepted, but look (resemblance, inconsistent)
    quality: dict | None = None
    looks_like: LookAlike | None = None  # set: refused unless staff confirm with a reason
    face_crop: bytes | None = None  # JPEG of the face found, to show beside the look-alike's photo
    # Set when this person already has photos and this face matches none of them (best similarity below the
    # match threshold): refused unless staff confirm with a reason, like a look-alike.
    unlike_own: float | None = None
    unlike_photo: bytes | None = None  # the face of this upload it was compared with (None: an enrolled one)

    @property
    def held(self) -> bool:
        """Refused only until staff confirm, with a reason, that it is this person."""
        return self.looks_like is not None or self.unlike_own is not None


@dataclass
class IdentifiedFace:
    box: list[int]
    known: bool
    student_id: str | None
    name: str | None
    guardian_name: str | None
    department: str | None
    contact: str | None
    images_count: int
    score: float
    runner_up_gap: float

    def as_dict(self) -> dict:
        return asdict(self)


def _vector(face: Face) -> np.ndarray:
    """The face's embedding, which FaceEngine.embed (and analyze) always set."""
    if face.embedding is None:
        raise ValueError("the face has not been embedded")
    return face.embedding


def _jpeg_crop(image: np.ndarray, box, margin: float = 0.25) -> bytes | None:
    """The face (box x, y, w, h, with a margin) from a decoded BGR image, as JPEG."""
    import cv2

    x, y, bw, bh = (int(v) for v in box[:4])
    mx, my = int(bw * margin), int(bh * margin)
    h, w = image.shape[:2]
    left, top, right, bottom = max(0, x - mx), max(0, y - my), min(w, x + bw + mx), min(h, y + bh + my)
    if right <= left or bottom <= top:
        return None
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image[top:bottom, left:right]))
    return jpeg.tobytes() if ok else None


class FaceService:
    def __init__(self, app: Rollcall):
        self.app = app
        self.settings = app.settings
        self.engine = FaceEngine(app.settings)
        self.gallery = Gallery.from_settings(self.engine.model_name, self.settings)
        self._version = -1
        self._vectors: dict[str, tuple[str, np.ndarray]] = {}  # template id -> (student id, vector)
        self._sync = threading.Lock()

    # --- keeping the gallery in step with the read model ---------------------------------------

    def refresh(self) -> None:
        """Reload what changed since the last call (enrollments from any process reach DuckDB as events)."""
        version = int(self.app.db.scalar("SELECT version FROM face_state WHERE id = 1"))
        with self._sync:
            if version == self._version:
                return
            rows = self.app.db.query("SELECT template_id, student_id, token FROM face_templates WHERE model = ?",
                                     [self.engine.model_name])
            vectors = {}
            for template_id, student_id, token in rows.itertuples(index=False):
                known = self._vectors.get(template_id)
                vector = known[1] if known else self._decrypt_vector(student_id, token)
                if vector is not None:
                    vectors[template_id] = (student_id, vector)
            gallery = Gallery.from_settings(self.engine.model_name, self.settings)
            gallery.add_many([(t, s, v) for t, (s, v) in vectors.items()])
            negatives = self.app.db.query("SELECT student_id, token FROM face_negatives WHERE model = ?",
                                          [self.engine.model_name])
            for student_id, token in negatives.itertuples(index=False):
                vector = self._decrypt_vector(student_id, token)
                if vector is not None:
                    gallery.add_negative(student_id, vector)
            gallery.calibrate()  # here, not in the check-in's first match after an enrollment
            self._vectors, self.gallery, self._version = vectors, gallery, version

    def forget(self, student_id: str | None = None) -> None:
        """Drop a person from the gallery and the caches now (consent revoked, erased); with None, everything.
        The next refresh reloads from the read model whatever its face version says."""
        with self._sync:
            if student_id is None:
                self._vectors = {}
                self.gallery = Gallery.from_settings(self.engine.model_name, self.settings)
            else:
                self._vectors = {t: sv for t, sv in self._vectors.items() if sv[0] != student_id}
                self.gallery.remove_person(student_id)
            self._version = -1

    def _decrypt_vector(self, student_id: str, token: str) -> np.ndarray | None:
        try:
            return np.frombuffer(self.app.keys.decrypt(student_id, token), np.float32)
        except KeyErasedError:
            return None  # erased person: the template is unreadable by design

    def _encrypt_vector(self, student_id: str, vector: np.ndarray) -> str:
        return self.app.keys.encrypt(student_id, np.asarray(vector, np.float32).tobytes())

    # --- consent -------------------------------------------------------------------------------

    def consent_of(self, student_id: str) -> dict | None:
        """The consent in force (None when none was recorded, or it was revoked): core.privacy.consent."""
        return consent.consent_in_force(self.app, student_id)

    def consent_record(self, student_id: str) -> dict | None:
        return consent.consent_record(self.app, student_id)

    def record_consent(self, student_id: str, method: str, actor: str,
                       purpose: str = "attendance and ceremony") -> None:
        self._require_person(student_id)
        consent.record_consent(self.app, student_id, method, actor, purpose)

    def _require_person(self, student_id: str) -> dict:
        df = self.app.db.query("SELECT * FROM people WHERE student_id = ?", [student_id])
        if df.empty:
            raise EnrollmentError(f"No person with student id {student_id!r}.")
        return df.iloc[0].to_dict()

    # --- enrollment --------------------------------------------------------------------------

    def enroll(self, student_id: str, photos: list[tuple[str, bytes]], actor: str,
               progress: Callable[[int, int, str], None] | None = None, *,
               confirm_lookalike_reason: str | None = None) -> list[PhotoVerdict]:
        """Check each photo; store an encrypted template for each good one. Nothing is processed without consent.

        When a photo's face matches someone else already enrolled (at the match threshold or above), or matches
        none of this person's own photos (enrolled before, or earlier in this upload), nothing of the upload is
        enrolled: the verdicts carry `looks_like` / `unlike_own` (and the face crops) so staff can compare, and the
        same call with `confirm_lookalike_reason` enrolls it, the reason kept in the audit trail."""
        reason = (confirm_lookalike_reason or "").strip() or None
        self._require_person(student_id)
        consent.require_consent(self.app, student_id)
        self.refresh()
        # This person's faces so far: (vector, JPEG crop when it came with this upload, else None).
        own: list[tuple[np.ndarray, bytes | None]] = [(v, None) for s, v in self._vectors.values() if s == student_id]
        verdicts, events = [], []
        for n, (name, data) in enumerate(photos, 1):
            if progress:
                progress(n, len(photos), name)
            verdict, vector = self._check_photo(name, data, student_id, own)
            verdicts.append(verdict)
            if vector is None:
                continue
            own.append((vector, verdict.face_crop))  # later photos of the upload are compared with it too
            if verdict.held and reason is None:
                continue
            template_id = str(uuid.uuid4())
            if self.settings.keep_photos:
                self._keep_photo(student_id, template_id, data)
            payload: dict[str, Any] = {
                "template_id": template_id, "student_id": student_id, "model": self.engine.model_name,
                "detector": self.engine.detector_name, "quality": verdict.quality, "source": name,
                "token": self._encrypt_vector(student_id, vector)}
            if verdict.looks_like is not None:
                payload |= {"looks_like": verdict.looks_like.student_id,
                            "looks_like_score": round(verdict.looks_like.score, 4), "reason": reason}
            if verdict.unlike_own is not None:
                payload |= {"unlike_own_score": round(verdict.unlike_own, 4), "reason": reason}
            events.append((verdict, Event.new("face.enrolled", payload, actor=actor)))
        if reason is None and any(v.held for v in verdicts):
            for verdict in verdicts:  # hold the whole upload: staff confirm it, then send it again
                if verdict.looks_like is not None:
                    verdict.accepted = False
                    verdict.reason = (f"looks like {self._label(verdict.looks_like.student_id)} (similarity "
                                      f"{verdict.looks_like.score:.2f}): not enrolled until staff confirm it is "
                                      "this person")
                elif verdict.unlike_own is not None:
                    verdict.accepted = False
                    verdict.reason = (f"does not look like this person's other photos (best similarity "
                                      f"{verdict.unlike_own:.2f}, below {self.settings.match_threshold:.2f}): not "
                                      "enrolled until staff confirm it is this person")
                elif verdict.accepted:
                    verdict.accepted = False
                    verdict.reason = "not enrolled yet: another photo of this upload needs staff to confirm it"
            return verdicts
        if events:
            self.app.submit(*[event for _, event in events])
            self.refresh()
        return verdicts

    def _check_photo(self, name: str, data: bytes, student_id: str,
                     own: list[tuple[np.ndarray, bytes | None]]) -> tuple[PhotoVerdict, np.ndarray | None]:
        try:
            image = decode_image(data, name, max_bytes=self.settings.max_image_bytes,
                                 max_pixels=self.settings.max_image_pixels)
        except ImageError as exc:
            return PhotoVerdict(name, False, str(exc).removeprefix(f"{name}: ")), None
        faces = main_faces(self.engine.detect(image))
        if not faces:
            return PhotoVerdict(name, False, "no face found"), None
        if len(faces) > 1:
            reason = f"more than one face ({len(faces)}): use a photo of this person alone"
            return PhotoVerdict(name, False, reason), None
        face = faces[0]
        quality = assess(face, self.settings)
        if not quality.ok:
            return PhotoVerdict(name, False, "; ".join(quality.problems), quality=quality.as_dict()), None
        vector = _vector(self.engine.embed([face])[0])
        verdict = PhotoVerdict(name, True, quality=quality.as_dict(), face_crop=_jpeg_crop(image, face.box))
        for other, score in self.gallery.person_scores(vector, exclude=student_id)[:3]:
            if score >= self.settings.match_threshold and verdict.looks_like is None:
                verdict.looks_like = LookAlike(other, self._name(other), float(score))
                verdict.warnings.append(f"looks like {self._label(other)} (similarity {score:.2f}): "
                                        "twins or a photo in the wrong folder?")
            elif score >= self.settings.lookalike_threshold:
                verdict.warnings.append(f"resembles {self._label(other)} (similarity {score:.2f}): "
                                        "twins or a photo in the wrong folder?")
        if own:
            scores = [float(v @ vector) for v, _ in own]
            best = int(np.argmax(scores))
            if scores[best] < self.settings.match_threshold:
                verdict.unlike_own, verdict.unlike_photo = scores[best], own[best][1]
                verdict.warnings.append(f"does not look like this person's other photos (similarity "
                                        f"{scores[best]:.2f})")
        return verdict, vector

    def _keep_photo(self, student_id: str, template_id: str, data: bytes) -> None:
        # Only when an admin enabled it; encrypted with the person's key like every biometric.
        from core.privacy import photo_folder

        folder = photo_folder(self.settings, student_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{template_id}.enc").write_text(self.app.keys.encrypt(student_id, data))

    def _name(self, student_id: str) -> str | None:
        return self.app.db.scalar("SELECT name FROM people WHERE student_id = ?", [student_id])

    def face_picture(self, student_id: str) -> bytes | None:
        """A picture of an enrolled person to compare a look-alike with (templates are no pictures): their most
        recent kept enrollment photo, else their most recent check-in face crop; None when there is neither."""
        from core.privacy import photo_folder

        kept = self.app.db.query("SELECT template_id FROM face_templates WHERE student_id = ? "
                                 "ORDER BY created_at DESC", [student_id])["template_id"]
        folder = photo_folder(self.settings, student_id)
        for template_id in kept:
            path = folder / f"{template_id}.enc"
            if path.exists():
                try:
                    return self.app.keys.decrypt(student_id, path.read_text())
                except KeyErasedError:
                    return None
        token = self.app.db.scalar("SELECT crop_token FROM evidence_crops WHERE student_id = ? "
                                   "ORDER BY at_time DESC LIMIT 1", [student_id])
        if token:
            try:
                return self.app.keys.decrypt(student_id, token)
            except KeyErasedError:
                return None
        return None

    def label(self, student_id: str) -> str:
        name = self.app.db.scalar("SELECT name FROM people WHERE student_id = ?", [student_id])
        return f"{name} ({student_id})" if name else student_id

    _label = label

    def threshold_of(self, student_id: str) -> PersonThreshold | None:
        """The score a match to this person needs and why (None: no template of the current model)."""
        self.refresh()
        return self.gallery.person_threshold(student_id)

    def templates_of(self, student_id: str):
        return self.app.db.query(
            "SELECT template_id, model, detector, quality, source, created_at FROM face_templates "
            "WHERE student_id = ? ORDER BY created_at", [student_id])

    def remove_templates(self, student_id: str, actor: str, template_id: str | None = None,
                         reason: str | None = None) -> None:
        self.app.submit(Event.new("face.removed", {"student_id": student_id, "template_id": template_id,
                                                    "reason": reason}, actor=actor))

    # --- identification ------------------------------------------------------------------------

    def match_faces(self, image: np.ndarray) -> list[tuple[Face, Match]]:
        self.refresh()
        gallery = self.gallery
        return [(face, gallery.match(_vector(face))) for face in self.engine.analyze(image)]

    def identify(self, data: bytes, name: str = "photo") -> list[IdentifiedFace]:
        image = decode_image(data, name, max_bytes=self.settings.max_image_bytes,
                             max_pixels=self.settings.max_image_pixels)
        out = []
        for face, match in self.match_faces(image):
            person = self._person_card(match.student_id) if match.student_id is not None else {}
            out.append(IdentifiedFace(
                box=[int(v) for v in face.box], known=match.known, student_id=match.student_id,
                name=person.get("name"), guardian_name=person.get("guardian_name"),
                department=person.get("department"), contact=person.get("phone") or person.get("email"),
                images_count=int(person.get("photo_count") or 0), score=round(match.score, 4),
                runner_up_gap=round(match.runner_up_gap, 4)))
        return out

    def _person_card(self, student_id: str) -> dict:
        df = self.app.db.query("SELECT name, guardian_name, department, phone, email, photo_count FROM people "
                               "WHERE student_id = ?", [student_id])
        return {} if df.empty else {k: (None if pd.isna(v) else v) for k, v in df.iloc[0].to_dict().items()}

    def not_this_person(self, student_id: str, embedding: np.ndarray, actor: str, reason: str | None = None) -> None:
        """An operator says this face is not `student_id`: the matcher will not make that match again."""
        self.app.submit(Event.new("face.not_this_person", {
            "student_id": student_id, "model": self.engine.model_name,
            "token": self._encrypt_vector(student_id, embedding), "reason": reason}, actor=actor))
        self.refresh()


"""Signed QR codes on cards: the secret, what the QR says, reading it from a picture, checking it, the PNG.

A card's QR reads `RC1:<ceremony_id>:<student_id>:<sig>`, where sig is the first 16 hex characters of
HMAC-SHA256(secret, "<ceremony_id>:<student_id>"). Anyone can read the ids from a card, but without the
secret nobody can make a card for another student or edit one by hand. The secret is derived from the master key
(`card_secret`). A person's own check-in card names the "ceremony" CHECKIN_CARD. No database, no Streamlit.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from core.config import Settings
from core.keys import load_master_key

PREFIX = "RC1"
CHECKIN_CARD = "ID"  # the "ceremony" of a person's own card: any genuine card checks its holder in at the camera
SIG_LENGTH = 16  # hex characters = 64 bits: plenty against guessing, and keeps the QR small

_ID = re.compile(r"[A-Za-z0-9_-]+")
_SIG = re.compile(rf"[0-9a-f]{{{SIG_LENGTH}}}")


class QRError(ValueError):
    """A scanned QR is not a valid Rollcall card; the message says why in plain words."""


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{what} must be letters, digits, '-' or '_' only, got {value!r}")


def _sign(secret: bytes, ceremony_id: str, student_id: str) -> str:
    digest = hmac.new(secret, f"{ceremony_id}:{student_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:SIG_LENGTH]


def qr_payload(secret: bytes, ceremony_id: str, student_id: str) -> str:
    """The text printed in a graduate's QR code."""
    _check_id(ceremony_id, "ceremony id")
    _check_id(student_id, "student id")
    return f"{PREFIX}:{ceremony_id}:{student_id}:{_sign(secret, ceremony_id, student_id)}"


def parse_qr(secret: bytes, text: str) -> tuple[str, str]:
    """(ceremony_id, student_id) from a scanned QR; QRError if it is not a genuine, unedited Rollcall card."""
    text = (text or "").strip()
    if not text:
        raise QRError("The QR code is empty.")
    parts = text.split(":")
    if parts[0] != PREFIX:
        raise QRError("This QR code is not a Rollcall graduation card.")
    if len(parts) != 4:
        raise QRError("This Rollcall QR code is damaged or incomplete.")
    _, ceremony_id, student_id, sig = parts
    if not (_ID.fullmatch(ceremony_id) and _ID.fullmatch(student_id) and _SIG.fullmatch(sig)):
        raise QRError("This Rollcall QR code is damaged or incomplete.")
    if not hmac.compare_digest(sig, _sign(secret, ceremony_id, student_id)):
        raise QRError("This card's QR code does not check out: it was changed or made elsewhere.")
    return ceremony_id, student_id


def qr_png(text: str, box_size: int = 8) -> bytes:
    """PNG bytes of a QR code for `text` (error correction M, 2-module quiet zone)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=2)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def card_secret(settings: Settings) -> bytes:
    """The key that signs card QR codes, derived from the master key (cards cannot be forged)."""
    return hmac.new(load_master_key(settings.master_key, settings.data_path), b"qr-cards", hashlib.sha256).digest()


def card_text(settings: Settings, ceremony_id: str, student_id: str) -> str:
    """The text of a genuine card of this installation."""
    return qr_payload(card_secret(settings), ceremony_id, student_id)


def read_card(settings: Settings, text: str) -> tuple[str, str]:
    """(ceremony_id, student_id) of a scanned card of this installation; QRError if it is not genuine."""
    return parse_qr(card_secret(settings), text)


def read_qr_codes(image) -> list[str]:
    """QR texts in a BGR image. The ArUco-based detector reads every card code (the classic one misses ~2 %)."""
    import cv2  # only the cameras need it

    found, texts, _, _ = cv2.QRCodeDetectorAruco().detectAndDecodeMulti(image)
    return [t for t in texts if t] if found else []

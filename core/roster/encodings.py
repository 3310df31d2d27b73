"""Text clean-up: Thai normalised, mojibake (UTF-8 read as TIS-620 / cp1252 / Mac Roman) repaired."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

_THAI_LETTER = re.compile("[\u0e01-\u0e5b]")  # assigned Thai code points only


def _thai_count(text: str) -> int:
    return len(_THAI_LETTER.findall(text))


def _byte_tables(*codecs: str) -> tuple[dict[str, int], dict[int, str]]:
    """char -> byte and byte -> char for a single-byte code page, filling its holes from the next codec.

    Windows fills undefined bytes (cp1252's 0x81 is the second byte of "ก") with C1 controls or the
    cp1252 glyph, so a strict Python codec would miss exactly the characters mojibake is made of.
    """
    to_byte: dict[str, int] = {}
    to_char: dict[int, str] = {}
    for b in range(256):
        for codec in (*codecs, "latin-1"):
            try:
                ch = bytes([b]).decode(codec)
            except UnicodeDecodeError:
                continue
            to_char[b] = ch
            to_byte.setdefault(ch, b)
            break
    return to_byte, to_char


@dataclass(frozen=True, eq=False)
class _Misread:
    codec: str
    label: str  # for the note shown to the user
    to_byte: dict[str, int] = field(repr=False)
    to_char: dict[int, str] = field(repr=False)
    nbsp_is_a0: bool = False  # byte 0xA0 reads as a no-break space, which later tools often turn into a space


_MAC_ROMAN = _Misread("mac_roman", "Mac Roman", *_byte_tables("mac_roman"), nbsp_is_a0=False)
_CP1252 = _Misread("cp1252", "Windows-1252", *_byte_tables("cp1252"), nbsp_is_a0=True)
# Thai Excel opening a UTF-8 CSV as Windows-874 gives "เธชเธกเธŠเธฒเธข": this one does contain Thai letters.
_CP874 = _Misread("cp874", "Thai Windows-874", *_byte_tables("cp874", "cp1252"), nbsp_is_a0=True)
_MAC_ROMAN.to_byte.setdefault("\u2126", 0xBD)  # OHM SIGN, which some Mac software emits for byte 0xBD

_SURROGATE = re.compile("[\udc80-\udcff]")
_LOST_NBSP = re.compile(rb"\xe0\xb8(?: |\Z)")  # "ภ" is E0 B8 A0; its A0 became a space or was trimmed


def _strict_undo(text: str, misread: _Misread) -> str | None:
    """Undo one mis-decoding of the whole text, or None when the text can't have come from it."""
    try:
        raw = bytes(misread.to_byte[ch] for ch in text)
        return raw.decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None


def _lenient_undo(text: str, misread: _Misread) -> str:
    """Undo a mis-decoding piece by piece, leaving anything that doesn't decode as it was.

    Characters the code page can't produce (genuine Thai, U+FFFD) are carried through as their own
    UTF-8 bytes, so a line that mixes good text and mojibake only has the mojibake changed.
    """
    raw = bytearray()
    for ch in text:
        b = misread.to_byte.get(ch)
        if b is None:
            raw += ch.encode("utf-8", "surrogatepass")
        else:
            raw.append(b)
    data = bytes(raw)
    if misread.nbsp_is_a0:
        data = _LOST_NBSP.sub(b"\xe0\xb8\xa0", data)
    decoded = data.decode("utf-8", "surrogateescape")
    return _SURROGATE.sub(lambda m: misread.to_char[ord(m.group()) - 0xDC00], decoded)


_NOT_PLAUSIBLE = re.compile(
    "[^\x00-\x7f\u00a0-\u024f\u0e01-\u0e3a\u0e3f-\u0e5b\u2000-\u206f\u20ac]"  # odd scripts, unassigned
    "|(?:^|[^\u0e01-\u0e5b])[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e]"  # a Thai vowel/tone mark with no letter
)


def _plausible_thai(text: str) -> bool:
    """Guards the Windows-874 undo, whose input is itself Thai: a short Thai word can re-encode to valid
    UTF-8 by chance, but then yields one letter, an unassigned code point or a stray mark, never a name."""
    return _thai_count(text) >= 2 and not _NOT_PLAUSIBLE.search(text)


def _repair_piece(text: str) -> tuple[str, _Misread | None]:
    """Repair one cell or line of UTF-8 Thai that was read with the wrong code page and saved again."""
    if text.isascii() or not ("\u2021" in text or "\u00e0" in text or "เธ" in text or "เน" in text):
        return text, None  # every misreading of a UTF-8 Thai letter starts with one of these
    thai_before = _thai_count(text)
    if thai_before == 0:
        # Spec rule: only text with no Thai letters can be Mac Roman / cp1252 mojibake.
        for misread in (_MAC_ROMAN, _CP1252):
            fixed = _strict_undo(text, misread)
            if fixed is not None and _thai_count(fixed):
                return fixed, misread
    else:
        # Whole-text only: genuine Thai essentially never re-encodes to valid UTF-8, but pieces of it might.
        fixed = _strict_undo(text, _CP874)
        if fixed is not None and _plausible_thai(fixed):
            return fixed, _CP874
    for misread in (_MAC_ROMAN, _CP1252):
        # Damaged mojibake (a byte lost, mixed with good text): keep whatever part decodes to Thai.
        fixed = _lenient_undo(text, misread)
        if _thai_count(fixed) > thai_before:
            return fixed, misread
    return text, None


def _undo_latin(text: str, evidence: Iterable[_Misread]) -> str:
    """Undo a misreading on text that gave no Thai ("Jos√©" -> "José"), once Thai lines proved it happened.

    Only a whole-text strict round trip counts: genuine accented text essentially never survives one.
    """
    if text.isascii():
        return text
    for misread in evidence:
        fixed = _strict_undo(text, misread)
        if fixed is not None and fixed != text:
            return fixed
    return text


def _repair(text: str) -> tuple[str, set[_Misread]]:
    lines = text.splitlines(keepends=True)
    bodies = [line.rstrip("\r\n") for line in lines]
    fixed: list[str | None] = []
    used: set[_Misread] = set()
    for body in bodies:
        repaired, misread = _repair_piece(body)
        fixed.append(repaired if misread else None)
        if misread is not None:
            used.add(misread)
    evidence = [m for m in (_MAC_ROMAN, _CP1252, _CP874) if m in used]
    out = []
    for line, body, mended in zip(lines, bodies, fixed, strict=True):
        out.append((mended if mended is not None else _undo_latin(body, evidence)) + line[len(body):])
    return "".join(out), used


def repair_mojibake(text: str) -> tuple[str, bool]:
    """Repair UTF-8 Thai that was mis-decoded once (as Mac Roman, Windows-1252 or Windows-874) and saved.

    Works line by line, so a file where only some lines were damaged is still repaired. Text that is
    not mojibake, such as "José" or "Zoë", is returned unchanged.
    """
    fixed, used = _repair(text)
    return fixed, bool(used)


_SPLIT_SARA_AM = re.compile("\u0e4d([\u0e48-\u0e4b]?)\u0e32")


def _normalise_thai(text: str) -> str:
    # Two common typing slips that look identical on screen but break matching and sorting.
    text = text.replace("\u0e40\u0e40", "\u0e41")  # SARA E twice for SARA AE ("เเ" -> "แ")
    if "\u0e4d" in text:
        text = _SPLIT_SARA_AM.sub("\\1\u0e33", text)  # NIKHAHIT + SARA AA -> SARA AM
    return text


class _Cleaner:
    """Normalises cell text and remembers which mojibake repairs it made, for the preview's note."""

    def __init__(self, evidence: Iterable[_Misread] = ()) -> None:
        self.misreads: set[str] = set()
        # Misreadings already seen in this file, so non-Thai cells garbled the same way are undone too.
        self.evidence = [m for m in (_MAC_ROMAN, _CP1252, _CP874) if m in set(evidence)]

    def __call__(self, value: str | None) -> str | None:
        if value is None:
            return None
        text = unicodedata.normalize("NFC", value)
        text, misread = _repair_piece(text)  # before stripping: mojibake contains C1 controls and NBSP
        if misread is not None:
            self.misreads.add(misread.label)
        elif self.evidence:
            text = _undo_latin(text, self.evidence)
        text = unicodedata.normalize("NFC", text)
        # Drop invisible characters (zero-width space is common in Thai text) but keep whitespace.
        if not text.isprintable():  # rare, so the per-character filter only runs when needed
            text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf"))
        if _THAI_LETTER.search(text):
            text = _normalise_thai(text)
        text = " ".join(text.split())
        return text or None

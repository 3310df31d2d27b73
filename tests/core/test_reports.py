"""Graduation cards: signed QR payloads, and the printable cards PDF checked with real tools.

The PDF is rendered with poppler (pdftoppm, pdftotext, pdfinfo) and the QR codes are read back with OpenCV,
the library a webcam scanner would use.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import unicodedata
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.qr import QRError, parse_qr, qr_payload, qr_png
from core.reports import CARD_H, CARD_W, GRID_TOP, MARGIN, Card, _clusters, cards_pdf

SECRET = b"test-secret-for-cards"
CEREMONY = "grad-2568_1"
POPPLER_HINT = "the card tests need poppler-utils (pdftoppm, pdftotext, pdfinfo): `make test` installs it"

NAMES = [  # (name, English name, department)
    ("กิตติพัฒน์ ไชยวงศ์", "Kittiphat Chaiwong", "วิศวกรรมคอมพิวเตอร์"),
    ("น้ำฝน ปั้นทอง", "Namfon Panthong", "บัญชี"),
    ("Zoë Müller", "Zoë Müller", "International Business"),
    ("นางสาวกนกวรรณ ศรีสุขสวัสดิ์วงศ์ประเสริฐกุลธรรมรักษ์ ณ อยุธยา",
     "Miss Kanokwan Srisuksawatwongprasertkulthamrak Na Ayutthaya", "เทคโนโลยีสารสนเทศ"),
    ("<b>สมชาย</b> ใจดี", None, None),
    ("เด็กหญิงฤๅษี ศรีสุข", "Ruesi Srisuk", "นิเทศศาสตร์"),
    ("ณัฐธิดา ชื่นใจ", "Natthida Chuenjai", None),
    ("ปิ่นมณี เลิศล้ำ", "Pinmanee Loetlam", "วิทยาศาสตร์"),
    ("José O'Brien-Ng", "José O'Brien-Ng", "Law"),
    ("ธนพร แก้วประเสริฐ", "Thanaporn Kaewprasert", "พยาบาลศาสตร์"),
]


def _card(order: int, name: str, name_en: str | None, department: str | None) -> Card:
    student_id = f"64010{order:02d}"
    return Card(order_no=order, student_id=student_id, name=name, name_en=name_en, department=department,
                qr_text=qr_payload(SECRET, CEREMONY, student_id))


CARDS = [_card(i + 1, *row) for i, row in enumerate(NAMES)]


@functools.cache
def _require_poppler() -> None:
    for tool in ("pdftoppm", "pdftotext", "pdfinfo"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found; {POPPLER_HINT}")


def _run(*cmd: str | Path) -> str:
    _require_poppler()
    result = subprocess.run([str(part) for part in cmd], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _page_count(pdf: Path) -> int:
    info = _run("pdfinfo", pdf)
    return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))


def _render(pdf: Path, dpi: int, *pages: int) -> list[Path]:
    prefix = pdf.with_name(f"{pdf.stem}-{dpi}")
    first_last = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    _run("pdftoppm", "-png", "-r", str(dpi), *first_last, pdf, prefix)
    return sorted(pdf.parent.glob(f"{prefix.name}-*.png"))


@pytest.fixture(scope="module")
def cards_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cards") / "cards.pdf"
    path.write_bytes(cards_pdf("พิธีพระราชทานปริญญาบัตร 2568 — Graduation 2025", CARDS))
    return path


# ------------------------------------------------------------------------------------------------------ QR


def test_qr_payload_round_trip():
    text = qr_payload(SECRET, CEREMONY, "6401001")
    assert text.startswith(f"RC1:{CEREMONY}:6401001:")
    assert len(text.rsplit(":", 1)[1]) == 16
    assert parse_qr(SECRET, text) == (CEREMONY, "6401001")
    assert parse_qr(SECRET, f"  {text}\n") == (CEREMONY, "6401001")  # scanners often add a newline


def test_qr_payload_depends_on_secret_ceremony_and_student():
    base = qr_payload(SECRET, CEREMONY, "6401001")
    assert qr_payload(SECRET, CEREMONY, "6401001") == base
    assert len({base, qr_payload(b"other", CEREMONY, "6401001"), qr_payload(SECRET, "other", "6401001"),
                qr_payload(SECRET, CEREMONY, "6401002")}) == 4


def _flip_last_hex(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda t: t.replace(":6401001:", ":6401002:"), id="other-student"),
    pytest.param(lambda t: t.replace(f":{CEREMONY}:", ":grad-2569:"), id="other-ceremony"),
    pytest.param(_flip_last_hex, id="sig-edited"),
    pytest.param(lambda t: t[:-16] + "0" * 16, id="sig-zeroed"),
])
def test_tampered_qr_is_rejected(tamper):
    text = qr_payload(SECRET, CEREMONY, "6401001")
    with pytest.raises(QRError, match="does not check out"):
        parse_qr(SECRET, tamper(text))


def test_qr_from_another_secret_is_rejected():
    with pytest.raises(QRError, match="does not check out"):
        parse_qr(SECRET, qr_payload(b"another installation", CEREMONY, "6401001"))


@pytest.mark.parametrize("text", ["https://example.com/grad?id=6401001", "hello", "6401001", "rc1:a:b:c"])
def test_foreign_qr_is_rejected_with_a_plain_message(text):
    with pytest.raises(QRError, match="not a Rollcall graduation card"):
        parse_qr(SECRET, text)


@pytest.mark.parametrize("text", [
    "RC1:grad", "RC1:grad:6401001", "RC1:grad:6401001:abc:extra", "RC1:grad:6401001:xyz",
    "RC1::6401001:0123456789abcdef", "RC1:grad:64 01:0123456789abcdef", "RC1:grad:6401001:0123456789ABCDEF",
])
def test_malformed_rollcall_qr_is_rejected(text):
    with pytest.raises(QRError, match="damaged or incomplete"):
        parse_qr(SECRET, text)


def test_empty_qr_is_rejected():
    with pytest.raises(QRError, match="empty"):
        parse_qr(SECRET, "")
    assert issubclass(QRError, ValueError)


@pytest.mark.parametrize("bad", ["", "64 01", "a:b", "ศรี", "6401001\n", "x/y", "ü"])
def test_bad_ids_raise_value_error(bad):
    with pytest.raises(ValueError, match="letters, digits"):
        qr_payload(SECRET, bad, "6401001")
    with pytest.raises(ValueError, match="letters, digits"):
        qr_payload(SECRET, CEREMONY, bad)


def _decode_png(data: bytes, detector) -> str:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    return detector.detectAndDecode(image)[0]


def test_qr_png_decodes_with_opencv():
    text = qr_payload(SECRET, CEREMONY, "6401001")
    data = qr_png(text)
    assert data.startswith(b"\x89PNG")
    assert _decode_png(data, cv2.QRCodeDetector()) == text
    assert _decode_png(qr_png(text, box_size=4), cv2.QRCodeDetector()) == text


def test_every_qr_png_decodes_with_opencvs_aruco_detector():
    # OpenCV's classic QRCodeDetector misses a few percent of perfectly valid codes (about 8 in 300 of these,
    # always the same ones: it depends on the module pattern); QRCodeDetectorAruco read all of them. A scanner
    # should use the Aruco detector (or fall back to it).
    detector = cv2.QRCodeDetectorAruco()
    texts = [qr_payload(SECRET, CEREMONY, f"64{i:05d}") for i in range(100)]
    assert [_decode_png(qr_png(text), detector) for text in texts] == texts


# ---------------------------------------------------------------------------------------------------- cards


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _marks_before_each_letter(text: str) -> list[Counter]:
    """For each letter (non-mark) of text, the combining marks that come before it."""
    seen: Counter = Counter()
    before = []
    for ch in text:
        if _is_mark(ch):
            seen[ch] += 1
        else:
            before.append(seen.copy())
    return before


def _assert_in_text_layer(name: str, text_layer: str) -> None:
    """The name can be found in the PDF's text layer, allowing for how poppler extracts shaped Thai.

    With text shaping, pdftotext may put spaces inside a word ("น้ำ ฝน") and may emit a vowel or tone mark
    after the following letter ("ศรีสุข" -> "ศรีสข ุ"): it orders glyphs by position, and a mark sits over its
    letter. So: ignore whitespace, NFKD both sides (sara am may come out as nikhahit + sara aa), then require
    (1) the name's letters, i.e. everything but combining marks, contiguous and in order; (2) exactly the
    name's marks in that stretch of text (plus any marks trailing it); (3) no mark earlier than in the name
    (poppler only ever moves them later). That still catches a missing, doubled, reordered or substituted
    letter, and a lost, extra, wrong or misplaced mark.
    """
    def squash(s: str) -> str:
        return "".join(unicodedata.normalize("NFKD", s).split())

    wanted, layer = squash(name), squash(text_layer)
    wanted_letters = "".join(ch for ch in wanted if not _is_mark(ch))
    letters = [i for i, ch in enumerate(layer) if not _is_mark(ch)]  # positions of the layer's letters
    joined = "".join(layer[i] for i in letters)
    wanted_before = _marks_before_each_letter(wanted)
    start = joined.find(wanted_letters)
    while start != -1:
        stop = start + len(wanted_letters)
        window = layer[letters[start]:letters[stop] if stop < len(letters) else len(layer)]
        if Counter(window) == Counter(wanted) and all(
                not (got - want) for got, want in zip(_marks_before_each_letter(window), wanted_before, strict=False)):
            return
        start = joined.find(wanted_letters, start + 1)
    raise AssertionError(f"{name!r} not found in the text layer:\n{text_layer}")


def test_text_layer_check_is_meaningful():
    _assert_in_text_layer("ศรีสุข", "ชื่อ ศรีสข ุ\nอื่น")  # a mark emitted after the next letter: fine
    _assert_in_text_layer("น้ำฝน", "น้ำ ฝน")
    _assert_in_text_layer("ศรีสุข", "ศรสีข ุ")
    for wrong in ["ศรีสข\n", "ศรีสุุข", "ศรีสุก", "ศีรสุข", "ศรีสู ข", "ศรีส", "ุศรีสข"]:
        with pytest.raises(AssertionError):
            _assert_in_text_layer("ศรีสุข", wrong)


def test_cards_pdf_renders_two_pages_of_cards(cards_file):
    assert cards_file.read_bytes().startswith(b"%PDF")
    assert _page_count(cards_file) == 2
    pngs = _render(cards_file, 60)
    assert len(pngs) == 2
    dark = []
    for png in pngs:
        image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        assert abs(image.shape[0] - 702) <= 1 and abs(image.shape[1] - 496) <= 1  # A4 at 60 dpi
        dark.append(int((image < 100).sum()))
    assert dark[0] > 8 * 1500  # eight QR codes and their text
    assert 2 * 1500 < dark[1] < dark[0]  # two cards on the last page


def test_names_are_in_the_text_layer(cards_file):
    text = _run("pdftotext", "-raw", "-enc", "UTF-8", cards_file, "-")
    for card in CARDS:
        _assert_in_text_layer(card.name, text)  # the long Thai name too: wrapped on two lines, not cut
        if card.name_en:
            _assert_in_text_layer(card.name_en, text)
        if card.department:
            _assert_in_text_layer(card.department, text)
        assert card.student_id in text
    assert "<b>สมชาย</b>" in text  # markup is printed as typed, not interpreted
    assert "page 1 of 2" in text and "page 2 of 2" in text
    _assert_in_text_layer("พิธีพระราชทานปริญญาบัตร 2568", text)


def _card_crop(page: np.ndarray, slot: int, dpi: int) -> np.ndarray:
    row, col = divmod(slot, 2)

    def px(mm: float) -> int:
        return round(mm / 25.4 * dpi)

    x, y = MARGIN + col * CARD_W, GRID_TOP + row * CARD_H
    return page[px(y):px(y + CARD_H), px(x):px(x + CARD_W)]


def test_qr_codes_on_the_printed_page_decode(cards_file):
    page = cv2.imread(str(_render(cards_file, 150, 1)[0]), cv2.IMREAD_GRAYSCALE)
    crops = [_card_crop(page, slot, 150) for slot in range(8)]
    # The classic detector, on the first card...
    assert cv2.QRCodeDetector().detectAndDecode(crops[0])[0] == CARDS[0].qr_text
    # ...and every card on the page with the Aruco detector, each QR where its card is.
    aruco = cv2.QRCodeDetectorAruco()
    decoded = [aruco.detectAndDecode(crop)[0] for crop in crops]
    assert decoded == [card.qr_text for card in CARDS[:8]]
    assert parse_qr(SECRET, decoded[3]) == (CEREMONY, CARDS[3].student_id)


def test_no_cards_gives_one_page_saying_so(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(cards_pdf("Graduation 2025", []))
    assert _page_count(path) == 1
    text = _run("pdftotext", "-raw", "-enc", "UTF-8", path, "-")
    assert "There are no graduates to print." in text
    _assert_in_text_layer("ไม่มีรายชื่อผู้สำเร็จการศึกษา", text)
    assert "page 1 of 1" in text


def test_per_page(tmp_path):
    path = tmp_path / "three.pdf"
    path.write_bytes(cards_pdf("Graduation 2025", CARDS, per_page=3))
    assert _page_count(path) == 4
    assert "page 4 of 4" in _run("pdftotext", "-raw", path, "-")
    for bad in (0, 9, -1):
        with pytest.raises(ValueError, match="per_page"):
            cards_pdf("x", CARDS, per_page=bad)


def test_a_name_too_long_to_fit_is_shortened_between_whole_characters(tmp_path):
    name = "ปิ่นมณีศรีสุขสวัสดิ์" * 12  # one "word": nothing to wrap at, too long even at the smallest size
    path = tmp_path / "long.pdf"
    path.write_bytes(cards_pdf("Graduation 2025", [_card(1, name, None, "x" * 300)]))
    lines = _run("pdftotext", "-raw", "-enc", "UTF-8", path, "-").splitlines()
    shown = next(line for line in lines if line.startswith("ปิ"))
    assert shown.endswith("…")
    kept = "".join(shown[:-1].split())
    assert 20 < len(kept) < len(name)
    assert Counter(kept) == Counter(name[:len(kept)])  # a prefix of the name, no mark left without its letter
    assert any(line.startswith("xxxx") and line.endswith("…") for line in lines)  # the department too


def test_clusters_keep_thai_marks_and_leading_vowels_with_their_letter():
    assert _clusters("ปิ่นเก้า") == ["ปิ่", "น", "เก้", "า"]
    assert _clusters("น้ำใจ") == ["น้ำ", "ใจ"]
    assert _clusters(unicodedata.normalize("NFD", "Zoë")) == ["Z", "o", "e\u0308"]
    assert "".join(_clusters("กิตติพัฒน์ ไชยวงศ์")) == "กิตติพัฒน์ ไชยวงศ์"


def test_characters_the_font_lacks_show_as_question_marks_not_nothing(tmp_path):
    # Noto Sans Thai has no Chinese or emoji: fpdf would silently drop them and "王小明 สมชาย" would print as a
    # plausible-looking "สมชาย". Zero-width spaces (common in Thai text from the web) simply go.
    names = ["王小明 สมชาย", "สมหญิง\u200bรักดี", "Ann\u00a0Lee 😀"]
    path = tmp_path / "odd.pdf"
    path.write_bytes(cards_pdf("Graduation 2025", [_card(i + 1, n, None, None) for i, n in enumerate(names)]))
    text = _run("pdftotext", "-raw", "-enc", "UTF-8", path, "-")
    _assert_in_text_layer("??? สมชาย", text)
    _assert_in_text_layer("สมหญิงรักดี", text)
    assert "\u200b" not in text
    assert "Ann Lee ?" in text

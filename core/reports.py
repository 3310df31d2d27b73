"""Printable documents: graduation cards, and a ceremony's line-up and reader sheets (PDF).

Pure functions: no database, no Streamlit. The caller builds `Card`s (from DuckDB) and gets PDF bytes back.
Text is set in Noto Sans Thai (it covers Latin as well) with HarfBuzz text shaping, so Thai vowels and tone
marks stack on their consonants instead of piling up beside them.
"""

from __future__ import annotations

import io
import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import fontpkg_noto_sans_thai
from fontTools.ttLib import TTFont
from fpdf import FPDF

from core.qr import qr_png

FONT_FILE = Path(fontpkg_noto_sans_thai.ROOT) / "files" / "NotoSansThai[wdth,wght].ttf"
FONT = "NotoSansThai"

# A4 portrait, millimetres. The card grid is fixed (2 x 4 cards of 95 x 67.75 mm) so that cards are the same
# size whatever `per_page` is; a smaller `per_page` only leaves the bottom rows of each page empty.
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN = 10.0
HEADER_Y = 8.0
GRID_TOP = 18.0
COLUMNS, ROWS = 2, 4
CARD_W = (PAGE_W - 2 * MARGIN) / COLUMNS
CARD_H = (PAGE_H - MARGIN - GRID_TOP) / ROWS
PAD = 4.0
QR_SIZE = 36.0
TEXT_W = CARD_W - 2 * PAD  # the name, English name and department run under the QR, across the whole card

DARK, GREY, LIGHT = (20, 20, 20), (100, 100, 100), (175, 175, 175)
ELLIPSIS = "…"


@dataclass(frozen=True)
class Card:
    order_no: int | None  # the calling order on a ceremony card; None on a person's own check-in card
    student_id: str
    name: str  # Thai or any script
    name_en: str | None
    department: str | None
    qr_text: str  # from core.qr.qr_payload


def cards_pdf(title: str, cards: list[Card], *, per_page: int = 8) -> bytes:
    """A4 sheets of graduation cards to print and cut out: 2 columns x 4 rows, dashed cut lines, one QR per card.

    `per_page` (1-8) only says how many of the fixed-size card slots each page fills. No cards gives one page
    that says there is nobody to print.
    """
    if not 1 <= per_page <= COLUMNS * ROWS:
        raise ValueError(f"per_page must be between 1 and {COLUMNS * ROWS}, got {per_page}")
    sheet = _Sheet(title)
    pages = max(1, math.ceil(len(cards) / per_page))
    for page in range(pages):
        sheet.add_page()
        sheet.header_line(title, page + 1, pages)
        for slot, card in enumerate(cards[page * per_page:(page + 1) * per_page]):
            row, col = divmod(slot, COLUMNS)
            sheet.card(card, MARGIN + col * CARD_W, GRID_TOP + row * CARD_H)
    if not cards:
        sheet.fit_line("ไม่มีรายชื่อผู้สำเร็จการศึกษา", MARGIN, 60, PAGE_W - 2 * MARGIN, "B", 20, 10, 12, "C")
        sheet.set_text_color(*GREY)
        sheet.fit_line("There are no graduates to print.", MARGIN, 74, PAGE_W - 2 * MARGIN, "", 14, 8, 8, "C")
    return bytes(sheet.output())


class _Sheet(FPDF):
    """An A4 document in Noto Sans Thai that knows how to lay out a card and fit a line of text in a box."""

    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.c_margin = 0  # cells print exactly where, and as wide as, we measure
        self.add_font(FONT, "", FONT_FILE, variations={"wght": 400.0})
        self.add_font(FONT, "B", FONT_FILE, variations={"wght": 700.0})
        self.set_text_shaping(True)
        self.set_title(title)
        self.set_creator("Rollcall")
        self._widths: dict[tuple[str, str, bool], float] = {}  # labels and departments repeat on every card

    def header_line(self, title: str, page: int, pages: int) -> None:
        label = f"page {page} of {pages}"
        self.set_font(FONT, "", 9)
        label_w = self.get_string_width(label)
        self.set_text_color(*GREY)
        self.fit_line(label, PAGE_W - MARGIN - label_w, HEADER_Y, label_w, "", 9, 9, 7)
        self.set_text_color(*DARK)
        self.fit_line(title, MARGIN, HEADER_Y, PAGE_W - 2 * MARGIN - label_w - 6, "B", 13, 8, 7)
        self.set_draw_color(*LIGHT)
        self.set_line_width(0.2)
        self.line(MARGIN, GRID_TOP - 2.5, PAGE_W - MARGIN, GRID_TOP - 2.5)

    def card(self, card: Card, x: float, y: float) -> None:
        # Cut line: a light dashed rectangle; neighbouring cards share their edges.
        self.set_draw_color(*LIGHT)
        self.set_line_width(0.25)
        self.set_dash_pattern(dash=2, gap=1.5)
        self.rect(x, y, CARD_W, CARD_H)
        self.set_dash_pattern()

        left, top = x + PAD, y + PAD
        self.image(io.BytesIO(_qr_image(card.qr_text)), x=x + CARD_W - PAD - QR_SIZE, y=top, w=QR_SIZE, h=QR_SIZE)

        # Top left, beside the QR: the order number (big) and the student id.
        side_w = CARD_W - 2 * PAD - QR_SIZE - 3
        self.set_text_color(*GREY)
        if card.order_no is not None:
            self.fit_line("ลำดับที่ / No.", left, top, side_w, "", 8, 6, 4)
        self.fit_line("รหัสนักศึกษา / Student ID", left, top + 25, side_w, "", 8, 6, 4)
        self.set_text_color(*DARK)
        if card.order_no is not None:
            self.fit_line(str(card.order_no), left, top + 4, side_w, "B", 40, 14, 16)
        self.fit_line(card.student_id, left, top + 29, side_w, "B", 12, 7, 6)

        # Under the QR, across the card: the name, the English name, the department.
        name_top = top + QR_SIZE + 1.5
        self.name_lines(card.name, left, name_top)
        self.set_text_color(*GREY)
        if card.name_en:
            self.fit_line(card.name_en, left, name_top + 10.5, TEXT_W, "", 10, 7, 5)
        if card.department:
            self.fit_line(card.department, left, name_top + 16, TEXT_W, "", 9, 6.5, 5)
        self.set_text_color(*DARK)

    def name_lines(self, name: str, x: float, y: float) -> None:
        """The graduate's name in bold, as big as fits (18 pt down to 10 pt), else on two lines (11 to 7 pt), else
        shortened with "…" (never between a letter and its marks)."""
        name = _clean(name)
        self.set_font(FONT, "B", 18)
        self.set_text_shaping(_needs_shaping(name))
        if self.size_to_fit(name, TEXT_W, 18, 10):
            self.fit_line(name, x, y, TEXT_W, "B", 18, 10, 10)
            return
        lines = self.split_in_two(name)
        if lines:  # both lines the same size, so it still reads as one name
            size = min(self.size_to_fit(line, TEXT_W, 11, 7) or 7 for line in lines)
            self.fit_line(lines[0], x, y - 0.8, TEXT_W, "B", size, 7, 5)
            self.fit_line(lines[1], x, y + 4.7, TEXT_W, "B", size, 7, 5)
            return
        self.fit_line(name, x, y, TEXT_W, "B", 10, 8, 10)  # one endless word: shortened rather than unreadable

    def fit_line(self, text: str, x: float, y: float, w: float, style: str, max_pt: float, min_pt: float,
                 h: float, align: str = "L") -> None:
        """One line of text in the box (x, y, w, h): shrunk from max_pt to fit w, shortened with "…" below min_pt."""
        text = _clean(text)
        if not text:
            return
        self.set_text_shaping(_needs_shaping(text))
        self.set_font(FONT, style, max_pt)
        size = self.size_to_fit(text, w, max_pt, min_pt)
        if size is None:
            size = min_pt
            self.set_font(FONT, style, size)
            text = self.shorten(text, w)
        self.set_font(FONT, style, size)
        self.set_xy(x, y)
        self.cell(w, h, text, align=align)

    def size_to_fit(self, text: str, w: float, max_pt: float, min_pt: float) -> float | None:
        """The largest size (in 0.5 pt steps, at most max_pt) at which `text` is no wider than w; None below min_pt.

        Widths scale with the font size, so one measurement at 1 pt (remembered per text and style) is enough.
        """
        key = (text, self.font_style, bool(self.text_shaping))
        if key not in self._widths:
            self._widths[key] = self.get_string_width(text) / self.font_size_pt
        per_pt = self._widths[key]
        if per_pt <= 0:
            return max_pt
        size = min(max_pt, math.floor(w / per_pt * 2) / 2)
        return size if size >= min_pt else None

    def split_in_two(self, text: str) -> tuple[str, str] | None:
        """Split at the space that makes the longer of the two lines shortest; None for a single word."""
        words = text.split(" ")
        if len(words) < 2:
            return None
        splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
        return min(splits, key=lambda pair: max(self.get_string_width(part) for part in pair))

    def shorten(self, text: str, w: float) -> str:
        """Drop whole characters (with their vowel and tone marks) from the end until text + "…" fits in w."""
        clusters = _clusters(text)
        lo, hi = 0, len(clusters)  # binary search for the most clusters that fit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.get_string_width("".join(clusters[:mid]).rstrip() + ELLIPSIS) <= w:
                lo = mid
            else:
                hi = mid - 1
        return "".join(clusters[:lo]).rstrip() + ELLIPSIS


@dataclass(frozen=True)
class SheetRow:
    order_no: int
    student_id: str
    name: str
    name_en: str
    department: str
    pronunciation: str


LIST_TOP = GRID_TOP + 1  # the first line under the page header
LIST_BOTTOM = PAGE_H - MARGIN


def lineup_sheet_pdf(title: str, rows: list[SheetRow]) -> bytes:
    """The marshals' line-up sheet: every graduate in seating order, one line each (order, id, names, a box to
    tick), a heading at each department, column titles on every page."""
    columns = [("ลำดับ / No.", 16), ("รหัส / ID", 28), ("ชื่อ-นามสกุล / Name", 74), ("English", 56), ("มา / In", 16)]
    line_h, heading_h = 7.0, 9.0

    def draw_titles(sheet: _Sheet, y: float) -> float:
        x = MARGIN
        sheet.set_text_color(*GREY)
        for label, w in columns:
            sheet.fit_line(label, x, y, w - 2, "", 8, 6, 5)
            x += w
        sheet.set_text_color(*DARK)
        return y + 6

    def draw_row(sheet: _Sheet, r: SheetRow, y: float) -> None:
        x, cells = MARGIN, [str(r.order_no), r.student_id, r.name, r.name_en, ""]
        for (_, w), text, style in zip(columns, cells, ("B", "", "B", "", ""), strict=True):
            sheet.fit_line(text, x, y + 0.5, w - 2, style, 11, 7, line_h - 1)
            x += w
        sheet.set_draw_color(*LIGHT)
        sheet.rect(PAGE_W - MARGIN - 11, y + 1.0, 4.2, 4.2)  # the box to tick
        sheet.line(MARGIN, y + line_h, PAGE_W - MARGIN, y + line_h)

    return _list_pdf(title, "Line-up sheet", rows, line_h, heading_h, draw_titles, draw_row)


def reader_sheet_pdf(title: str, rows: list[SheetRow]) -> bytes:
    """The reader's sheet: each name large, its pronunciation note under it (อ่านว่า …), the English name and the
    order number beside, a heading at each department so the reader announces it."""
    line_h, heading_h = 19.5, 12.0
    name_w = PAGE_W - 2 * MARGIN - 22

    def draw_titles(sheet: _Sheet, y: float) -> float:
        return y

    def draw_row(sheet: _Sheet, r: SheetRow, y: float) -> None:
        sheet.set_text_color(*GREY)
        sheet.fit_line(f"{r.order_no}", MARGIN, y + 1, 18, "B", 16, 9, 9)
        sheet.set_text_color(*DARK)
        sheet.fit_line(r.name, MARGIN + 22, y, name_w, "B", 20, 11, 10)
        say = f"อ่านว่า  {r.pronunciation}" if r.pronunciation else ""
        sheet.set_text_color(150, 70, 0)
        sheet.fit_line(say, MARGIN + 22, y + 9.5, name_w * 0.55, "", 12, 8, 6)
        sheet.set_text_color(*GREY)
        sheet.fit_line(r.name_en, MARGIN + 22 + name_w * 0.57, y + 9.5, name_w * 0.43, "", 11, 7, 6)
        sheet.set_text_color(*DARK)
        sheet.set_draw_color(*LIGHT)
        sheet.line(MARGIN, y + line_h - 2, PAGE_W - MARGIN, y + line_h - 2)

    return _list_pdf(title, "Reader's sheet", rows, line_h, heading_h, draw_titles, draw_row)


def _list_pdf(title: str, what: str, rows: list[SheetRow], line_h: float, heading_h: float, draw_titles,
              draw_row) -> bytes:
    """Rows down A4 pages with a heading wherever the department changes; a heading never ends a page."""
    sheet = _Sheet(f"{title} · {what}")
    sheet.set_line_width(0.2)
    pages: list[list[tuple[str, object]]] = [[]]
    y = LIST_TOP + 6
    department = None
    for r in rows:  # plan the pages first: the header says "page n of N"
        heading = r.department != department
        need = line_h + (heading_h if heading else 0)
        if y + need > LIST_BOTTOM:
            pages.append([])
            y, heading = LIST_TOP + 6, True  # each page names the department it continues
        if heading:
            pages[-1].append(("heading", r.department))
            y += heading_h
        pages[-1].append(("row", r))
        y += line_h
        department = r.department
    for n, items in enumerate(pages, 1):
        sheet.add_page()
        sheet.header_line(f"{title} · {what}", n, len(pages))
        y = draw_titles(sheet, LIST_TOP)
        for kind, item in items:
            if kind == "heading":
                sheet.set_fill_color(238, 238, 238)
                sheet.rect(MARGIN, y + 1, PAGE_W - 2 * MARGIN, heading_h - 2.5, style="F")
                sheet.fit_line(str(item) or "—", MARGIN + 2, y + 1.5, PAGE_W - 2 * MARGIN - 4, "B", 12, 8,
                               heading_h - 3.5)
                y += heading_h
            else:
                draw_row(sheet, item, y)
                y += line_h
    if not rows:
        sheet.fit_line("ไม่มีรายชื่อ / Nobody on this ceremony.", MARGIN, 60, PAGE_W - 2 * MARGIN, "B", 16, 10, 12,
                       "C")
    return bytes(sheet.output())


def _needs_shaping(text: str) -> bool:
    """Thai (and any other script past Latin Extended, or a combining mark) goes through HarfBuzz; plain Latin
    need not. Shaping costs ~0.5 ms a line, which for 500 cards of seven lines each was most of the time."""
    return any(ord(ch) > 0x24F for ch in text)


_THAI_LEADING_VOWELS = frozenset("เแโใไ")  # written before the consonant they belong to
_THAI_TRAILING = frozenset("\u0e33\u0e45")  # sara am, lakkhangyao: spacing, but part of the syllable before


def _clusters(text: str) -> list[str]:
    """Text cut into pieces that are never split: a base character with its marks (Thai vowels above/below,
    tone marks, accents), a Thai leading vowel together with its consonant."""
    clusters: list[str] = []
    for ch in text:
        if clusters and (unicodedata.category(ch).startswith("M") or ch in _THAI_TRAILING
                         or clusters[-1][-1] in _THAI_LEADING_VOWELS):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def _clean(text: str | None) -> str:
    """One line of printable text: NFC, whitespace runs (newlines, tabs) to single spaces, no control or format
    characters (zero-width spaces that Thai text often carries, bidi marks), and "?" for a character the font
    cannot draw (Chinese, emoji...), which would otherwise vanish without a trace and leave a name looking whole.
    """
    covered = _font_chars()
    out = []
    for ch in unicodedata.normalize("NFC", text or ""):
        if ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        else:
            out.append(ch if ord(ch) in covered else "?")
    return " ".join("".join(out).split())


@lru_cache(maxsize=1)
def _font_chars() -> frozenset[int]:
    return frozenset(TTFont(FONT_FILE, lazy=True).getBestCmap())


@lru_cache(maxsize=1024)
def _qr_image(text: str) -> bytes:
    return qr_png(text)

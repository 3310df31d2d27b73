"""CSV, Excel and PDF exports of any filtered view.

Every text cell is neutralised against formula injection: a cell that starts with = + - @ (or a tab
or carriage return) is prefixed with an apostrophe, so a name like `=HYPERLINK(...)` stays text in Excel.
Excel cells also lose the control characters a worksheet cannot hold (one would fail the whole export).
"""

from __future__ import annotations

import io
import logging
import os
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from fpdf import FPDF

from core import analytics, charts
from core.reports import FONT, FONT_FILE, _clean, _clusters, _needs_shaping

if TYPE_CHECKING:
    from core.db import Database
    from core.services import Rollcall

log = logging.getLogger(__name__)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_ROWS = 1_048_575
EXCEL_MAX_CELL_CHARS = 32_767
_NOT_IN_WORKSHEETS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what openpyxl refuses to write


def neutralise(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _for_excel(value):
    if isinstance(value, str):
        return _NOT_IN_WORKSHEETS.sub("", value)[:EXCEL_MAX_CELL_CHARS]
    return value


def _safe(frame: pd.DataFrame, excel: bool = False) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_for_excel).map(neutralise) if excel else out[col].map(neutralise)
        elif isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_localize(None)  # Excel has no time zones: local wall-clock time
    return out


def csv_stream(frames: Iterable[pd.DataFrame], columns: list[str] | None = None) -> Iterator[bytes]:
    """UTF-8 with a BOM (Excel then reads Thai correctly), the header once, chunk by chunk.
    Times are written as local wall-clock times without an offset (what Excel reads, and 3× faster)."""
    first = True
    for frame in frames:
        # CRLF ends a row (RFC 4180), so a cell holding a bare \r is quoted: unquoted, a reader would start a
        # new row there, and "x\r=cmd|..." would put a live formula at the start of it.
        text = _safe(frame).to_csv(index=False, header=first, lineterminator="\r\n")
        yield ("\ufeff" + text if first else text).encode("utf-8")
        first = False
    if first:
        yield ("\ufeff" + (",".join(columns) + "\r\n" if columns else "")).encode("utf-8")


def export_csv(db: Database, f: analytics.Filters, path: Any, *, chunk_rows: int = 50_000,
               include_absent: bool = False, progress: Callable[[int], None] | None = None) -> int:
    """Write `analytics.attendance_rows` to a CSV file chunk by chunk (see csv_stream); returns rows."""
    total = 0

    def counted() -> Iterator[pd.DataFrame]:
        nonlocal total
        for chunk in analytics.attendance_rows(db, f, chunk_rows, include_absent=include_absent):
            total += len(chunk)
            if progress:
                progress(total)
            yield chunk

    with open(path, "wb") as out:
        out.writelines(csv_stream(counted(), columns=analytics.EXPORT_COLUMNS))
    return total


def excel_bytes(frames: Iterable[pd.DataFrame], sheet: str = "Rollcall") -> bytes:
    frames = list(frames)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(frame) > EXCEL_MAX_ROWS:
        raise ValueError(f"{len(frame):,} rows do not fit in one Excel sheet; export CSV instead")
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        _safe(frame, excel=True).to_excel(writer, index=False, sheet_name=sheet[:31])
    return buffer.getvalue()


def figures_png(figures: list, browser: Path | None, width: int = 900, height: int = 360) -> list[bytes] | None:
    """Chart images for the PDF, drawn by headless Chromium (kaleido); None when no browser is installed."""
    if browser is None or not Path(browser).exists():
        return None
    os.environ.setdefault("BROWSER_PATH", str(browser))
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    try:
        return [kaleido.calc_fig_sync(fig, opts={"format": "png", "width": width, "height": height})
                for fig in figures]
    finally:
        kaleido.stop_sync_server(silence_warnings=True)


class _Report(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.title_text = title
        self.add_font(FONT, "", FONT_FILE, variations={"wght": 400.0})
        self.add_font(FONT, "B", FONT_FILE, variations={"wght": 700.0})
        self.set_text_shaping(True)
        self.set_title(title)
        self.set_creator("Rollcall")
        self.set_auto_page_break(True, margin=14)

    def header(self) -> None:
        self.set_font(FONT, "", 8)
        self.set_text_color(120, 120, 120)
        self.cell(0, 5, _clean(self.title_text), new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(20, 20, 20)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT, "", 8)
        self.set_text_color(120, 120, 120)
        self.cell(0, 5, f"page {self.page_no()} of {{nb}}", align="R")


KPI_PER_ROW = 6  # the six headline figures of the Statistics page sit in one row
KPI_H, KPI_GAP = 15.0, 3.0
CHART_GAP = 4.0
CHARTS_PER_PAGE = 2
CHART_PX = (900, 480)  # kaleido's image size for the report: two fit on an A4 page under the KPIs


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


def kpi_boxes(count: int, left: float, top: float, width: float) -> list[Box]:
    """Equal boxes side by side, KPI_PER_ROW to a row: every box of a row has the same top edge."""
    per_row = max(1, min(count, KPI_PER_ROW))
    w = (width - (per_row - 1) * KPI_GAP) / per_row
    return [Box(left + (n % per_row) * (w + KPI_GAP), top + (n // per_row) * (KPI_H + KPI_GAP), w, KPI_H)
            for n in range(count)]


def chart_boxes(count: int, left: float, top: float, width: float, bottom: float, aspect: float) -> list[Box]:
    """Up to `count` charts stacked between top and bottom: full width, or narrower (centred, same aspect
    height/width) when `count` of them would not fit the height."""
    if count <= 0:
        return []
    h = min(width * aspect, (bottom - top - (count - 1) * CHART_GAP) / count)
    w = h / aspect
    x = left + (width - w) / 2
    return [Box(x, top + n * (h + CHART_GAP), w, h) for n in range(count)]


def _png_aspect(png: bytes) -> float:
    """height / width from the PNG header."""
    width, height = struct.unpack(">II", png[16:24])
    return height / width


def kpi_rows(k: dict) -> list[tuple[str, str]]:
    """The headline figures of analytics.kpis as (label, text), as the page and the PDF show them."""
    def percent(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    return [("Attendance rate", percent(k["attendance_rate"])), ("Late rate", percent(k["late_rate"])),
            ("Absences", f"{k['absent_count']:,}"), ("People who came", f"{k['unique_people']:,}"),
            ("Unknown faces", f"{k['unknown_faces']:,}"), ("Sessions", f"{k['sessions']:,}")]


def attendance_report_pdf(app: Rollcall, filters: analytics.Filters, rows: pd.DataFrame, *,
                          class_names: dict[str, str] | None = None, max_rows: int = 5000) -> bytes:
    """The Statistics page's PDF report: its filters, KPIs and six charts (in colour, whatever plotly's default
    template is in this process), then the first `max_rows` detail rows."""
    class_names = class_names or {}
    lines = [f"Period {filters.start} to {filters.end}",
             "Classes: " + (", ".join(class_names.get(c, c) for c in filters.class_ids) or "all"),
             "Departments: " + (", ".join(filters.departments) or "all")]
    if filters.session_id:
        lines.append(f"Session: {filters.session_id}")
    figures = charts.attendance_figures(app.db, filters, app.settings.match_threshold, template=charts.PRINT_TEMPLATE)
    images: Sequence[bytes | None] = (figures_png([fig for _, fig in figures], app.settings.chromium_path, *CHART_PX)
                                      or [None] * len(figures))
    return report_pdf("Rollcall attendance report", lines, kpi_rows(analytics.kpis(app.db, filters)),
                      [(title, png) for (title, _), png in zip(figures, images, strict=True)], rows.head(max_rows))


def report_pdf(title: str, filters: list[str], kpis: list[tuple[str, str]], charts: list[tuple[str, bytes | None]],
               table: pd.DataFrame, *, table_title: str = "Detail") -> bytes:
    """Title, filters, KPIs in one row, the charts as images two to a page, then the table (header repeated on
    every page)."""
    pdf = _Report(title)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(FONT, "B", 18)
    pdf.multi_cell(0, 9, _clean(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(90, 90, 90)
    for line in [*filters, f"Made {datetime.now():%Y-%m-%d %H:%M}"]:
        pdf.multi_cell(0, 5, _clean(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(20, 20, 20)
    boxes = kpi_boxes(len(kpis), pdf.l_margin, pdf.get_y() + 3, pdf.epw)
    for box, (label, value) in zip(boxes, kpis, strict=True):
        pdf.set_fill_color(243, 244, 246)
        pdf.rect(box.x, box.y, box.w, box.h, style="F")
        _fit_cell(pdf, label, box.x + 2, box.y + 1.5, box.w - 4, 4, "", 8, 6)
        _fit_cell(pdf, value, box.x + 2, box.y + 6, box.w - 4, 7, "B", 14, 8)
    top = (boxes[-1].y + boxes[-1].h if boxes else pdf.get_y()) + 5
    bottom = pdf.h - pdf.b_margin
    drawn = [png for _, png in charts if png is not None]
    for first in range(0, len(drawn), CHARTS_PER_PAGE):
        if first:
            pdf.add_page()
            top = pdf.get_y() + 2
        group = drawn[first:first + CHARTS_PER_PAGE]
        aspect = max(_png_aspect(png) for png in group)
        for box, png in zip(chart_boxes(len(group), pdf.l_margin, top, pdf.epw, bottom, aspect), group, strict=True):
            pdf.image(io.BytesIO(png), x=box.x, y=box.y, w=box.w, h=box.h)
        pdf.set_y(top)
    missing = [t for t, png in charts if png is None]
    if missing:
        pdf.set_xy(pdf.l_margin, top)
        pdf.set_font(FONT, "", 8)
        pdf.multi_cell(0, 4, "Charts not drawn (no headless browser on this machine): " + ", ".join(missing),
                       new_x="LMARGIN", new_y="NEXT")
    _table(pdf, table, table_title)
    return bytes(pdf.output())


def _fit_cell(pdf: FPDF, text: str, x: float, y: float, w: float, h: float, style: str, max_pt: float,
              min_pt: float) -> None:
    """One line in (x, y, w, h), shrunk from max_pt (down to min_pt) to fit the width, then cut."""
    text = _clean(text)
    size = max_pt
    pdf.set_font(FONT, style, size)
    while size > min_pt and pdf.get_string_width(text) > w:
        size -= 0.5
        pdf.set_font(FONT, style, size)
    clusters = _clusters(text)
    while clusters and pdf.get_string_width("".join(clusters)) > w:
        clusters.pop()
    pdf.set_xy(x, y)
    pdf.cell(w, h, "".join(clusters))


def _table(pdf: _Report, table: pd.DataFrame, title: str) -> None:
    pdf.add_page()
    pdf.set_font(FONT, "B", 12)
    pdf.cell(0, 8, _clean(f"{title} ({len(table):,} rows)"), new_x="LMARGIN", new_y="NEXT")
    if table.empty:
        return
    cols = list(table.columns)
    text = table.astype(object).where(table.notna(), "").map(
        lambda v: v.strftime("%Y-%m-%d %H:%M") if hasattr(v, "strftime") else f"{v:.3g}" if isinstance(v, float)
        else str(v))
    # Column widths by content, capped, scaled to the page.
    pdf.set_font(FONT, "", 7)
    widths = [min(60.0, max(pdf.get_string_width(str(c)), *(pdf.get_string_width(s) for s in text[c].head(200))) + 2)
              for c in cols]
    scale = pdf.epw / sum(widths)
    widths = [w * scale for w in widths]

    def header() -> None:
        pdf.set_font(FONT, "B", 7)
        pdf.set_fill_color(229, 231, 235)
        for c, w in zip(cols, widths, strict=True):
            pdf.cell(w, 5, _clean(str(c)), border=0, fill=True)
        pdf.ln(5)
        pdf.set_font(FONT, "", 7)

    header()
    for row in text.itertuples(index=False):
        if pdf.get_y() + 4.5 > pdf.h - 14:
            pdf.add_page()
            header()
        for value, w in zip(row, widths, strict=True):
            value = _clean(value)
            pdf.set_text_shaping(_needs_shaping(value))  # plain Latin needs no HarfBuzz: much faster
            if pdf.get_string_width(value) > w - 1:
                clusters = _clusters(value)  # never cut a Thai vowel or tone mark off its consonant
                while clusters and pdf.get_string_width("".join(clusters)) > w - 1:
                    clusters.pop()
                value = "".join(clusters)
            pdf.cell(w, 4.5, value)
        pdf.ln(4.5)
    pdf.set_text_shaping(True)

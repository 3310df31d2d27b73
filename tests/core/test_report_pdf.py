"""Issue #13: the Statistics PDF report as staff print it, from demo data, looked at pixel by pixel.

Staff saw the department chart's "Attendance rate" and "Late rate" bars both solid black (inside Streamlit
plotly's default template is Streamlit's, whose colours are placeholders only a browser fills in), the KPI boxes
as a staircase and a page holding a single chart.
"""

from __future__ import annotations

import colorsys
import subprocess
from datetime import date, timedelta

import numpy as np
import plotly.io as pio
import pytest
from PIL import Image

from core import analytics, exports
from core.demo import load_demo

KPI_GREY = np.array([243, 244, 246])


@pytest.fixture
def streamlit_plotly_theme():
    """What importing streamlit's plotly_chart does to every process that runs a page."""
    from streamlit.elements.lib.streamlit_plotly_theme import configure_streamlit_plotly_theme

    before = pio.templates.default
    configure_streamlit_plotly_theme()
    yield
    pio.templates.default = before


def render(pdf: bytes, tmp_path, first: int, last: int) -> list[np.ndarray]:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", str(first), "-l", str(last), str(path),
                    str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page-*.png"))
    return [np.asarray(Image.open(p).convert("RGB")).astype(int) for p in pngs]


def hues(pixels: np.ndarray) -> dict[int, int]:
    """Pixel counts of saturated, not dark colours by hue in 12 buckets of 30 degrees."""
    flat = pixels.reshape(-1, 3) / 255.0
    counts: dict[int, int] = {}
    for r, g, b in flat[::3]:  # every third pixel is plenty
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        if s > 0.4 and v > 0.35:
            counts[int(h * 12) % 12] = counts.get(int(h * 12) % 12, 0) + 1
    return counts


def solid_dark_blocks(pixels: np.ndarray, size: int = 8) -> int:
    """How many size x size blocks are entirely near-black (text strokes at 60 dpi are thinner than that)."""
    dark = pixels.max(axis=2) < 60
    rows, cols = dark.shape[0] // size, dark.shape[1] // size
    blocks = dark[:rows * size, :cols * size].reshape(rows, size, cols, size).all(axis=(1, 3))
    return int(blocks.sum())


def test_pdf_report_charts_in_colour_kpis_in_a_row_two_charts_a_page(app, tmp_path, streamlit_plotly_theme):
    load_demo(app, today=date.today())
    filters = analytics.Filters(start=date.today() - timedelta(days=30), end=date.today())
    rows = next(analytics.attendance_rows(app.db, filters), None)
    pdf = exports.attendance_report_pdf(app, filters, rows.head(50), class_names={})
    first, second, third = render(pdf, tmp_path, 1, 3)

    for page in (first, second, third):
        assert solid_dark_blocks(page) == 0  # no black bars
    # The department chart (page 2, as the page shows it: 2 on page 1, 2 on page 2) has both measures in colour.
    colours = {h: n for h, n in hues(second).items() if n > 150}
    assert len(colours) >= 2, colours
    assert len({h for h, n in hues(first).items() if n > 150}) >= 2  # the classes' lines, the heatmap's blues

    # KPI boxes: six runs of the box grey, all with their top edge on the same pixel row.
    grey = (np.abs(first - KPI_GREY).max(axis=2) <= 2)
    tops = [int(np.argmax(grey[:, x])) if grey[:, x].any() else None for x in range(grey.shape[1])]
    runs, current = [], []
    for x, top in enumerate(tops):
        if top is not None and (not current or x == current[-1][0] + 1):
            current.append((x, top))
        elif top is not None:
            runs.append(current)
            current = [(x, top)]
    runs.append(current)
    runs = [r for r in runs if len(r) >= 15]  # a box at 60 dpi is ~70 px wide
    assert len(runs) == 6, [(r[0][0], len(r)) for r in runs]
    box_tops = {int(np.median([t for _, t in r])) for r in runs}  # a stray light pixel above is no top edge
    assert max(box_tops) - min(box_tops) <= 1, box_tops

    # Two charts on each chart page: two separate bands of chart pixels (non-white rows) below the header.
    for page in (second, third):
        inked = (page < 245).any(axis=2).sum(axis=1) > page.shape[1] * 0.3  # rows well covered by a chart
        bands = int(np.sum(inked[1:] & ~inked[:-1]))
        assert bands >= 2, bands


def test_kpi_boxes_share_a_row_and_charts_fit_two_a_page():
    boxes = exports.kpi_boxes(6, 10, 50, 190)
    assert {b.y for b in boxes} == {50}
    assert boxes[-1].x + boxes[-1].w == pytest.approx(200)
    slots = exports.chart_boxes(2, 10, 70, 190, 283, 480 / 900)
    assert len(slots) == 2 and slots[1].y + slots[1].h <= 283 and slots[0].y + slots[0].h < slots[1].y

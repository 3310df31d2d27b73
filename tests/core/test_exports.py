"""Exports: CSV and Excel round trips, formula injection neutralised, the PDF report with Thai names."""

from __future__ import annotations

import io
import subprocess

import pandas as pd
import plotly.express as px
import pytest

from core import exports
from core.config import get_settings

ROWS = pd.DataFrame({
    "student_id": ["6501001", "6501002", "6501003"],
    "name": ["สมชาย ใจดี", "=HYPERLINK(\"http://evil\",\"x\")", "@SUM(A1)"],
    "department": ["วิศวกรรมคอมพิวเตอร์", "+1-555", "-2+3"],
    "status": ["present", "late", "present"],
    "score": [0.71, None, 0.66],
    "checked_at": pd.to_datetime(["2026-11-20 02:05", "2026-11-20 02:16", None]).tz_localize("UTC"),
})


def test_csv_round_trip_in_chunks_with_formulas_neutralised():
    data = b"".join(exports.csv_stream([ROWS.iloc[:2], ROWS.iloc[2:]]))
    assert data.startswith("\ufeff".encode())  # Excel needs the BOM to read Thai
    back = pd.read_csv(io.StringIO(data.decode("utf-8-sig")), dtype=str)
    assert list(back["student_id"]) == list(ROWS["student_id"])  # one header, all rows
    assert back["name"].iloc[0] == "สมชาย ใจดี"
    assert back["name"].iloc[1].startswith("'=") and back["name"].iloc[2] == "'@SUM(A1)"
    assert list(back["department"].iloc[1:]) == ["'+1-555", "'-2+3"]
    assert b"".join(exports.csv_stream([])) == "\ufeff".encode()


def test_excel_round_trip():
    back = pd.read_excel(io.BytesIO(exports.excel_bytes([ROWS], "Attendance")), dtype=str)
    assert back["name"].iloc[0] == "สมชาย ใจดี" and back["name"].iloc[1].startswith("'=")
    assert len(back) == 3


def test_pdf_report_has_thai_text_and_the_charts(tmp_path):
    browser = get_settings().chromium_path
    charts = exports.figures_png([px.bar(x=["ก", "ข"], y=[1, 2])], browser)
    if charts is None:
        pytest.fail(f"{browser} is missing: `make test` installs Debian's chromium")
    table = pd.concat([ROWS] * 400, ignore_index=True)  # 1,200 rows: several pages
    pdf = exports.report_pdf("รายงานการเข้าเรียน", ["Period 2026-11-01 to 2026-11-30"],
                             [("Attendance rate", "87%"), ("Late rate", "9%")], [("Chart", charts[0])], table)
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "87%" in text and "1,200 rows" in text and "6501003" in text
    flat = "".join(text.split())
    assert "ใจดี" in flat and "สมชาย" in flat
    pages = int(next(line.split()[-1] for line in subprocess.run(
        ["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()
        if line.startswith("Pages:")))
    assert pages >= 10
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path), str(tmp_path / "p")],
                   check=True)
    assert (tmp_path / "p-01.png").exists() or (tmp_path / "p-1.png").exists()

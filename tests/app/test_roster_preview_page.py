"""AppTest: the roster import preview maps a father's column to the guardian and names every column it did not
import (issue #13)."""

from __future__ import annotations

from tests.app.conftest import as_user, texts

ROSTER = ("Student ID,Name,Father Name,Nickname,,Blood type\r\n"
          "6601001,สมหญิง ใจงาม,นายสมศักดิ์ ใจงาม,หญิง,x,O\r\n").encode()


def test_the_preview_names_every_column_it_does_not_import(seeded):
    at = as_user("pages/people.py", "op").run()
    uploader = next(u for u in at.get("file_uploader") if "CSV" in u.label or "roster" in u.label.lower())
    uploader.upload("seed.csv", ROSTER, "text/csv")
    at.run()
    assert not at.exception, at.exception
    [warning] = [w for w in texts(at, "warning") if w.startswith("Not imported")]
    assert "'Nickname'" in warning and "'Blood type'" in warning and "'column E (no header)'" in warning
    assert "Father Name" not in warning  # it is the guardian now

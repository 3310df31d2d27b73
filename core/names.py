"""How names sort for display: by the name, not by its honorific, in Thai dictionary order.

`sort_key` is the rule for Python; `sort_sql` is its twin for queries (the same title pattern, the same ICU
Thai collation), so a list sorted in Python and a table sorted in DuckDB agree (a test keeps them so).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import pandas as pd

# Longest first: นางสาว before นาง, Mrs before Mr. Thai titles are written against the name (นายสมชาย) or with
# a space; English ones end with a dot or a space ("Miss Anna", not "Missy").
THAI_TITLES = ("นางสาว", "น.ส.", "นาย", "นาง", "เด็กชาย", "เด็กหญิง", "ด.ช.", "ด.ญ.")
ENGLISH_TITLES = ("Mrs", "Miss", "Mr", "Ms")

_PATTERN = (r"^\s*(?:(?:" + "|".join(re.escape(t) for t in sorted(THAI_TITLES, key=len, reverse=True)) + r")\s*"
            r"|(?:" + "|".join(sorted(ENGLISH_TITLES, key=len, reverse=True)) + r")(?:\.\s*|\s+))")
_TITLE = re.compile(_PATTERN, re.IGNORECASE)


def strip_title(name) -> str:
    """The name without a leading honorific (นาย, นางสาว, ด.ช., Mr., Miss …); a bare title stays as it is."""
    text = "" if name is None or pd.isna(name) else str(name)  # None and NaN: no name
    rest = _TITLE.sub("", text, count=1).strip()
    return rest or text.strip()


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _collator():
    import duckdb

    return duckdb.connect()  # in memory: only for ICU's Thai collation keys


@lru_cache(maxsize=65_536)
def sort_key(name) -> str:
    """A key that sorts names as a Thai dictionary does (leading vowels, tone marks), ignoring the honorific."""
    with _lock:
        return _collator().execute("SELECT icu_sort_key(?, 'th')", [strip_title(name)]).fetchone()[0]


def sort_sql(column: str) -> str:
    """`sort_key` for an ORDER BY over `column` (a column name of ours, never user input)."""
    pattern = _PATTERN.replace("'", "''")
    text = f"trim(coalesce({column}, ''))"
    return f"coalesce(nullif(trim(regexp_replace({text}, '(?i){pattern}', '')), ''), {text}) COLLATE th"

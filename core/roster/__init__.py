"""Read an uploaded roster (CSV or .xlsx) into validated rows and per-row errors, before anything is saved.

Pure functions: no database, no Streamlit. Staff export rosters from Excel, Google Sheets and Thai
registrar systems, so the reader is forgiving about encodings, header wording and Excel's habits
(lost leading zeros, ids turned into 6401001.0), and strict about what it lets through.
"""

from core.roster.encodings import repair_mojibake
from core.roster.fields import MAX_TEXT_CHARS, clean_field
from core.roster.model import FIELDS, LABELS, RosterFileError, RosterPreview, RosterRow, RowError
from core.roster.parse import column_letter, parse_roster
from core.roster.readers import decode_text

__all__ = ["FIELDS", "LABELS", "MAX_TEXT_CHARS", "RosterFileError", "RosterPreview", "RosterRow", "RowError",
           "clean_field", "column_letter", "decode_text", "parse_roster", "repair_mojibake"]

"""core/schema.sql is what the migrations really make (core/schema.py), so a reader can trust it."""

import duckdb

from core import schema
from core.schema import MIGRATIONS, READ_MODEL_TABLES


def test_the_checked_in_snapshot_is_what_the_migrations_make():
    fresh = schema.fresh_snapshot()
    assert schema.SNAPSHOT_PATH.read_text(encoding="utf-8") == fresh, (
        "a migration changed the tables: run `python -m core.schema` and commit core/schema.sql")
    assert f"after all {len(MIGRATIONS)} migrations" in fresh


def test_every_read_model_table_is_in_the_snapshot():
    text = schema.SNAPSHOT_PATH.read_text(encoding="utf-8")
    missing = [t for t in READ_MODEL_TABLES if f"CREATE TABLE {t} (" not in text]
    assert missing == []


def test_the_snapshot_runs_and_gives_the_same_tables():
    """It is real DDL: a database made from it alone describes itself the same way."""
    con = duckdb.connect()
    con.execute(schema.SNAPSHOT_PATH.read_text(encoding="utf-8"))
    assert schema.snapshot(con, len(MIGRATIONS)) == schema.SNAPSHOT_PATH.read_text(encoding="utf-8")


def test_check_mode_tells_when_the_file_is_stale(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "schema.sql"
    stale.write_text("-- old\n", encoding="utf-8")
    monkeypatch.setattr(schema, "SNAPSHOT_PATH", stale)
    assert schema.main(["--check"]) == 1
    assert "python -m core.schema" in capsys.readouterr().err
    assert schema.main([]) == 0 and schema.main(["--check"]) == 0

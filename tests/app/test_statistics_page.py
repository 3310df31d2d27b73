"""AppTest: the statistics page (filters change the numbers) and its exports."""

from __future__ import annotations

from datetime import date, timedelta

from core.config import PROJECT_ROOT
from core.services import Rollcall
from tests.app.conftest import as_user, texts

STATS = str(PROJECT_ROOT / "pages" / "statistics.py")


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_filters_change_the_numbers(seeded):
    app = Rollcall(seeded)
    over = ("SELECT count(*) FROM sessions WHERE starts_at <= now() AND starts_at >= now() - INTERVAL 31 DAY "
            "AND (status = 'ended' OR ends_at < now())")  # a session still open is not counted yet (issue #13)
    all_sessions = app.db.scalar(over)
    cpe_sessions = app.db.scalar(over + " AND class_id = 'CPE401'")
    app.close()
    at = as_user(STATS, "vi").run()
    assert not at.exception, at.exception
    everyone = metrics(at)
    assert everyone["Sessions"] == str(all_sessions) and everyone["Attendance rate"] != "–"
    at.multiselect(key="stats_classes").select("CPE401").run()
    one_class = metrics(at)
    assert one_class["Sessions"] == str(cpe_sessions) and one_class["Absences"] != everyone["Absences"]
    at.date_input(key="stats_period").set_value((date.today() + timedelta(days=1), date.today() + timedelta(2))).run()
    assert metrics(at)["Sessions"] == "0" and metrics(at)["Attendance rate"] == "–"
    assert len(at.get("plotly_chart")) >= 6


def test_each_export_format_is_prepared_for_download(seeded):
    at = as_user(STATS, "vi").run()
    for fmt, suffix in (("CSV", ".csv"), ("Excel", ".xlsx"), ("PDF report", ".pdf")):
        at.radio(key="export_format").set_value(fmt).run()
        at.button(key="export_prepare").click().run()
        assert not at.exception, at.exception
        assert texts(at, "error") == []
        [button] = at.get("download_button")
        assert button.proto.label.endswith(suffix), button.proto.label


def test_a_prepared_file_stays_for_its_format_only(seeded):
    """Issue #13 item 10: the previous format's Download button stayed after the format changed."""
    at = as_user(STATS, "vi").run()
    at.button(key="export_prepare").click().run()
    [button] = at.get("download_button")
    assert button.proto.label.endswith(".csv")
    at.run()  # any other rerun (a click elsewhere, a download) keeps it
    assert [b.proto.label for b in at.get("download_button")] == [button.proto.label]
    at.radio(key="export_format").set_value("Excel").run()
    assert at.get("download_button") == []  # nothing offered until the Excel file is prepared
    at.radio(key="export_format").set_value("CSV").run()
    assert at.get("download_button") == []  # the old file is gone, not offered again
    at.button(key="export_prepare").click().run()
    at.toggle(key="export_absent").set_value(True).run()
    assert at.get("download_button") == []  # other rows: prepare again


def test_a_person_picked_in_the_people_tab_is_dropped_when_the_filters_change(seeded):
    """Issue #13 (as on the People page): row 1 of other filters' people is someone else."""
    at = as_user(STATS, "vi").run()
    summary = at.dataframe[0]
    at.session_state[summary.key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert len(at.dataframe) == 2  # the summary and the picked person's history
    at.multiselect(key="stats_classes").select("BUS310").run()
    assert not at.exception, at.exception
    assert len(at.dataframe) == 1

"""AppTest: the Privacy page — the written policy, the consent register with revocation, Purge now, erasure
with a typed confirmation; admins only."""

from __future__ import annotations

import json

import pytest

from core.eventlog import Event
from core.services import Rollcall
from tests.app.conftest import as_user, texts
from tests.app.test_pages import DENIED, PAGES


@pytest.fixture
def consents(seeded):
    app = Rollcall(seeded)
    for sid in ("6501001", "6501002"):
        app.submit(Event.new("consent.recorded", {"student_id": sid, "method": "signed form"}, actor="boss"))
    app.close()
    return seeded


def page_app():
    from pages._ui import get_app

    return get_app()


def test_admin_reads_the_policy_and_revokes_a_consent(consents):
    at = as_user(PAGES["privacy"], "boss").run()
    assert not at.exception and texts(at, "title") == ["Privacy"]
    policy = at.dataframe[0].value
    assert "Face templates" in set(policy["Data"])
    assert policy.set_index("Data").loc["Check-in face crops", "Kept for"] == "90 days"
    register = at.dataframe[1].value
    assert sorted(register["student_id"]) == ["6501001", "6501002"]
    assert at.button(key="revoke_go").disabled  # nobody picked yet
    at.selectbox(key="revoke_who").set_value("6501002").run()
    # Enabled before the reason is in (a browser sends typed text only when the box loses focus: a button
    # disabled until then swallowed the first click); a click without it says what is missing and does nothing.
    assert not at.button(key="revoke_go").disabled
    at.button(key="revoke_go").click().run()
    assert texts(at, "error") == ["Write why the consent is revoked: the audit trail keeps it."]
    assert page_app().db.scalar("SELECT count(*) FROM consents WHERE revoked_at IS NOT NULL") == 0
    at.text_input(key="revoke_reason").input("asked by e-mail")
    at.button(key="revoke_go").click().run()
    assert not at.exception and not texts(at, "error")
    assert any("6501002 revoked" in s for s in texts(at, "success"))
    row = page_app().db.query("SELECT revoked_by, revoke_reason FROM consents WHERE student_id = '6501002'")
    assert row.values.tolist() == [["boss", "asked by e-mail"]]
    at.selectbox(key="consent_status").set_value("revoked").run()
    assert at.dataframe[1].value["student_id"].tolist() == ["6501002"]


def test_purge_now_says_what_it_did(consents):
    at = as_user(PAGES["privacy"], "boss").run()
    at.button(key="purge_go").click().run()
    assert not at.exception
    assert texts(at, "info") == ["Nothing had expired."]


def test_erasure_needs_the_typed_id_and_a_reason(consents):
    at = as_user(PAGES["privacy"], "boss").run()
    name = page_app().db.scalar("SELECT name FROM people WHERE student_id = '6501001'")
    at.selectbox(key="erase_who").set_value("6501001")
    at.text_input(key="erase_confirm").input("6501002")
    at.text_input(key="erase_reason").input("written request 2026-11-20").run()
    assert "The id you typed is not the chosen person's." in texts(at, "warning")
    at.button(key="erase_go").click().run()  # enabled (see above), refused on the click
    assert texts(at, "error") == ["Type the chosen person's student id to confirm."]
    at.text_input(key="erase_confirm").input("6501001")
    at.text_input(key="erase_reason").input(" ")
    at.button(key="erase_go").click().run()
    assert texts(at, "error") == ["Write why they are erased (their request and its date)."]
    assert page_app().db.scalar("SELECT count(*) FROM people") == 60
    at.text_input(key="erase_reason").input("written request 2026-11-20")
    at.button(key="erase_go").click().run()
    assert not at.exception and not texts(at, "error")
    done = [s for s in texts(at, "success") if s.startswith("Erased.")]
    assert len(done) == 1 and "erased-" in done[0]
    app = page_app()
    assert app.db.scalar("SELECT count(*) FROM people") == 59
    assert app.db.scalar("SELECT count(*) FROM users WHERE student_id = '6501001' OR username = 'stu'") == 0
    log = "\n".join(json.dumps([s.event.id, s.event.payload], ensure_ascii=False)
                    for s in app.log.read_after(0, 100_000))
    assert "6501001" not in log and name not in log
    audit = app.db.query("SELECT actor, reason FROM audit WHERE action = 'person.erased'")
    assert audit.values.tolist() == [["boss", "written request 2026-11-20"]]
    assert at.selectbox(key="erase_who").value is None  # the form is cleared


@pytest.mark.parametrize("username", ["op", "vi", "stu"])
def test_others_are_refused(seeded, username):
    at = as_user(PAGES["privacy"], username).run()
    assert DENIED in texts(at, "error") and not at.button

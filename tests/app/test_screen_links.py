"""AppTest: the console offers the big screens' links as links to click, each with a QR code (issue #13)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from core import ceremonies
from tests.app.conftest import as_user


def test_the_console_shows_clickable_screen_links_with_qr_codes(seeded):
    at = as_user("pages/ceremony.py", "op").run()
    assert not at.exception, at.exception
    links = [m.value for m in at.markdown if m.value.startswith("**[")]
    assert [re.match(r"\*\*\[([^\]]+)\]", m)[1].split(",")[0] for m in links] == ["Live board", "Announcer",
                                                                                  "Announcer", "Reader's prompter"]
    from pages._ui import get_app

    cid = get_app().db.scalar("SELECT ceremony_id FROM ceremonies")
    for markdown in links:
        query = parse_qs(re.search(r"\]\(([^)]+)\)", markdown)[1].split("?", 1)[1])
        assert ceremonies.check_view_token(get_app(), cid, query["token"][0])
    qr_images = [i for i in at.get("image") if "Open on the screen" in str(i.proto)]
    assert len(qr_images) == 4

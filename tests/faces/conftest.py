from __future__ import annotations

from datetime import date

import pytest

from core.demo import load_demo


@pytest.fixture
def face_app(app):
    """Demo roster, consent on record for the first three people, real models."""
    load_demo(app, today=date(2026, 11, 22))
    for sid in ("6501001", "6501002", "6501003"):
        app.faces.record_consent(sid, "signed form", "test")
    return app


def read(photos, name: str) -> tuple[str, bytes]:
    return name, (photos / name).read_bytes()

"""Device authentication is a FastAPI dependency (receiver/deps.py): every device route has it, so none can
forget it, and it runs before the route's own checks."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from core.config import Settings
from receiver.app import create_app


def _authenticated(route: APIRoute) -> bool:
    return any(getattr(dep.call, "__qualname__", "").startswith("signed_request.")
               for dep in route.dependant.dependencies)


def test_every_route_that_takes_data_authenticates_the_device(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data"))
    posts = [r for r in app.routes if isinstance(r, APIRoute) and "POST" in r.methods]
    assert {r.path for r in posts} == {"/v1/events", "/v1/heartbeat", "/v1/frames/{boot_id}/{seq}/{captured_ms}"}
    assert [r.path for r in posts if not _authenticated(r)] == []
    # The signed headers are still documented (the dependency reads them raw, byte for byte).
    spec = app.openapi()
    for route in posts:
        [op] = spec["paths"][route.path].values()
        assert {"X-Device-Id", "X-Timestamp", "X-Signature"} <= {p["name"] for p in op["parameters"]}


def test_an_unsigned_request_is_refused_before_its_path_or_body_is_looked_at(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:  # runs the lifespan
        bad_path = client.post("/v1/frames/bad%20boot/0/-5", content=b"not a jpeg",
                               headers={"content-type": "image/jpeg"})
        assert (bad_path.status_code, bad_path.json()["code"]) == (401, "unsigned")
        bad_body = client.post("/v1/events", content=b"{", headers={"content-type": "application/json"})
        assert (bad_body.status_code, bad_body.json()["code"]) == (401, "unsigned")

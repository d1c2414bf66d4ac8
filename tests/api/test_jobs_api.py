"""``/api/jobs`` over real HTTP (uvicorn on loopback) on a real database: keyset pages, bulk
retry / discard / cancel by ids and by filter, 422 naming the field, the bearer token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.api.server import ApiServer
from worker.config import reload_settings
from worker.db.engine import Database


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, trust_env=False, timeout=30,
                      headers={"Content-Type": "application/json"}) as http:
        yield http


async def _jobs(db_url: str, sql: str) -> None:
    db = Database(db_url)
    try:
        async with db.session() as s:
            await s.execute(text(sql))
    finally:
        await db.dispose()


@pytest.fixture
async def mixed(db_url: str) -> None:
    """25 dead builds, 10 dead noops, 5 queued noops, 3 succeeded noops."""
    await _jobs(db_url, """
        INSERT INTO jobs (kind, status, attempts, last_error)
        SELECT 'build', 'dead', 3, 'boom' FROM generate_series(1, 25);
        INSERT INTO jobs (kind, status, attempts, last_error)
        SELECT 'noop', 'dead', 3, 'boom' FROM generate_series(1, 10);
        INSERT INTO jobs (kind, status) SELECT 'noop', 'queued' FROM generate_series(1, 5);
        INSERT INTO jobs (kind, status, attempts)
        SELECT 'noop', 'succeeded', 1 FROM generate_series(1, 3);""")


def _every_page(client: httpx.Client, **params: object) -> list[dict]:
    items: list[dict] = []
    after = None
    while True:
        answer = client.get("/api/jobs", params={**params, **({"after": after} if after else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        after = body["next"]
        if after is None:
            return items


def test_list_filters_and_pages_by_cursor(client: httpx.Client, mixed: None) -> None:
    dead_builds = _every_page(client, state="dead", kind="build", limit=10)
    assert len(dead_builds) == 25
    ids = [job["id"] for job in dead_builds]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 25
    assert {(j["kind"], j["state"], j["lastError"]) for j in dead_builds} == {
        ("build", "dead", "boom")}
    by_kind = _every_page(client, sort="kind", order="asc", limit=7)
    assert [j["kind"] for j in by_kind] == ["build"] * 25 + ["noop"] * 18
    queued = client.get("/api/jobs", params={"state": "queued"}).json()
    assert len(queued["items"]) == 5 and queued["next"] is None


def test_bulk_retry_discard_cancel(client: httpx.Client, mixed: None) -> None:
    dead_noops = [j["id"] for j in _every_page(client, state="dead", kind="noop")]
    answer = client.post("/api/jobs/retry", json={"ids": dead_noops[:3]})
    assert answer.status_code == 200 and answer.json() == {"count": 3}
    answer = client.post("/api/jobs/retry", json={"filter": {"state": "dead", "kind": "build"}})
    assert answer.json() == {"count": 25}
    assert len(_every_page(client, state="dead")) == 7
    assert len(_every_page(client, state="queued")) == 33

    answer = client.post("/api/jobs/discard", json={"filter": {"state": "dead"}})
    assert answer.json() == {"count": 7}
    answer = client.post("/api/jobs/cancel", json={"filter": {"kind": "build"}})
    assert answer.json() == {"count": 25}
    answer = client.post("/api/jobs/discard", json={"filter": {}})  # every finished job
    assert answer.json() == {"count": 28}
    assert [j["state"] for j in _every_page(client)] == ["queued"] * 8


@pytest.mark.parametrize(("method", "path", "kwargs", "field"), [
    ("GET", "/api/jobs", {"params": {"state": "sleeping"}}, "state"),
    ("GET", "/api/jobs", {"params": {"limit": 0}}, "limit"),
    ("GET", "/api/jobs", {"params": {"sort": "payload"}}, "sort"),
    ("GET", "/api/jobs", {"params": {"after": "garbage"}}, "after"),
    ("GET", "/api/jobs", {"params": {"project": -3}}, "project"),
    ("POST", "/api/jobs/retry", {"json": {}}, "ids"),
    ("POST", "/api/jobs/retry", {"json": {"ids": [1], "filter": {}}}, "ids"),
    ("POST", "/api/jobs/retry", {"json": {"ids": []}}, "ids"),
    ("POST", "/api/jobs/discard", {"json": {"ids": ["x"]}}, "ids[0]"),
    ("POST", "/api/jobs/discard", {"json": {"filter": {"state": "zombie"}}}, "filter.state"),
    ("POST", "/api/jobs/cancel", {"json": {"filter": {"colour": "red"}}}, "filter.colour"),
    ("POST", "/api/jobs/cancel", {"json": {"filter": {"kind": "a\u0000b"}}}, "filter.kind"),
])
def test_bad_input_is_a_422_naming_the_field(client: httpx.Client, method: str, path: str,
                                            kwargs: dict, field: str) -> None:
    answer = client.request(method, path, **kwargs)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


def test_jobs_need_the_bearer_token_when_one_is_set(titan_env: dict,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_API_TOKEN", "s3cret-token-for-jobs")
    with ApiServer(reload_settings()) as api, \
            httpx.Client(base_url=api.url, trust_env=False, timeout=30) as http:
        assert http.get("/api/jobs").status_code == 401
        assert http.post("/api/jobs/retry", json={"filter": {}}).status_code == 401
        answer = http.get("/api/jobs",
                          headers={"Authorization": "Bearer s3cret-token-for-jobs"})
        assert answer.status_code == 200 and answer.json()["items"] == []
        schema = http.get("/openapi.json").json()
        assert {"/api/jobs", "/api/jobs/retry", "/api/jobs/discard",
                "/api/jobs/cancel"} <= set(schema["paths"])

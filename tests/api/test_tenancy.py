"""Organisations never see each other's images or operations."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api


def test_foreign_images_and_operations_behave_like_missing_ones(
    api: Api, other_api: Api, image_url: Callable[..., str]
) -> None:
    op = api.post("/imgs/mine?wait=true", json={"src": image_url(40), "title": "acme"}).json()
    assert other_api.get("/imgs/mine").status_code == 404
    assert other_api.get(f"/ops/{op['op_id']}").status_code == 404
    assert other_api.delete(f"/ops/{op['op_id']}").status_code == 404
    assert other_api.get("/ops").json() == []
    # Another organisation may use the same id: it gets an image of its own.
    strict = other_api.post("/imgs/mine?wait=true&strict=true", json={"src": image_url(41)})
    assert strict.json()["all_good"] is True
    deleted = other_api.delete("/imgs/mine?wait=true&strict=true").json()
    assert deleted["all_good"] is True
    missing = other_api.patch("/imgs/mine?wait=true&strict=true", json={"title": "x"}).json()
    assert missing["errors"][0]["msg"] == "image does not exist (strict mode)"
    assert api.get("/imgs/mine").json()["title"] == "acme"


def test_revoked_key_stops_working(api: Api, settings: object) -> None:
    from pixsearch.db.engine import create_db_engine, writer
    from pixsearch.deps import KEY_CACHE_S
    from pixsearch.tenants.service import PREFIX_LENGTH, revoke_key

    engine = create_db_engine(settings.resolved_database_url)  # type: ignore[attr-defined]
    with writer(engine).begin() as conn:
        revoke_key(conn, api.headers["API-Key"][:PREFIX_LENGTH])
    engine.dispose()
    api.client.app.state.key_cache = type(api.client.app.state.key_cache)()  # skip the wait
    assert KEY_CACHE_S <= 5
    assert api.get("/ops").status_code == 401

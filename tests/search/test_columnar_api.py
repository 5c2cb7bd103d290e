"""GET /imgs after writes through the worker: filters, sorts and facets follow every
operation at once (on SQLite from the column index loaded by the first search)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import Api


def search(api: Api, q: str, **params: Any) -> dict[str, Any]:
    answer = api.get("/imgs", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_filters_sorts_and_facets_follow_patches_deletes_and_inserts(
    api: Api, other_api: Api, image_url: Callable[..., str]
) -> None:
    body = [
        {
            "id": "a",
            "src": image_url(1),
            "city": "Paris",
            "date": "2020-01-01",
            "keywords": ["Red"],
        },
        {
            "id": "b",
            "src": image_url(2),
            "city": "PARIS",
            "date": "2021-01-01",
            "keywords": ["red"],
        },
        {"id": "c", "src": image_url(3), "city": "Lyon", "date": "2019-01-01"},
    ]
    assert api.post("/imgs?wait=true", json=body).json()["all_good"] is True
    assert other_api.post("/imgs?wait=true", json=body[:1]).json()["all_good"] is True
    first = search(api, "city=paris", sort_by="date", sort_order="desc", facets=["keywords"])
    assert [image["image_id"] for image in first["results"]] == ["b", "a"]
    assert first["facets"]["keywords"] == [{"value": "Red", "count": 2}]

    api.patch("/imgs/a?wait=true", json={"city": "Lyon", "keywords": ["blue"]})
    api.delete("/imgs/b?wait=true")
    new = {"src": image_url(4), "city": "Pâris", "date": "2022-01-01", "keywords": ["RED"]}
    api.post("/imgs/d?wait=true", json=new)
    after = search(api, "city=paris", facets=["keywords", "city"])
    assert [image["image_id"] for image in after["results"]] == ["d"]
    assert after["count"] == 1
    assert after["facets"] == {
        "keywords": [{"value": "RED", "count": 1}],
        "city": [{"value": "Pâris", "count": 1}],
    }
    lyon = search(api, "city=lyon && !k=red", sort_by="date", facets=["keywords"])
    assert [image["image_id"] for image in lyon["results"]] == ["c", "a"]
    assert lyon["facets"]["keywords"] == [{"value": "blue", "count": 1}]
    theirs = search(other_api, "", facets=["city"])  # the other organisation never changed
    assert theirs["facets"]["city"] == [{"value": "Paris", "count": 1}]

"""GET /imgs end to end without models: filters, full text, paging, sorting, fields, facets,
counts, tenancy and every 422 (spec section 6)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pixsearch.app import create_app
from tests.conftest import Api, add_key, make_settings
from tests.imageserver import ImageServer, make_jpeg

# id -> (seed, width, height, fields). "dup" is the same file as "sunset"; "dup-small" the
# same picture at half size (a near duplicate).
GALLERY: dict[str, tuple[int, int, int, dict[str, Any]]] = {
    "sunset": (
        1,
        96,
        64,
        {
            "title": "Sunset over the sea",
            "keywords": ["Beach", "Sunset"],
            "categories": ["Travel"],
            "country": "Portugal",
            "city": "Lisboa",
            "date": "2021-06-01",
            "ai_generated": False,
            "nsfw": False,
            "model_release": True,
            "status": "Active",
        },
    ),
    "eiffel": (
        2,
        64,
        96,
        {
            "title": "Eiffel tower at night",
            "keywords": ["Night", "Tower"],
            "categories": ["Travel", "City"],
            "country": "France",
            "city": "Paris",
            "date": "2019-1-15",
            "ai_generated": True,
            "property_release": True,
            "status": "Withdrawn",
        },
    ),
    "beach": (
        3,
        80,
        80,
        {
            "title": "children playing on the beach",
            "caption": "A sunny day by the sea",
            "keywords": ["beach", "children"],
            "collections": ["Summer 2024"],
            "country": "Portugal",
            "date": "2024-07-20",
            "nsfw": False,
        },
    ),
    "dog": (
        4,
        120,
        60,
        {
            "title": "A dog running in the snow",
            "keywords": ["Dog", "snow"],
            "country": "Norway",
            "date": "2020-12-24",
            "ai_generated": False,
        },
    ),
    "42": (
        5,
        60,
        80,
        {
            "title": "Portrait of a woman",
            "keywords": ["portrait"],
            "country": "Brazil",
            "city": "São Paulo",
            "author": "Ana Pérez",
        },
    ),
    "dup": (1, 96, 64, {"title": "Copy of the sunset"}),
    "dup-small": (1, 48, 32, {}),
}
NEWEST_FIRST = list(reversed(GALLERY))  # one operation: same time, later rows first
ALL = set(GALLERY)


def add_gallery(api: Api, server: ImageServer) -> Api:
    body = []
    for image_id, (seed, width, height, fields) in GALLERY.items():
        path = f"/img/seed{seed}-{width}x{height}.jpg"
        server.add(path, make_jpeg(width, height, seed))
        body.append({"id": image_id, "src": server.url(path), **fields})
    op = api.post("/imgs?wait=true", json=body).json()
    assert op["all_good"] is True, op
    return api


@pytest.fixture
def gallery(api: Api, image_server: ImageServer) -> Api:
    """The gallery, for a test that changes it."""
    return add_gallery(api, image_server)


@pytest.fixture(scope="module")
def shown(
    tmp_path_factory: pytest.TempPathFactory, image_server: ImageServer, module_database_url: str
) -> Iterator[Api]:
    """The gallery, shared by the tests that only read."""
    settings = make_settings(tmp_path_factory.mktemp("gallery"), database_url=module_database_url)
    with TestClient(create_app(settings)) as client:
        yield add_gallery(Api(client, add_key(settings, "acme")), image_server)


def search(api: Api, q: str = "", **params: Any) -> dict[str, Any]:
    answer = api.get("/imgs", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ids(api: Api, q: str = "", **params: Any) -> list[str]:
    return [image["image_id"] for image in search(api, q, limit=100, **params)["results"]]


def refusal(api: Api, **params: Any) -> dict[str, Any]:
    answer = api.get("/imgs", params=params)
    assert answer.status_code == 422, answer.text
    (detail,) = answer.json()["detail"]
    return dict(detail)


FILTERS = [
    ("d=2021-6-1", {"sunset"}),
    ("date>2020-12-24", {"sunset", "beach"}),
    ("d<=2020-12-24 || d>=2024-1-1", {"eiffel", "dog", "beach"}),
    ("id=42", {"42"}),
    ("id∩sunset,dog,nope", {"sunset", "dog"}),
    ("id>=e && id<f", {"eiffel"}),
    ("r=3/2", {"sunset", "dup", "dup-small"}),
    ("r=1", {"beach"}),
    ("ratio<1", {"eiffel", "42"}),
    ("r∩2,3/4", {"dog", "42"}),
    ("n>=0", set()),  # no face detector: n_faces is null
    ("w>=96", {"sunset", "dup", "dog"}),
    ("w∩48,60", {"dup-small", "42"}),
    ("h<64 && w>64", {"dog"}),
    ("ai=true", {"eiffel"}),
    ("ai=0", {"sunset", "dog"}),
    ("nsfw=false", {"sunset", "beach"}),
    ("mr=1", {"sunset"}),
    ("pr=true", {"eiffel"}),
    ("k=beach", {"sunset", "beach"}),
    ("k=beach,sunset", {"sunset"}),
    ("keywords∩night,DOG", {"eiffel", "dog"}),
    ("k~sun", {"sunset"}),
    ("c=travel", {"sunset", "eiffel"}),
    ("c=|city,nature", {"eiffel"}),
    ("col=summer 2024", {"beach"}),
    ("city=sao paulo", {"42"}),
    ("city==São Paulo", {"42"}),
    ("city==são paulo", set()),
    ("author===Ana Pérez", {"42"}),
    ("title~eiff", {"eiffel"}),
    ("title~tower at", {"eiffel"}),
    ("caption~sun", {"beach"}),
    ("country<N", {"42", "eiffel"}),
    ("status=active || status=withdrawn", {"sunset", "eiffel"}),
    ("o=landscape", {"sunset", "dog", "dup", "dup-small"}),
    ("orientation=portrait", {"eiffel", "42"}),
    ("o=square", {"beach"}),
    ("i===sunset", {"sunset", "dup"}),
    ("i=sunset", {"sunset", "dup", "dup-small"}),
    ("i=sunset && !id=sunset", {"dup", "dup-small"}),
    ("i=nope", set()),
    ("!i=nope", ALL),
    ("!k=beach", ALL - {"sunset", "beach"}),
    ("!(k=beach || o=landscape)", {"eiffel", "42"}),
    ("k=beach || o=portrait && ai=true", {"sunset", "beach", "eiffel"}),
    ("(k=beach || o=portrait) && ai=false", {"sunset"}),
    ("!!o=square", {"beach"}),
    ('title="Sunset over the sea"', {"sunset"}),
    ("t~sunset", {"sunset", "dup"}),  # full text: title or keyword
    ("t~the SEA", {"sunset", "beach"}),  # "the" is left out; case ignored
    ("t~portugal && !k=beach", set()),
    ("t~snow || k=portrait", {"dog", "42"}),
]


@pytest.mark.parametrize(("formula", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_every_filter_end_to_end(shown: Api, formula: str, expected: set[str]) -> None:
    answer = search(shown, formula, limit=100)
    assert {image["image_id"] for image in answer["results"]} == expected
    assert answer["count"] == len(expected)


def test_empty_formula_lists_everything_newest_first(shown: Api) -> None:
    answer = search(shown)
    assert [image["image_id"] for image in answer["results"]] == NEWEST_FIRST
    assert answer["count"] == len(GALLERY) and answer["facets"] == {}
    assert all("score" not in image for image in answer["results"])
    image = answer["results"][NEWEST_FIRST.index("eiffel")]
    assert image["date"] == "2019-01-15" and image["keywords"] == ["Night", "Tower"]
    assert (image["width"], image["height"], image["orientation"]) == (64, 96, "portrait")
    assert ids(shown, sort_order="asc") == list(GALLERY)  # oldest first


def test_pages_split_the_same_order(shown: Api) -> None:
    pages = [search(shown, limit=3, page=page) for page in (1, 2, 3, 4)]
    assert [image["image_id"] for p in pages for image in p["results"]] == NEWEST_FIRST
    assert [len(p["results"]) for p in pages] == [3, 3, 1, 0]
    assert {p["count"] for p in pages} == {len(GALLERY)}
    assert search(shown, page=10**15, limit=10_000)["results"] == []
    ranked = [search(shown, "t~sea sunset", limit=1, page=page) for page in (1, 2, 3)]
    assert [image["image_id"] for p in ranked for image in p["results"]] == ids(
        shown, "t~sea sunset"
    )


def test_sorting_by_fields(shown: Api) -> None:
    # Images without a value come last in both directions, oldest first among them.
    dated = ["eiffel", "dog", "sunset", "beach"]
    assert ids(shown, "", sort_by="date") == [*dated, "42", "dup", "dup-small"]
    assert ids(shown, "", sort_by="date", sort_order="desc") == [
        *dated[::-1],
        "dup-small",
        "dup",
        "42",
    ]
    # Text sorts ignore case.
    by_title = ["dog", "beach", "dup", "eiffel", "42", "sunset", "dup-small"]
    assert ids(shown, "", sort_by="title") == by_title
    assert ids(shown, "", sort_by="title", sort_order="desc") == [*by_title[-2::-1], "dup-small"]
    assert ids(shown, "w>60", sort_by="width", sort_order="desc") == [
        "dog",
        "dup",
        "sunset",
        "beach",
        "eiffel",
    ]
    assert ids(shown, "", sort_by="image_id")[:3] == ["42", "beach", "dog"]


def test_fields_project_each_result(shown: Api) -> None:
    answer = search(shown, "k=beach", fields=["image_id", "country"])
    assert answer["results"] == [
        {"image_id": "beach", "country": "Portugal"},
        {"image_id": "sunset", "country": "Portugal"},
    ]
    ranked = search(shown, "t~sunset", fields=["title"])["results"]
    assert set(ranked[0]) == {"title", "score"}


def test_facets_count_every_hit_not_just_the_page(shown: Api) -> None:
    answer = search(
        shown,
        "",
        limit=1,
        facets=["country", "keywords", "orientation", "ai_generated", "collections", "shot"],
        facet_limit=3,
    )
    facets = answer["facets"]
    assert facets["country"] == [
        {"value": "Portugal", "count": 2},
        {"value": "Brazil", "count": 1},
        {"value": "France", "count": 1},
    ]
    # "Beach" and "beach" are one value, shown in its first spelling; then alphabetical.
    assert facets["keywords"] == [
        {"value": "Beach", "count": 2},
        {"value": "children", "count": 1},
        {"value": "Dog", "count": 1},
    ]
    assert facets["orientation"] == [
        {"value": "landscape", "count": 4},
        {"value": "portrait", "count": 2},
        {"value": "square", "count": 1},
    ]
    assert facets["ai_generated"] == [{"value": False, "count": 2}, {"value": True, "count": 1}]
    assert facets["collections"] == [{"value": "Summer 2024", "count": 1}]
    assert facets["shot"] == []
    filtered = search(shown, "t~sea", facets=["country", "keywords"])["facets"]
    assert filtered["country"] == [{"value": "Portugal", "count": 2}]
    assert filtered["keywords"][0] == {"value": "Beach", "count": 2}


def test_count_false_answers_null(shown: Api) -> None:
    assert search(shown, "k=beach", count="false")["count"] is None
    assert search(shown, "t~sea", count="false")["count"] is None


def test_full_text_ranks_and_scores(shown: Api) -> None:
    results = search(shown, "t~sunset sea")["results"]
    assert results[0]["image_id"] == "sunset"  # both words, one in the title
    scores = [image["score"] for image in results]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1 / 61)
    ascending = search(shown, "t~sunset sea", sort_by="sim", sort_order="asc")["results"]
    assert [image["image_id"] for image in ascending] == [
        image["image_id"] for image in reversed(results)
    ]
    by_date = search(shown, "t~sunset sea", sort_by="date")["results"]
    assert [image["image_id"] for image in by_date] == ["sunset", "beach", "dup"]
    assert all("score" in image for image in by_date)


def test_another_organisation_sees_nothing_of_ours(gallery: Api, other_api: Api) -> None:
    assert search(other_api)["count"] == 0
    for q in ("k=beach", "t~sunset", "id=42", "i===sunset", "i=sunset", "!i=sunset"):
        assert search(other_api, q, facets=["country", "keywords"]) == {
            "results": [],
            "count": 0,
            "facets": {"country": [], "keywords": []},
        }


def test_same_ids_in_two_organisations_stay_apart(
    gallery: Api, other_api: Api, image_url: Callable[..., str]
) -> None:
    body = [{"id": "sunset", "src": image_url(9), "country": "Chile", "keywords": ["beach"]}]
    assert other_api.post("/imgs?wait=true", json=body).json()["all_good"] is True
    theirs = search(other_api, "k=beach", facets=["country"])
    assert [image["country"] for image in theirs["results"]] == ["Chile"]
    assert theirs["facets"]["country"] == [{"value": "Chile", "count": 1}]
    assert ids(other_api, "i===sunset") == ["sunset"]  # their sunset, not our two copies
    assert set(ids(gallery, "i===sunset")) == {"sunset", "dup"}


def test_deleted_and_replaced_images_follow_at_once(
    gallery: Api, image_url: Callable[..., str]
) -> None:
    gallery.delete("/imgs/dup?wait=true")
    assert set(ids(gallery, "i===sunset")) == {"sunset"}
    assert "dup" not in ids(gallery, "t~sunset")
    gallery.put("/imgs/dog?wait=true", json={"src": image_url(4, 120, 60), "title": "a cat"})
    assert ids(gallery, "t~dog") == []
    assert ids(gallery, "t~cat") == ["dog"]
    assert ids(gallery, "k=snow") == []


@pytest.mark.parametrize(
    ("params", "loc", "message"),
    [
        ({"sort_by": "keywords"}, ["query", "sort_by"], "Input should be"),
        ({"sort_by": "similarity"}, ["query", "sort_by"], "needs a similarity filter"),
        ({"sort_by": "sim", "q": "k=x"}, ["query", "sort_by"], "needs a similarity filter"),
        ({"sort_order": "up"}, ["query", "sort_order"], "Input should be"),
        ({"facets": "title"}, ["query", "facets", 0], "Input should be"),
        ({"fields": "score"}, ["query", "fields", 0], "Input should be"),
        ({"limit": 0}, ["query", "limit"], "greater than or equal to 1"),
        ({"limit": 10_001}, ["query", "limit"], "less than or equal to 10000"),
        ({"page": 0}, ["query", "page"], "greater than or equal to 1"),
        ({"facet_limit": 0}, ["query", "facet_limit"], "greater than or equal to 1"),
        ({"lang": "de"}, ["query", "lang"], "Input should be"),
        ({"q": "t~car && && d>2020-1-1"}, ["query", "q"], "unexpected '&&' at column 10"),
        ({"q": "foo=bar"}, ["query", "q"], "unknown filter 'foo'"),
        ({"q": "x" * 5000}, ["query", "q"], "too long"),
        ({"q": "p~img42_1"}, ["query", "q"], "not available"),
        ({"q": "k=x || p~img42_1"}, ["query", "q"], "not available"),
        ({"q": "i~sunset"}, ["query", "q"], "no CLIP model"),
    ],
)
def test_refusals(api: Api, params: dict[str, Any], loc: list[Any], message: str) -> None:
    detail = refusal(api, **params)
    assert detail["loc"] == loc
    assert message in detail["msg"]


def test_person_filter_is_not_available(api: Api) -> None:
    detail = refusal(api, q="p~img42_1")
    assert detail["type"] == "not_available"
    assert detail["msg"] == (
        "person search (p~, p=) is not available: face identities are off "
        "(needs a face detector: turned off (PIXSEARCH_FACE_DETECTOR=off))"
    )


DOC = Path(__file__).resolve().parents[2] / "docs" / "query-language.md"


def doc_examples() -> list[str]:
    blocks = re.findall(r"^```formula\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_every_documented_example_runs(shown: Api) -> None:
    """Each example answers 200, or the documented 422 "not available" (p~; i~ without CLIP)."""
    examples = doc_examples()
    assert len(examples) > 80
    for formula in examples:
        answer = shown.get("/imgs", params={"q": formula})
        if answer.status_code == 422:
            assert "not available" in answer.json()["detail"][0]["msg"], formula
            assert formula.lstrip("!(").lower().startswith(("p", "i", "t")), formula
        else:
            assert answer.status_code == 200, (formula, answer.text)


# --- No formula causes a 5xx ----------------------------------------------------------------

NAMES = ["t", "i", "p", "d", "id", "r", "n", "w", "h", "ai", "nsfw", "mr", "pr", "k", "c", "col"]
NAMES += ["o", "title", "city", "status", "x", "image_id", "n_faces", "ratio", "TXT"]
OPERATORS = ["=", "==", "===", "~", "~~", "~~~", "<", ">", "<=", ">=", "=<", "=>", "≤", "≥"]
OPERATORS += ["∩", "=|", "!", ""]
VALUES = st.one_of(
    st.sampled_from(["sunset", "42", "2020-1-1", "2023-2-30", "16/9", "0", "1.5", "true", "-3"]),
    st.sampled_from(["landscape", "beach,sun", "img42_1", "a&b", "Tom | Jerry", "\\", "%_*"]),
    st.text(max_size=12),
    st.text(max_size=8).map(lambda text: '"' + text.replace('"', '\\"') + '"'),
)
FILTER = st.builds(
    lambda name, op, value: f"{name}{op}{value}",
    st.sampled_from(NAMES),
    st.sampled_from(OPERATORS),
    VALUES,
)
FORMULA = st.recursive(
    FILTER,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} && {b}", inner, inner),
        st.builds(lambda a, b: f"{a} || {b}", inner, inner),
        st.builds(lambda a: f"!{a}", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=6,
)


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    formula=st.one_of(FORMULA, st.text(max_size=40)),
    sort_by=st.sampled_from(["", "sim", "date", "title"]),
)
@example(formula="i=\x00", sort_by="")  # PostgreSQL refuses NUL in text: once a 500
def test_no_formula_causes_a_server_error(shown: Api, formula: str, sort_by: str) -> None:
    answer = shown.get(
        "/imgs", params={"q": formula, "sort_by": sort_by, "facets": ["keywords", "country"]}
    )
    assert answer.status_code in (200, 422), (formula, answer.text)
    if answer.status_code == 422:
        assert answer.json()["detail"][0]["loc"][0] == "query"

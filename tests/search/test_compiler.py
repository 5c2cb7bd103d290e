"""Every metadata filter compiled to SQL and run on a real database of each engine."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pixsearch.db.dialect import dialect_of
from pixsearch.db.tables import images
from pixsearch.search.compiler import compile_filter, has_similarity, select_pks
from pixsearch.search.parser import parse_formula
from pixsearch.vocabulary.hashes import to_signed64
from tests.search.conftest import add_images

BASE_HASH = 0x0123_4567_89AB_CDEF


def flip(bits: int) -> int:
    """BASE_HASH with its `bits` lowest bits flipped, stored signed as the apply step does."""
    return to_signed64(BASE_HASH ^ ((1 << bits) - 1))


ROWS = [
    {
        "image_id": "beach1",
        "title": "The Eiffel Tower at night",
        "city": "São Paulo",
        "country": "Brazil",
        "status": "RDA Only",
        "date": "2020-05-13",
        "keywords": ["Beach", "Sunset", "Café"],
        "categories": ["Travel"],
        "width": 1920,
        "height": 1080,
        "aspect_ratio": 1920 / 1080,
        "orientation": "landscape",
        "n_faces": 2,
        "ai_generated": True,
        "nsfw": False,
        "phash": to_signed64(BASE_HASH),
        "sha256": "a" * 64,
    },
    {
        "image_id": "beach2",
        "title": "Cafe\u0301 terrace",  # decomposed é: the same letter as the NFC form
        "city": "sao paulo",
        "country": "france",
        "date": "2021-01-01",
        "keywords": ["beach", "Midnight sun"],
        "collections": ["Summer 2024"],
        "width": 400,
        "height": 300,
        "aspect_ratio": 400 / 300,
        "orientation": "landscape",
        "n_faces": 0,
        "ai_generated": False,
        "nsfw": True,
        "phash": flip(3),
        "sha256": "a" * 64,
    },
    {
        "image_id": "10",
        "title": "Portrait of an unsung hero",
        "country": "Spain",
        "date": "2024-12-31",
        "keywords": ["unsung"],
        "categories": ["Nature", "travel"],
        "width": 300,
        "height": 400,
        "aspect_ratio": 300 / 400,
        "orientation": "portrait",
        "phash": flip(8),
        "sha256": "b" * 64,
    },
    {"image_id": "007", "width": 500, "height": 500, "aspect_ratio": 1.0, "orientation": "square"},
    {"image_id": "-3", "phash": flip(20)},
    {"image_id": "1.5"},
    {"image_id": "img9"},
]
FOREIGN = [
    {
        "image_id": "beach1",
        "keywords": ["beach"],
        "sha256": "a" * 64,
        "phash": to_signed64(BASE_HASH),
    },
    {"image_id": "alien", "keywords": ["Beach"], "country": "Brazil"},
]


@pytest.fixture(scope="module")
def db(module_engine: sa.Engine) -> sa.Engine:
    """The rows above, on each engine."""
    add_images(module_engine, 1, ROWS)
    add_images(module_engine, 2, FOREIGN)
    return module_engine


def found(engine: sa.Engine, formula: str, org_id: int = 1) -> set[str]:
    node = parse_formula(formula)
    assert node is not None
    with engine.connect() as conn:
        dialect_of(conn).prepare_search(conn)
        statement = sa.select(images.c.image_id).where(
            images.c.org_id == org_id, compile_filter(node, org_id)
        )
        return set(conn.execute(statement).scalars())


ALL = {row["image_id"] for row in ROWS}

CASES = [
    # Dates
    ("d=2020-5-13", {"beach1"}),
    ("d>2020-05-13", {"beach2", "10"}),
    ("d>=2020-05-13", {"beach1", "beach2", "10"}),
    ("d<2021-1-1", {"beach1"}),
    ("d<=2021-1-1", {"beach1", "beach2"}),
    ("!d>2020-05-13", ALL - {"beach2", "10"}),  # images without a date are "not after"
    # Ids: numbers compare as numbers, anything else as text
    ("id=beach1", {"beach1"}),
    ("id=7", {"007"}),
    ("id=007", {"007"}),
    ("id>5", {"10", "007", "beach1", "beach2", "img9"}),  # 'b' and 'i' sort after '5'
    ("id<2", {"-3", "1.5"}),
    ("id<=1.5", {"-3", "1.5"}),
    ("id>=b", {"beach1", "beach2", "img9"}),
    ("id∩10,img9,nope", {"10", "img9"}),
    ("id∩1.50,-3.0", {"1.5", "-3"}),
    # Numbers
    ("r=16/9", {"beach1"}),
    ("r=1.7778", set()),
    ("r>1", {"beach1", "beach2"}),
    ("r∩1,4/3", {"007", "beach2"}),
    ("r<1", {"10"}),
    ("w>=1920 && h>=1080", {"beach1"}),
    ("w∩300,500", {"10", "007"}),
    ("h<=300", {"beach2"}),
    ("n=0", {"beach2"}),
    ("n>=1", {"beach1"}),
    ("n∩0,2", {"beach1", "beach2"}),
    # Booleans
    ("ai=true", {"beach1"}),
    ("ai=0", {"beach2"}),
    ("nsfw=false", {"beach1"}),
    ("!nsfw=true", ALL - {"beach2"}),
    # Sets: case and accents ignored
    ("k=beach,sunset", {"beach1"}),
    ("k=BEACH", {"beach1", "beach2"}),
    ("k=cafe", {"beach1"}),
    ("k∩sunset,unsung", {"beach1", "10"}),
    ("k=|midnight sun", {"beach2"}),
    ("k~sun", {"beach1", "beach2"}),  # Sunset, Midnight sun; not unsung
    ("k~SÚN", {"beach1", "beach2"}),
    ("k~midnight s", {"beach2"}),
    ("k~night", set()),  # "night" in "Midnight" does not start a word
    ("c=travel", {"beach1", "10"}),
    ("c=Travel,Nature", {"10"}),
    ("cat~nat", {"10"}),
    ("col=summer 2024", {"beach2"}),
    ("!k=beach", ALL - {"beach1", "beach2"}),
    # Other text fields
    ("city=sao paulo", {"beach1", "beach2"}),
    ("city=SÃO PAULO", {"beach1", "beach2"}),
    ("city==São Paulo", {"beach1"}),
    ("city==sao paulo", {"beach2"}),
    ("city===São Paulo", {"beach1"}),
    ("title==Café terrace", {"beach2"}),  # NFC value, NFD stored: the same letters
    ("title===Café terrace", set()),  # but not the same characters
    ("title=cafe terrace", {"beach2"}),
    ("title~eiff", {"beach1"}),
    ("title~tower at", {"beach1"}),
    ("title~ower", set()),
    ("title~unsung", {"10"}),
    ("status==RDA Only", {"beach1"}),
    ("status==rda only", set()),
    ("country<M", {"beach1", "beach2"}),  # alphabetical, ignoring case: brazil, france
    ("country>=s", {"10"}),
    ("country>brazil && country<=Spain", {"beach2", "10"}),
    ("!city=sao paulo", ALL - {"beach1", "beach2"}),
    # Orientation
    ("o=landscape", {"beach1", "beach2"}),
    ("orientation=SQUARE", {"007"}),
    ("o=portrait", {"10"}),
    # Same picture: perceptual hash distance, identical bytes; the image itself included
    ("i=beach1", {"beach1", "beach2", "10"}),  # distances 0, 3, 8 <= 10
    ("i==beach1", {"beach1", "beach2"}),  # <= 4
    ("i===beach1", {"beach1", "beach2"}),  # same sha256
    ("i===10", {"10"}),
    ("i=-3", {"-3"}),
    ("i=beach1 && !id=beach1", {"beach2", "10"}),
    ("i=nope", set()),
    ("i===alien", set()),  # another organisation's id is an unknown id
    ("!i==beach1", ALL - {"beach1", "beach2"}),
    ("!i=nope", ALL),
    # Combinations
    ("k=beach && d>2020-6-1", {"beach2"}),
    ("k=beach || o=portrait", {"beach1", "beach2", "10"}),
    ("o=square || k=beach && ai=true", {"007", "beach1"}),
    ("(o=square || k=beach) && ai=true", {"beach1"}),
    ("!(k=beach || o=square)", ALL - {"beach1", "beach2", "007"}),
    ("!!o=square", {"007"}),
    ("!o=landscape && !o=portrait", ALL - {"beach1", "beach2", "10"}),
]


@pytest.mark.parametrize(("formula", "expected"), CASES, ids=[case[0] for case in CASES])
def test_filter_matches(db: sa.Engine, formula: str, expected: set[str]) -> None:
    assert found(db, formula) == expected


def test_another_organisation_sees_only_its_own(db: sa.Engine) -> None:
    assert found(db, "k=beach", org_id=2) == {"beach1", "alien"}
    assert found(db, "country=brazil", org_id=2) == {"alien"}
    assert found(db, "i===beach1", org_id=2) == {"beach1"}  # its own beach1, same bytes
    assert found(db, "id=beach1", org_id=2) == {"beach1"}


def test_similarity_is_not_sql() -> None:
    node = parse_formula("t~car && k=x")
    assert node is not None and has_similarity(node)
    with pytest.raises(TypeError):
        compile_filter(node, 1)


@pytest.mark.parametrize("size", [0, 3, 2000])
def test_pk_sets_of_any_size_round_trip(db: sa.Engine, size: int) -> None:
    with db.connect() as conn:
        every = dialect_of(conn).fetch_pks(conn, sa.select(images.c.id).where(images.c.org_id == 1))
        wanted = list(every[: min(size, len(every))]) + list(range(10_000, 10_000 + size))
        statement = sa.select(images.c.id).where(
            dialect_of(conn).pk_set_condition(images.c.id, wanted)
        )
        got = dialect_of(conn).fetch_pks(conn, statement)
    assert sorted(got.tolist()) == sorted(every[: min(size, len(every))].tolist())
    assert len(every) == len(ROWS)


@pytest.mark.parametrize(
    "formula",
    [
        "k=beach",
        "k=beach,sunset",
        "k∩sunset,unsung || c=nature",
        "k~sun && c=travel",
        "(k=beach || col=summer 2024) && !o=portrait",
        "k=beach && d>2020-6-1",
        "d>2000-1-1",
    ],
)
def test_pks_from_terms_alone_equal_the_conditions(db: sa.Engine, formula: str) -> None:
    node = parse_formula(formula)
    assert node is not None
    with db.connect() as conn:
        dialect_of(conn).prepare_search(conn)
        pks = dialect_of(conn).fetch_pks(conn, select_pks(node, 1))
        image_ids = conn.execute(
            sa.select(images.c.image_id).where(images.c.id.in_(pks.tolist()))
        ).scalars()
        assert set(image_ids) == found(db, formula)
    assert found(db, formula)  # each formula matches something

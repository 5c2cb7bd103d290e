"""The full-text index: BM25 (SQLite) or cover density (PostgreSQL) over the textual fields.

Write half (inside the apply transaction): each image's title, headline, caption,
alt_text, keywords and label fields, and the generated words (tags, OCR text). On
SQLite that is a row of the FTS5 table `images_fts` (rowid = images.id). On PostgreSQL the
table of that name holds one `tsvector` per image and its organisation, built here from
the same folded words (no text search configuration, parser or locale in between), each
position weighted by its column (GIN index); `images_fts_words` (migration 0010_pgfacets2) holds a
row per word of each tsvector with its rank weight, derived from the tsvector by SQL in the
same transaction (`postings_sql`), so the two never disagree, and the image's facet values
(the codes of `facet_values`, read from its row and terms), so that the facets of the hits
come from the rows that ranking reads (`rank_with_facets`).

Read half (`rank`, for `t~`): the words of the text, each quoted (so nothing a user types
is query syntax), joined with OR: the images that have more of the rarer words rank
first. Common words of the query's language are left out, unless the text has nothing
else, so that "a red car" does not match every image that says "a". On SQLite the
`images_fts` rows are ranked in memory (`index.postings`, kept in step by `follow`):
the formula of FTS5's bm25() with the column weights `WEIGHTS`, over the folded words
(`vocabulary.text.folded_words`, as on PostgreSQL), with the organisation's own counts;
the ranking is FTS5's own wherever its unicode61 tokenizer folds alike (it keeps `ß`,
`ё`, Greek accents and ligatures, which folded_words folds), the catalogue holds one
organisation (FTS5 counts the whole table) and no two query words fold alike (here they
count once, FTS5 counts `Café cafe` twice). `ranked` is that FTS5 query, kept as the
reference the tests and `bench/fulltext.py` compare with. PostgreSQL has no BM25: it
ranks in `ts_rank_cd` order, with the BM25 column weights as tsvector weights A, B, C, so
ranks (not matches) may differ from SQLite's. For an OR of lexemes, ts_rank_cd's covers are
single positions and its rank is the sum of their weights: a third of the sum of the
integer weights (3, 2, 1 per position) that `images_fts_words` holds per (word, image). So
PostgreSQL ranks by that integer sum, best first, ties by pk: ts_rank_cd's order with its
float weights 0.3333 and 0.6667 read as the thirds they stand for (ts_rank_cd puts one
title word, 1, above three caption words, 0.9999; here they tie). `ranked` is that order
computed from the tsvectors (3 ts_rank_cd, rounded), the reference the tests compare with.

`SQLiteFullText` and `PostgresFullText` are the two engines behind one interface.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects.postgresql import ARRAY, REAL, TSQUERY, TSVECTOR

from pixsearch.db.bulk import chunked
from pixsearch.db.dialect import SQLiteDialect
from pixsearch.db.functions import Condition
from pixsearch.db.tables import images
from pixsearch.index.postings import PostingsIndex
from pixsearch.index.ranking import Ranking
from pixsearch.vocabulary.fields import GENERATED_TEXT, LABEL_FIELDS, LIST_FIELDS, PROSE_FIELDS
from pixsearch.vocabulary.operations import Applied
from pixsearch.vocabulary.text import fold, folded_words

Within = Callable[[], NDArray[np.int64]]  # the pks of a search's scope, fetched when called
MAX_TERMS = 64
# BM25 weight of each column of images_fts, in order: a word in the title counts most.
WEIGHTS = (3.0, 2.0, 1.0, 1.0, 2.0, 1.0)  # title, headline, caption, alt_text, keywords, labels
# tsvector weight of each column: A for the title, B for headline and keywords, C for the
# rest; TS_WEIGHTS gives A, B, C the BM25 weights 3, 2, 1 of WEIGHTS.
TSVECTOR_WEIGHTS = ("A", "B", "C", "C", "B", "C")
# ts_rank_cd weights of D, C, B, A: the BM25 weights 1, 2, 3 of WEIGHTS, scaled to 1.
TS_WEIGHTS = "{0, 0.3333, 0.6667, 1}"
MAX_POSITION = 16383  # tsvector positions stop here
MAX_POSITIONS_PER_WORD = 256
MAX_LEXEME_BYTES = 2046
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": words(
        "a an the and or of in on at to for with by from is are was were be it its this that "
        "these those as into over under near some any very"
    ),
    "es": words(
        "el la los las un una unos unas y o de del en con por para a al es son que se su sus "
        "lo como"
    ),
    "pt": words(
        "o a os as um uma uns umas e ou de do da dos das em no na nos nas com por para ao que "
        "se seu sua é"
    ),
    "fr": words(
        "le la les l un une des et ou de du d en au aux avec par pour sur dans est sont que qui "
        "ce cette ces"
    ),
    "ru": words("и в во не на с со по к ко у о об от до из за для или а но это как что"),
}

fts = sa.table(
    "images_fts",
    sa.column("rowid", sa.Integer),
    sa.column("document", TSVECTOR),
    sa.column("org_id", sa.Integer),  # PostgreSQL only
)
# PostgreSQL only (migration 0010_pgfacets2): one row per word of each image's tsvector.
fts_words = sa.table(
    "images_fts_words",
    sa.column("org_id", sa.Integer),
    sa.column("word", sa.Text),
    sa.column("image_pk", sa.Integer),
    sa.column("weight", sa.Integer),
    sa.column("facets", sa.LargeBinary),
)
# The fields whose facets PostgreSQL counts from `images_fts_words`: every one is a
# writable field, so changing it rewrites the image's full-text rows (apply).
WORD_FACETS = (*LABEL_FIELDS, *LIST_FIELDS)
_LABELS = ", ".join(f"('{field}', i.{field})" for field in LABEL_FIELDS)
_LISTS = ", ".join(f"'{field}'" for field in LIST_FIELDS)
# The facet values of the images that pass `{images}` / `{terms}` (the same pks):
# (pk, field, norm, value), a label's value as it is, a list's folded value with the
# image's first spelling of it (the spelling the SQL facet shows, in the database's order).
FACET_ENTRIES = f"""
WITH entries (pk, field, norm, value) AS (
    SELECT i.id, l.field, l.value, l.value
    FROM images i CROSS JOIN LATERAL (VALUES {_LABELS}) AS l (field, value)
    WHERE l.value IS NOT NULL AND {{images}}
    UNION ALL
    SELECT image_pk, field, value_norm, min(value) FROM image_terms
    WHERE field IN ({_LISTS}) AND {{terms}} GROUP BY image_pk, field, value_norm)
"""
# facet_values.key of an entry `e`: the body of the SQL function facet_key (migration
# 0010_pgfacets2), written out, since PostgreSQL would not inline the function (6 us a call).
ENTRY_KEY = (
    "sha256(convert_to(length(e.field) || ':' || length(e.norm) || ':' || e.field || e.norm"
    " || e.value, 'UTF8'))"
)
# Codes for the entries that have none, in one order (so two writers never deadlock). A
# separate statement from POSTINGS: its snapshot sees codes that a concurrent writer
# committed while this one waited on them.
FACET_CODES = f"""
INSERT INTO facet_values (field, norm, value)
SELECT DISTINCT field, norm, value FROM entries e
WHERE NOT EXISTS (SELECT FROM facet_values v WHERE v.key = {ENTRY_KEY})
ORDER BY 1, 2, 3
ON CONFLICT (key) DO NOTHING
"""
# The rows of images_fts_words of the tsvectors that pass `{fts}`: per word, the sum of its
# positions' column weights (A 3, B 2, C 1), read from the tsvector itself, and the image's
# facet codes (big-endian int4s), or NULL where the word and the codes would not fit in an
# entry of a B-tree (2,704 bytes; an image may have 3,000 list values).
POSTINGS = """
INSERT INTO images_fts_words (org_id, word, image_pk, weight, facets)
SELECT f.org_id, u.lexeme, f.rowid, (
    SELECT coalesce(sum(CASE w WHEN 'A' THEN 3 WHEN 'B' THEN 2 WHEN 'C' THEN 1 ELSE 0 END), 0)
    FROM unnest(u.weights) AS w),
    CASE WHEN octet_length(u.lexeme) + octet_length(c.codes) > 2400 THEN NULL
    ELSE coalesce(c.codes, ''::bytea) END
FROM images_fts f
LEFT JOIN (
    SELECT e.pk, string_agg(int4send(v.code), ''::bytea ORDER BY v.code) AS codes
    FROM entries e JOIN facet_values v ON v.key = {key}
    GROUP BY e.pk) c ON c.pk = f.rowid,
unnest(f.document) AS u
WHERE {fts}
"""
# The facet codes of the images of `%(pks)s`, from their rows: for the few whose word rows
# could not carry them.
FACET_CODES_OF_IMAGES = (
    FACET_ENTRIES.format(images="i.id = ANY(%(pks)s)", terms="image_pk = ANY(%(pks)s)")
    + "SELECT string_agg(int4send(v.code), ''::bytea) FROM entries e "
    f"JOIN facet_values v ON v.key = {ENTRY_KEY}"
)
# The top `limit` values of each facet among counted codes: a label's by count, then
# ignoring case, then as is; a list's by count, then folded (as search's SQL facets).
TOP_FACET_VALUES = f"""
SELECT field, value, n FROM (
    SELECT v.field, min(v.value) AS value, sum(c.n) AS n, row_number() OVER (
        PARTITION BY v.field ORDER BY sum(c.n) DESC,
        CASE WHEN v.field IN ({_LISTS}) THEN v.norm ELSE lower(min(v.value)) END,
        min(v.value)) AS place
    FROM unnest(%(codes)s::int[], %(counts)s::int[]) AS c (code, n)
    JOIN facet_values v ON v.code = c.code
    WHERE v.field = ANY(%(names)s)
    GROUP BY v.field, v.norm) AS counted
WHERE place <= %(limit)s ORDER BY field, place
"""


def postings_sql(where: str) -> tuple[str, str]:
    """The two statements that write the facet codes and the word rows of the images that
    pass `where` (a condition on `{pk}`), in this order."""
    entries = FACET_ENTRIES.format(
        images=where.format(pk="i.id"), terms=where.format(pk="image_pk")
    )
    postings = POSTINGS.format(fts=where.format(pk="f.rowid"), key=ENTRY_KEY)
    return entries + FACET_CODES, entries + postings


# --- Write half ----------------------------------------------------------------------------


def fulltext_columns(fields: dict[str, Any]) -> tuple[str, ...]:
    """The indexed text of an image: the prose fields, then the lists, then the labels;
    the generated words (the tags' forms and synonyms, the OCR text) count as labels."""
    prose = tuple(fields.get(name) or "" for name in PROSE_FIELDS)
    lists = " ".join(" ".join(fields.get(name) or ()) for name in LIST_FIELDS)
    labels = " ".join(str(fields.get(name) or "") for name in (*LABEL_FIELDS, *GENERATED_TEXT))
    return (*prose, lists, labels)


def tsvector_text(columns: tuple[str, ...]) -> str:
    """A tsvector literal of the folded words of the columns, weighted by column."""
    positions: dict[str, list[str]] = {}
    position = 0
    for text, weight in zip(columns, TSVECTOR_WEIGHTS, strict=True):
        for word in folded_words(text):
            position = min(position + 1, MAX_POSITION)
            found = positions.setdefault(word, [])
            if len(found) < MAX_POSITIONS_PER_WORD and len(word.encode()) <= MAX_LEXEME_BYTES:
                found.append(f"{position}{weight}")
    return " ".join(
        "'" + word.replace("\\", "\\\\").replace("'", "''") + "':" + ",".join(found)
        for word, found in positions.items()
        if found
    )


# --- Read half -----------------------------------------------------------------------------


def query_terms(text: str, lang: str) -> list[str]:
    """The distinct words of `text`, without the language's common words unless only those."""
    found = list(dict.fromkeys(_WORD.findall(text)))
    stop = STOPWORDS.get(lang, frozenset())
    kept = [word for word in found if fold(word) not in stop] or found
    return kept[:MAX_TERMS]


def query_words(text: str, lang: str) -> list[str]:
    """The distinct folded words of the query's terms, as the in-memory index has them."""
    found = (word for term in query_terms(text, lang) for word in folded_words(term))
    return list(dict.fromkeys(found))


def match_expression(terms: list[str]) -> str:
    """An FTS5 query that matches any of the terms, each a quoted string."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def lexemes(terms: list[str]) -> list[str]:
    """The distinct folded terms: the lexemes a tsquery of the terms looks for."""
    return list(dict.fromkeys(fold(term) for term in terms))


def tsquery_text(terms: list[str]) -> str:
    """A tsquery literal matching any of the folded terms (quoted lexemes, no parser)."""
    return " | ".join(
        "'" + term.replace("\\", "\\\\").replace("'", "''") + "'" for term in lexemes(terms)
    )


def int4send(value: sa.ColumnElement[int]) -> sa.ColumnElement[bytes]:
    """PostgreSQL's four big-endian bytes of an integer."""
    return sa.func.int4send(value, type_=sa.LargeBinary)


def binary_row(conn: sa.Connection, statement: sa.Select[Any]) -> tuple[Any, ...]:
    """The one row of `statement` in PostgreSQL's binary format, on the connection's
    transaction: byte strings as they are, not as hex text twice their size (5 of 30 ms
    for 21k hits)."""
    compiled = statement.compile(conn, compile_kwargs={"render_postcompile": True})
    cursor = conn.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    cursor.execute(str(compiled), compiled.params)
    row = cursor.fetchone()
    cursor.close()
    return tuple(row)


def as_pks(conn: sa.Connection, statement: sa.Select[Any]) -> NDArray[np.int64]:
    return np.array([row[0] for row in conn.execute(statement)], dtype=np.int64)


# --- The two engines -----------------------------------------------------------------------


class FullText(ABC):
    """The full-text index of one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def follow(self, applied: Applied) -> None:
        """Learn what a committed operation changed (for indexes held in this process)."""
        return None

    def close(self) -> None:
        return None

    def replace(self, conn: sa.Connection, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Rewrite the full-text rows of the images given as (pk, fields)."""
        self.delete(conn, [pk for pk, _ in rows])
        self.insert(conn, rows)

    @abstractmethod
    def insert(self, conn: sa.Connection, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Add the rows of images that have none."""

    @abstractmethod
    def delete(self, conn: sa.Connection, pks: Sequence[int]) -> None:
        """Drop the rows of these images."""

    def rank(
        self,
        conn: sa.Connection,
        org_id: int,
        text: str,
        lang: str,
        scope: Condition | None,
        within: Within | None = None,
    ) -> NDArray[np.int64]:
        """Pks of the organisation's images that match `text` (and `scope`), best first.
        `within`, when given, returns the pks of the same scope (fetched once per search)."""
        terms = query_terms(text, lang)
        if not terms:
            return np.zeros(0, dtype=np.int64)
        statement = self.ranked(terms).where(images.c.org_id == org_id)
        if scope is not None:
            statement = statement.where(scope)
        return as_pks(conn, statement)

    def ranking(
        self,
        conn: sa.Connection,
        org_id: int,
        text: str,
        lang: str,
        scope: Condition | None,
        within: Within | None = None,
    ) -> Ranking:
        """`rank`'s answer as a `Ranking`: where the engine can, sorted only as far as read."""
        return Ranking.ordered(self.rank(conn, org_id, text, lang, scope, within))

    def rank_with_facets(
        self,
        conn: sa.Connection,
        org_id: int,
        text: str,
        lang: str,
        scope: Condition | None,
        names: Sequence[str],
        limit: int,
    ) -> tuple[NDArray[np.int64], dict[str, list[dict[str, Any]]]]:
        """`rank`, and the top `limit` values ({"value", "count"}, as search answers
        them) among the ranked images of those facets of `names` that this index counts
        from its own rows: the caller counts the others. Here: none."""
        return self.rank(conn, org_id, text, lang, scope), {}

    @abstractmethod
    def ranked(self, terms: list[str]) -> sa.Select[Any]:
        """SELECT the pks of images with any of the terms, best first, ties by pk."""


class SQLiteFullText(FullText):
    """FTS5 rows in the database, ranked in memory (`index.postings`): one process owns a
    SQLite file. `ranked` is the same ranking in SQL (FTS5's bm25(), lower is better)."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.postings = PostingsIndex(engine, WEIGHTS)

    def rank(
        self,
        conn: sa.Connection,
        org_id: int,
        text: str,
        lang: str,
        scope: Condition | None,
        within: Within | None = None,
    ) -> NDArray[np.int64]:
        return self.ranking(conn, org_id, text, lang, scope, within).best_first

    def ranking(
        self,
        conn: sa.Connection,
        org_id: int,
        text: str,
        lang: str,
        scope: Condition | None,
        within: Within | None = None,
    ) -> Ranking:
        """The BM25 scores of every match: a page sorts only its top."""
        words = query_words(text, lang)
        if not words:
            return Ranking.ordered(np.zeros(0, dtype=np.int64))
        allowed = None
        if within is not None:
            allowed = within()
        elif scope is not None:
            statement = sa.select(images.c.id).where(images.c.org_id == org_id, scope)
            allowed = SQLiteDialect().fetch_pks(conn, statement)
        scored = self.postings.search(org_id, words, allowed)
        return Ranking.scored(scored.pks, scored.scores)

    def follow(self, applied: Applied) -> None:
        self.postings.follow(applied)

    def close(self) -> None:
        self.postings.close()

    def insert(self, conn: sa.Connection, rows: list[tuple[int, dict[str, Any]]]) -> None:
        conn.exec_driver_sql(
            "INSERT INTO images_fts(rowid, title, headline, caption, alt_text, keywords, labels) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(pk, *fulltext_columns(fields)) for pk, fields in rows],
        )

    def delete(self, conn: sa.Connection, pks: Sequence[int]) -> None:
        for part in chunked(pks):
            conn.exec_driver_sql(
                f"DELETE FROM images_fts WHERE rowid IN ({','.join('?' * len(part))})", tuple(part)
            )

    def ranked(self, terms: list[str]) -> sa.Select[Any]:
        table: sa.ColumnElement[Any] = sa.literal_column("images_fts")
        rank = sa.func.bm25(table, *WEIGHTS)
        return (
            sa.select(fts.c.rowid)
            .select_from(fts.join(images, images.c.id == fts.c.rowid))
            .where(table.op("MATCH")(match_expression(terms)))
            .order_by(rank, fts.c.rowid)
        )


class PostgresFullText(FullText):
    """tsvectors under a GIN index (matching, the reference order) and their words' rank
    weights in `images_fts_words` (ranking), each row with its image's organisation.

    Ranking reads only `ix_images_fts_words_rank`: one query word is an index-only scan in
    rank order; several sum a few integers per hit. Decoding each hit's tsvector for
    ts_rank_cd cost three times the rest of the ranking at 20k hits. No image row is read
    unless a scope asks for one.
    """

    def insert(self, conn: sa.Connection, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """The tsvectors, then their word rows with the images' facet values, read from the
        image rows and terms (apply writes both before the full text)."""
        documents = [(pk, pk, tsvector_text(fulltext_columns(fields))) for pk, fields in rows]
        conn.exec_driver_sql(
            "INSERT INTO images_fts (rowid, org_id, document) "
            "VALUES (%s, (SELECT org_id FROM images WHERE id = %s), %s::tsvector)",
            documents,
        )
        pks = {"pks": [pk for pk, _ in rows]}
        for statement in postings_sql("{pk} = ANY(%(pks)s)"):
            conn.exec_driver_sql(statement, pks)

    def delete(self, conn: sa.Connection, pks: Sequence[int]) -> None:
        for part in chunked(pks):
            conn.exec_driver_sql("DELETE FROM images_fts WHERE rowid = ANY(%s)", (list(part),))
            conn.exec_driver_sql(
                "DELETE FROM images_fts_words WHERE image_pk = ANY(%s)", (list(part),)
            )

    def rank(
        self,
        conn: sa.Connection,
        org_id: int,
        text: str,
        lang: str,
        scope: Condition | None,
        within: Within | None = None,
    ) -> NDArray[np.int64]:
        """The organisation's matches by its own column; `images` joined only for a scope
        (the SQL scope: the database filters better than a pk array it is sent would)."""
        return self.rank_with_facets(conn, org_id, text, lang, scope, (), 0)[0]

    def rank_with_facets(
        self,
        conn: sa.Connection,
        org_id: int,
        text: str,
        lang: str,
        scope: Condition | None,
        names: Sequence[str],
        limit: int,
    ) -> tuple[NDArray[np.int64], dict[str, list[dict[str, Any]]]]:
        """`rank`, and the facets of `names` that are WORD_FACETS, counted from the same
        rows (one scan of the index) as search's SQL facets count them.

        The database sends the matching word rows as four byte strings (pks, weights,
        facet lengths, facets), without sorting or grouping: NumPy sums each image's
        weights, orders the images and keeps one row's facets per image, several times
        faster than PostgreSQL's aggregates (which spill to disk at 60k hits)."""
        words = lexemes(query_terms(text, lang))
        counted = [name for name in names if name in WORD_FACETS]
        if not words:
            return np.zeros(0, dtype=np.int64), {name: [] for name in counted}
        rows = sa.select(fts_words).where(fts_words.c.org_id == org_id, fts_words.c.word.in_(words))
        if scope is not None:
            rows = rows.join(images, images.c.id == fts_words.c.image_pk).where(scope)
        found = rows.subquery()
        nothing = sa.literal(b"", sa.LargeBinary)
        columns = [int4send(found.c.image_pk), int4send(found.c.weight)]
        if counted:
            carried = sa.func.coalesce(sa.func.octet_length(found.c.facets), -1)
            columns += [int4send(carried), found.c.facets]
        row = binary_row(conn, sa.select(*(sa.func.string_agg(c, nothing) for c in columns)))
        pks, weights, *facets = (
            np.frombuffer(value or b"", dtype=">i4").astype(np.int64) for value in row
        )
        hits, inverse = np.unique(pks, return_inverse=True)
        rank = np.bincount(inverse, weights=weights, minlength=len(hits))
        ranked = hits[np.lexsort((hits, -rank))]
        if not counted:
            return ranked, {}
        lengths, codes = facets
        return ranked, self.top_values(
            conn, self.one_per_image(conn, pks, lengths, codes), counted, limit
        )

    def one_per_image(
        self,
        conn: sa.Connection,
        pks: NDArray[np.int64],
        lengths: NDArray[np.int64],
        codes: NDArray[np.int64],
    ) -> NDArray[np.int64]:
        """The facet codes of each image once, from the first of its rows that carries
        them (`lengths` in bytes, -1 for none); an image with none reads them from its
        rows (FACET_CODES_OF_IMAGES)."""
        carrying = np.flatnonzero(lengths >= 0)
        images_with, first = np.unique(pks[carrying], return_index=True)
        chosen = np.zeros(len(pks), dtype=bool)
        chosen[carrying[first]] = True
        row_of_code = np.repeat(np.arange(len(pks)), np.maximum(lengths, 0) // 4)
        kept = codes[chosen[row_of_code]]
        without = np.setdiff1d(pks, images_with)
        if not len(without):
            return kept
        read = conn.exec_driver_sql(FACET_CODES_OF_IMAGES, {"pks": without.tolist()}).scalar()
        return np.concatenate([kept, np.frombuffer(read or b"", dtype=">i4").astype(np.int64)])

    def top_values(
        self, conn: sa.Connection, codes: NDArray[np.int64], names: list[str], limit: int
    ) -> dict[str, list[dict[str, Any]]]:
        """The top `limit` values of each facet of `names` among the hits' facet codes."""
        facets: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        counts = np.bincount(codes)
        present = np.flatnonzero(counts)
        if not len(present):
            return facets
        parameters = {
            "codes": present.tolist(),
            "counts": counts[present].tolist(),
            "names": names,
            "limit": limit,
        }
        for field, value, count in conn.exec_driver_sql(TOP_FACET_VALUES, parameters):
            facets[field].append({"value": value, "count": int(count)})
        return facets

    def ranked(self, terms: list[str]) -> sa.Select[Any]:
        """The reference: rows of every organisation with a term, best first by ts_rank_cd
        in thirds (rounded: its float weights make 3 x 0.3333 fall short of 1)."""
        query = sa.cast(sa.literal(tsquery_text(terms), sa.Text), TSQUERY)
        weights = sa.cast(sa.literal(TS_WEIGHTS, sa.Text), ARRAY(REAL))
        cover_density = sa.func.ts_rank_cd(weights, fts.c.document, query)
        rank = sa.func.round(cover_density * 3).label("rank")
        return (
            sa.select(fts.c.rowid, rank)
            .where(fts.c.document.op("@@", is_comparison=True)(query))
            .order_by(rank.desc(), fts.c.rowid)
        )

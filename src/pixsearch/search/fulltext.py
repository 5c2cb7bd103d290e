"""Full-text ranking for `t~`: BM25 over the textual fields, best match first.

On SQLite the index is the FTS5 table `images_fts` (rowid = images.id; title, headline,
caption, alt_text, keywords and the label fields; unicode61 folding case and accents),
kept by the apply step. The query is the words of the text, each quoted (so nothing a user
types is FTS5 syntax), joined with OR: BM25 ranks the images that have more of the rarer
words first. Common words of the query's language are left out, unless the text has
nothing else, so that "a red car" does not match every image that says "a".
`rank_fulltext` is the one function that knows the dialect.

On PostgreSQL `images_fts` holds a `tsvector` per image, written by `images.derived` from
the same folded words FTS5 indexes (GIN index); the query is the same words, folded,
joined with `|`. PostgreSQL has no BM25: `ts_rank_cd` (cover density) ranks, with the
column weights below as tsvector weights A, B, C, so ranks (not matches) may differ from
SQLite's.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects.postgresql import ARRAY, REAL, TSQUERY, TSVECTOR

from pixsearch.db.tables import images
from pixsearch.images.text import fold
from pixsearch.search.compiler import Condition

MAX_TERMS = 64
# BM25 weight of each column of images_fts, in order: a word in the title counts most.
WEIGHTS = (3.0, 2.0, 1.0, 1.0, 2.0, 1.0)  # title, headline, caption, alt_text, keywords, labels
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

fts = sa.table("images_fts", sa.column("rowid", sa.Integer), sa.column("document", TSVECTOR))
# ts_rank_cd weights of D, C, B, A: the BM25 weights 1, 2, 3 of WEIGHTS, scaled to 1.
TS_WEIGHTS = "{0, 0.3333, 0.6667, 1}"


def query_terms(text: str, lang: str) -> list[str]:
    """The distinct words of `text`, without the language's common words unless only those."""
    found = list(dict.fromkeys(_WORD.findall(text)))
    stop = STOPWORDS.get(lang, frozenset())
    kept = [word for word in found if fold(word) not in stop] or found
    return kept[:MAX_TERMS]


def match_expression(terms: list[str]) -> str:
    """An FTS5 query that matches any of the terms, each a quoted string."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def rank_fulltext(
    conn: sa.Connection, org_id: int, text: str, lang: str, scope: Condition | None
) -> NDArray[np.int64]:
    """Pks of the organisation's images that match `text` (and `scope`), best first."""
    terms = query_terms(text, lang)
    if not terms:
        return np.zeros(0, dtype=np.int64)
    if conn.dialect.name == "postgresql":
        return rank_postgres(conn, org_id, tsquery_text(terms), scope)
    return rank_sqlite(conn, org_id, match_expression(terms), scope)


def rank_sqlite(
    conn: sa.Connection, org_id: int, expression: str, scope: Condition | None
) -> NDArray[np.int64]:
    """BM25 order from FTS5 (lower bm25() is better), ties by pk."""
    table: sa.ColumnElement[Any] = sa.literal_column("images_fts")
    rank = sa.func.bm25(table, *WEIGHTS)
    statement = (
        sa.select(fts.c.rowid)
        .select_from(fts.join(images, images.c.id == fts.c.rowid))
        .where(table.op("MATCH")(expression), images.c.org_id == org_id)
        .order_by(rank, fts.c.rowid)
    )
    if scope is not None:
        statement = statement.where(scope)
    return np.array([row[0] for row in conn.execute(statement)], dtype=np.int64)


def tsquery_text(terms: list[str]) -> str:
    """A tsquery literal matching any of the folded terms (quoted lexemes, no parser)."""
    folded = dict.fromkeys(fold(term) for term in terms)
    return " | ".join("'" + term.replace("\\", "\\\\").replace("'", "''") + "'" for term in folded)


def rank_postgres(
    conn: sa.Connection, org_id: int, query_text: str, scope: Condition | None
) -> NDArray[np.int64]:
    """ts_rank_cd order over the GIN-indexed tsvectors (higher is better), ties by pk."""
    query = sa.cast(sa.literal(query_text, sa.Text), TSQUERY)
    weights = sa.cast(sa.literal(TS_WEIGHTS, sa.Text), ARRAY(REAL))
    rank = sa.func.ts_rank_cd(weights, fts.c.document, query)
    statement = (
        sa.select(fts.c.rowid)
        .select_from(fts.join(images, images.c.id == fts.c.rowid))
        .where(fts.c.document.op("@@", is_comparison=True)(query), images.c.org_id == org_id)
        .order_by(rank.desc(), fts.c.rowid)
    )
    if scope is not None:
        statement = statement.where(scope)
    return np.array([row[0] for row in conn.execute(statement)], dtype=np.int64)

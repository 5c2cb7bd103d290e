"""Search: filter, rank by similarity, fuse, sort, page, count and facet (spec section 6).

A formula without similarity filters is one SQL query (plus a count and the facets); on
SQLite the column index answers it from memory instead (`search.columnar`), and gives the
ranked searches their scope's pks, field sorts and facets, with the same results.
With them, each similarity filter becomes a set of scored hits, evaluated inside the SQL
condition of the metadata filters it is and-ed with (`scope`), so that its ranking and its
top k are those among the images that pass them, exact at any selectivity:

- `i~<id>`: the images whose CLIP vector has cosine >= the model's image threshold for
  `~`/`~~`/`~~~` with the vector of `<id>`; the score is that cosine.
- `t~<text>`: reciprocal rank fusion (k = 60) of up to three rankings: CLIP text-to-image
  and caption embeddings (each kept above the model's threshold for the operator) and
  BM25 full text (every match qualifies); the score is the fused RRF score.

`&&` intersects hits, `||` unites them (metadata alternatives join with score 0). With
several similarity filters, each contributes 1/(60 + its rank) and the score is the sum.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from pixsearch.backend import Backend
from pixsearch.celebs.service import celeb_descriptors
from pixsearch.db.dialect import Dialect
from pixsearch.db.functions import Condition
from pixsearch.db.tables import images
from pixsearch.errors import InvalidInput
from pixsearch.images.service import render_image
from pixsearch.index.colors import Lab, nearest
from pixsearch.index.columns import ColumnIndex
from pixsearch.index.embeddings import image_vector
from pixsearch.index.ranking import Ranking
from pixsearch.index.terms import list_facet, list_facet_of_pks
from pixsearch.index.vectors import Key, Matches
from pixsearch.monitoring.metrics import Metrics
from pixsearch.runtimes.clip import DEFAULT_THRESHOLDS as CLIP_THRESHOLDS
from pixsearch.runtimes.clip import ClipModel
from pixsearch.runtimes.identities import FaceIdentifier
from pixsearch.runtimes.registry import ImageModel
from pixsearch.runtimes.text import DEFAULT_THRESHOLDS as TEXT_THRESHOLDS
from pixsearch.runtimes.text import TextModel
from pixsearch.search import columnar, nodes
from pixsearch.search.compiler import compile_filter, has_similarity, select_pks
from pixsearch.search.fusion import (
    AnyHits,
    Hits,
    as_contribution,
    by_score,
    eager,
    fuse,
    intersect,
    unite,
)
from pixsearch.search.nodes import Node, similarity_filters
from pixsearch.search.parser import parse_formula
from pixsearch.search.people import face_descriptor, match_faces, person_unavailable
from pixsearch.search.schemas import SIMILARITY_SORTS, TEXT_SORT_FIELDS
from pixsearch.vocabulary.fields import RESULT_FIELDS, TERM_FIELDS

MAX_OFFSET = 2**62  # past this no page can have results; SQL integers stop at 2**63
IMAGE_UNAVAILABLE = (
    "image similarity (i~) is not available: no CLIP model and no classifier is configured"
)


@dataclass(frozen=True)
class SearchParams:
    """The query parameters of GET /imgs, validated."""

    q: str = ""
    page: int = 1
    limit: int = 50
    sort_by: str = ""
    sort_order: Literal["asc", "desc"] | None = None
    fields: tuple[str, ...] | None = None
    facets: tuple[str, ...] = ()
    facet_limit: int = 20
    count: bool = True
    lang: str = "en"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True)
class Searcher:
    """What a search needs beside a connection: the engine's backend and the models."""

    backend: Backend
    clip: ClipModel | None = None
    text: TextModel | None = None
    # Whose vectors `i~` compares; by default CLIP's (the registry's `image_model`).
    image: ImageModel | None = None
    metrics: Metrics | None = None
    identities: FaceIdentifier | None = None
    identities_off: str = "not configured"  # why identities is None

    @property
    def image_model(self) -> ImageModel | None:
        if self.image is not None:
            return self.image
        if self.clip is not None:
            return ImageModel(self.clip.name, self.clip.image_thresholds)
        return None


@dataclass
class Page:
    """The answer of a search, before it becomes JSON."""

    results: list[dict[str, Any]]
    count: int | None
    facets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def search_images(
    conn: sa.Connection, searcher: Searcher, org_id: int, params: SearchParams
) -> Page:
    """Run one search of one organisation."""
    started = time.perf_counter()
    formula = parse_formula(params.q)
    leaves = similarity_filters(formula)
    check_request(params, searcher, formula, leaves)
    dialect = searcher.backend.dialect
    dialect.prepare_search(conn)
    if formula is None or not leaves:
        in_memory = searcher.backend.columns is not None
        if params.sort_by in SIMILARITY_SORTS:
            target = colour_target(formula)
            assert target is not None  # check_request saw to it
            condition = compile_filter(formula, org_id) if formula is not None else None
            page = search_by_colour(conn, dialect, org_id, params, condition, target)
        elif in_memory and columnar.sorts_in_memory(params.sort_by):
            page = search_columns(conn, searcher.backend, org_id, params, formula)
        else:
            condition = compile_filter(formula, org_id) if formula is not None else None
            page = search_metadata(conn, dialect, org_id, params, condition)
    elif (counted := search_counted_text(conn, searcher, org_id, params, formula)) is not None:
        page = counted
    else:
        matcher = Matcher(conn, searcher, org_id, params.lang, fuse_leaves=len(leaves) > 1)
        hits = matcher.match(formula, ())
        page = search_ranked(conn, searcher.backend, org_id, params, hits)
    if searcher.metrics is not None:
        kind = search_kind(leaves, searcher)
        searcher.metrics.observe_search(kind, time.perf_counter() - started)
    return page


def search_counted_text(
    conn: sa.Connection, searcher: Searcher, org_id: int, params: SearchParams, formula: Node
) -> Page | None:
    """One `t~` (alone or and-ed with metadata filters) answered by full text alone, by
    score, with facets: the full-text index ranks and counts the facets it can from the
    same rows (`FullText.rank_with_facets`); the others are counted as for any ranked
    hits. None for any other search."""
    backend = searcher.backend
    parts = formula.children if isinstance(formula, nodes.And) else (formula,)
    texts = [part for part in parts if has_similarity(part)]
    models = searcher.clip, searcher.text
    by_score = params.sort_by in ("", *SIMILARITY_SORTS)
    if len(texts) != 1 or not isinstance(texts[0], nodes.TextFilter) or models != (None, None):
        return None
    if not params.facets or not by_score or backend.columns is not None:
        return None
    scope = tuple(part for part in parts if not has_similarity(part))
    condition = compile_filter(nodes.And(scope), org_id) if scope else None
    ranked, counted = backend.fulltext.rank_with_facets(
        conn, org_id, texts[0].text, params.lang, condition, params.facets, params.facet_limit
    )
    rest = tuple(name for name in params.facets if name not in counted)
    hits = fuse([Ranking.ordered(ranked)])
    page = search_ranked(conn, backend, org_id, replace(params, facets=rest), hits)
    names = dict.fromkeys(params.facets)
    page.facets = {name: counted[name] if name in counted else page.facets[name] for name in names}
    return page


def search_kind(leaves: list[nodes.SimilarityFilter], searcher: Searcher) -> str:
    """`metadata` (no similarity filter), `vector` (image similarity only), `fulltext`
    (text filters answered by full text alone: no model) or `hybrid` (text filters that
    fuse vectors with full text, or text and image similarity together)."""
    if not leaves:
        return "metadata"
    texts = any(isinstance(leaf, nodes.TextFilter) for leaf in leaves)
    if not texts:
        return "vector"
    has_model = searcher.clip is not None or searcher.text is not None
    if not has_model and all(isinstance(leaf, nodes.TextFilter) for leaf in leaves):
        return "fulltext"
    return "hybrid"


def check_request(
    params: SearchParams,
    searcher: Searcher,
    formula: Node | None,
    leaves: list[nodes.SimilarityFilter],
) -> None:
    """Refuse what no search can answer, before any work."""
    if params.sort_by in SIMILARITY_SORTS and not leaves and colour_target(formula) is None:
        raise InvalidInput(
            ("query", "sort_by"),
            f"sort_by={params.sort_by} needs a similarity filter (t~, i~ or p~) or a "
            "colour filter color~ (not under '!') in q",
        )
    people = (nodes.PersonFilter, nodes.NamedPerson)
    if searcher.identities is None and any(isinstance(leaf, people) for leaf in leaves):
        raise person_unavailable(searcher.identities_off)


# --- Without similarity: SQL only ----------------------------------------------------------


def search_metadata(
    conn: sa.Connection,
    dialect: Dialect,
    org_id: int,
    params: SearchParams,
    condition: Condition | None,
) -> Page:
    """One page in SQL order, the count and the facets."""
    where = scoped(org_id, condition)
    descending = (params.sort_order or ("asc" if params.sort_by else "desc")) == "desc"
    results: list[dict[str, Any]] = []
    if params.offset < MAX_OFFSET:
        statement = (
            sa.select(images)
            .where(where)
            .order_by(*sort_columns(dialect, params.sort_by or "created_at", descending))
            .limit(params.limit)
            .offset(params.offset)
        )
        fields = params.fields or RESULT_FIELDS
        results = [render_image(row._mapping, fields) for row in conn.execute(statement)]
    count = count_where(conn, where) if params.count else None
    return Page(results, count, count_facets(conn, dialect, org_id, where, params))


def search_columns(
    conn: sa.Connection, backend: Backend, org_id: int, params: SearchParams, formula: Node | None
) -> Page:
    """`search_metadata` from the column index (`search.columnar`), in the same order."""
    assert backend.columns is not None
    results, count, facets = columnar.search_columns(
        conn,
        backend.dialect,
        backend.columns,
        org_id,
        formula,
        sort_by=params.sort_by,
        descending=(params.sort_order or ("asc" if params.sort_by else "desc")) == "desc",
        offset=params.offset,
        limit=params.limit,
        fields=params.fields,
        facets=params.facets,
        facet_limit=params.facet_limit,
        count=params.count,
    )
    return Page(results, count, facets)


def colour_target(node: Node | None) -> Lab | None:
    """The colour of the first `color~` that is not under `!`: what closeness is to."""
    if isinstance(node, nodes.ColorFilter):
        return node.lab
    if isinstance(node, nodes.And | nodes.Or):
        for child in node.children:
            found = colour_target(child)
            if found is not None:
                return found
    return None


def search_by_colour(
    conn: sa.Connection,
    dialect: Dialect,
    org_id: int,
    params: SearchParams,
    condition: Condition | None,
    target: Lab,
) -> Page:
    """`color~` with sort_by=similarity: nearest dominant colour first; score 1 - distance."""
    where = scoped(org_id, condition)
    squared = nearest(org_id, target, nodes.COLOR_MIN_SHARE).label("squared")
    nearest_first = (params.sort_order or "desc") == "desc"  # most similar = nearest
    order = squared.asc().nulls_last() if nearest_first else squared.desc().nulls_last()
    tie = images.c.id.desc() if nearest_first else images.c.id.asc()
    results: list[dict[str, Any]] = []
    if params.offset < MAX_OFFSET:
        statement = (
            sa.select(images, squared)
            .where(where)
            .order_by(order, tie)
            .limit(params.limit)
            .offset(params.offset)
        )
        for row in conn.execute(statement):
            rendered = render_image(row._mapping, params.fields)
            distance = math.sqrt(row.squared) if row.squared is not None else None
            rendered["score"] = 0.0 if distance is None else 1.0 - distance
            results.append(rendered)
    count = count_where(conn, where) if params.count else None
    return Page(results, count, count_facets(conn, dialect, org_id, where, params))


def scoped(org_id: int, condition: Condition | None) -> Condition:
    mine = images.c.org_id == org_id
    return mine if condition is None else sa.and_(mine, condition)


def sort_columns(dialect: Dialect, name: str, descending: bool) -> list[sa.ColumnElement[Any]]:
    """ORDER BY a field (missing values last), then the pk, in one direction."""
    column: sa.ColumnElement[Any] = images.c[name]
    nullable = bool(images.c[name].nullable)
    if name in TEXT_SORT_FIELDS:
        column = dialect.ignoring_case(column)
    if descending:
        # Without NULLS LAST where there are no NULLs: PostgreSQL then walks an ascending
        # index backwards (created_at, the default order, has one).
        first = column.desc().nulls_last() if nullable else column.desc()
        return [first, images.c.id.desc()]
    return [column.asc().nulls_last(), images.c.id.asc()]


def count_where(conn: sa.Connection, where: Condition) -> int:
    return int(
        conn.execute(sa.select(sa.func.count()).select_from(images).where(where)).scalar_one()
    )


def count_facets(
    conn: sa.Connection,
    dialect: Dialect,
    org_id: int,
    where: Condition,
    params: SearchParams,
    pks: NDArray[np.int64] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The top `facet_limit` values of each facet among the hits (`where`, or the
    ranked hits' `pks`, which `where` then says too).

    Most frequent first, then alphabetically ignoring case (and accents, for the lists,
    whose spellings of one folded value count together and show the first spelling).
    """
    facets: dict[str, list[dict[str, Any]]] = {}
    for name in dict.fromkeys(params.facets):
        if name in TERM_FIELDS and pks is not None:
            statement = list_facet_of_pks(org_id, name, pks, dialect)
        elif name in TERM_FIELDS:
            statement = list_facet(org_id, name, where)
        else:
            statement = scalar_facet(dialect, name, where)
        rows = conn.execute(statement.limit(params.facet_limit))
        facets[name] = [{"value": value, "count": count} for value, count in rows]
    return facets


def scalar_facet(dialect: Dialect, name: str, where: Condition) -> sa.Select[Any]:
    column: sa.ColumnElement[Any] = images.c[name]
    count = sa.func.count().label("n")
    ordered = dialect.ignoring_case(column) if name in TEXT_SORT_FIELDS else column
    return (
        sa.select(column, count)
        .where(where, column.is_not(None))
        .group_by(column)
        .order_by(count.desc(), ordered.asc(), column.asc())
    )


# --- With similarity ------------------------------------------------------------------------


def search_ranked(
    conn: sa.Connection, backend: Backend, org_id: int, params: SearchParams, hits: AnyHits
) -> Page:
    """Sort the hits (by score unless told otherwise), render one page, count and facet."""
    dialect, columns = backend.dialect, backend.columns
    by_field = params.sort_by not in ("", *SIMILARITY_SORTS)
    if columns is not None and (not by_field or columnar.sorts_in_memory(params.sort_by)):
        return ranked_from_columns(conn, columns, org_id, params, hits)
    by_score = params.sort_by in ("", *SIMILARITY_SORTS)
    descending = (params.sort_order or ("desc" if by_score else "asc")) == "desc"
    page: list[tuple[int, float]] = []
    if params.offset < MAX_OFFSET and params.offset < len(hits):
        if by_score:
            page = page_by_score(hits, params, descending)
        else:
            page = sort_hits(conn, dialect, org_id, hits, params, descending)
    results = render_scored(conn, columns, org_id, page, params.fields or RESULT_FIELDS)
    count = len(hits) if params.count else None
    facets = {}
    if params.facets:  # the hits as SQL only when needed: a million pks take a while
        where = scoped(org_id, dialect.pk_set_condition(images.c.id, hits.pks))
        facets = count_facets(conn, dialect, org_id, where, params, hits.pks)
    return Page(results, count, facets)


def ranked_from_columns(
    conn: sa.Connection, columns: ColumnIndex, org_id: int, params: SearchParams, hits: AnyHits
) -> Page:
    """`search_ranked` with the field sort and the facets from the column index."""
    by_score = params.sort_by in ("", *SIMILARITY_SORTS)
    descending = (params.sort_order or ("desc" if by_score else "asc")) == "desc"
    page: list[tuple[int, float]] = []
    facets: dict[str, list[dict[str, Any]]] = {}
    within_page = params.offset < MAX_OFFSET and params.offset < len(hits)
    if within_page and by_score:
        page = page_by_score(hits, params, descending)
    if (within_page and not by_score) or params.facets:
        with columns.reading(org_id) as slot:
            selection = slot.of_pks(hits.pks)
            if within_page and not by_score:
                pks = columnar.sorted_page(
                    slot, selection, params.sort_by, descending, params.offset, params.limit
                )
                page = list(zip(pks, hits.scores_of(pks), strict=True))
            facets = columnar.count_facets(slot, selection, params.facets, params.facet_limit)
    results = render_scored(conn, columns, org_id, page, params.fields or RESULT_FIELDS)
    return Page(results, len(hits) if params.count else None, facets)


def page_by_score(hits: AnyHits, params: SearchParams, descending: bool) -> list[tuple[int, float]]:
    pks, scores = hits.top(params.offset + params.limit, descending)
    at = slice(params.offset, None)
    return list(zip(pks[at].tolist(), scores[at].tolist(), strict=True))


def sort_hits(
    conn: sa.Connection,
    dialect: Dialect,
    org_id: int,
    hits: AnyHits,
    params: SearchParams,
    descending: bool,
) -> list[tuple[int, float]]:
    """One page of hits in the order of a field, with their scores."""
    where = scoped(org_id, dialect.pk_set_condition(images.c.id, hits.pks))
    statement = (
        sa.select(images.c.id)
        .where(where)
        .order_by(*sort_columns(dialect, params.sort_by, descending))
        .limit(params.limit)
        .offset(params.offset)
    )
    page_pks = list(conn.execute(statement).scalars())
    return list(zip(page_pks, hits.scores_of(page_pks), strict=True))


def render_scored(
    conn: sa.Connection,
    columns: ColumnIndex | None,
    org_id: int,
    page: list[tuple[int, float]],
    fields: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The rows of one page of (pk, score) in page order, from the column index's
    documents where there is one; rows deleted meanwhile are left out."""
    rows = columnar.read_results(conn, columns, org_id, [pk for pk, _ in page], fields)
    results = []
    for pk, score in page:
        row = rows.get(pk)
        if row is not None:
            row["score"] = score  # the row is a new dict: no copy needed
            results.append(row)
    return results


Scope = tuple[Node, ...]  # metadata filters that all hold; () is the whole organisation


class Matcher:
    """Evaluates a formula with similarity filters into scored hits."""

    def __init__(
        self, conn: sa.Connection, searcher: Searcher, org_id: int, lang: str, *, fuse_leaves: bool
    ) -> None:
        self.conn = conn
        self.searcher = searcher
        self.org_id = org_id
        self.lang = lang
        self.fuse_leaves = fuse_leaves

    def match(self, node: Node, scope: Scope) -> AnyHits:
        """The hits of `node` among the images that pass every filter of `scope`."""
        if not has_similarity(node):
            return self.match_metadata((*scope, node))
        if isinstance(node, nodes.And):
            ranked = [child for child in node.children if has_similarity(child)]
            inner = scope + tuple(c for c in node.children if not has_similarity(c))
            hits = self.match(ranked[0], inner)
            for child in ranked[1:]:
                hits = intersect(eager(hits), eager(self.match(child, inner)))
            return hits
        if isinstance(node, nodes.Or):
            ranked = [child for child in node.children if has_similarity(child)]
            metadata = tuple(c for c in node.children if not has_similarity(c))
            parts = [eager(self.match(child, scope)) for child in ranked]
            if metadata:
                parts.append(self.match_metadata((*scope, nodes.Or(metadata))))
            return unite(parts)
        hits = self.match_leaf(node, scope)
        return as_contribution(eager(hits)) if self.fuse_leaves else hits

    def match_metadata(self, scope: Scope) -> Hits:
        """Images that pass the filters, with score 0."""
        pks = np.unique(self.scope_pks(scope)())
        return Hits.of(pks, np.zeros(len(pks)))

    def match_leaf(self, node: Node, scope: Scope) -> AnyHits:
        if isinstance(node, nodes.TextFilter):
            return self.match_text(node, scope)
        if isinstance(node, nodes.ImageSimilar):
            return self.match_image(node, scope)
        if isinstance(node, nodes.PersonFilter):
            return self.match_person(node, scope)
        if isinstance(node, nodes.NamedPerson):
            return self.match_named(node, scope)
        raise TypeError(f"{type(node).__name__} is not a similarity filter")

    def match_person(self, node: nodes.PersonFilter, scope: Scope) -> Hits:
        """`p~`: images with a face close to face `n` of the named image."""
        identifier = self.searcher.identities
        assert identifier is not None  # check_request refused the search otherwise
        query = face_descriptor(self.conn, identifier, self.org_id, node.image_id, node.face)
        faces = self.searcher.backend.faces
        return match_faces(
            self.conn, faces, identifier, self.org_id, node.op, [query], self.within(scope)
        )

    def match_named(self, node: nodes.NamedPerson, scope: Scope) -> Hits:
        """`p=<name>`: images with a face close to one of the person's example faces; an
        unknown name matches nothing."""
        identifier = self.searcher.identities
        assert identifier is not None
        queries = celeb_descriptors(self.conn, self.org_id, node.name, identifier.name)
        faces = self.searcher.backend.faces
        return match_faces(
            self.conn, faces, identifier, self.org_id, node.op, queries, self.within(scope)
        )

    def scope_pks(self, scope: Scope) -> ScopePks:
        backend = self.searcher.backend
        return ScopePks(self.conn, backend.dialect, self.org_id, scope, backend.columns)

    def within(self, scope: Scope) -> ScopePks | None:
        return self.scope_pks(scope) if scope else None

    def match_image(self, node: nodes.ImageSimilar, scope: Scope) -> Hits:
        """`i~`: cosine with the named image's vector (CLIP, else EfficientNet-Lite); an
        unknown id matches nothing."""
        model = self.searcher.image_model
        if model is None:
            raise InvalidInput(("query", "q"), IMAGE_UNAVAILABLE, "not_available")
        query = image_vector(self.conn, self.org_id, node.image_id, "clip", model.name)
        if query is None:
            return Hits.of(np.zeros(0, dtype=np.int64), np.zeros(0))
        threshold = model.threshold(node.op)
        key: Key = (self.org_id, "clip", model.name)
        found = self.search_vectors(key, query, threshold, self.within(scope))
        return Hits.of(found.pks, found.scores)

    def match_text(self, node: nodes.TextFilter, scope: Scope) -> AnyHits:
        """`t~`: RRF of CLIP text-to-image, caption embeddings and BM25 full text."""
        rankings: list[Ranking] = []
        within = self.within(scope)
        clip, text = self.searcher.clip, self.searcher.text
        if clip is not None:
            threshold = clip.thresholds.get(node.op, CLIP_THRESHOLDS[node.op])
            query = clip.embed_texts([node.text])[0]
            key: Key = (self.org_id, "clip", clip.name)
            rankings.append(by_score(self.search_vectors(key, query, threshold, within)))
        if text is not None:
            threshold = text.thresholds.get(node.op, TEXT_THRESHOLDS[node.op])
            query = text.embed_texts([node.text])[0]
            key = (self.org_id, "caption", text.name)
            rankings.append(by_score(self.search_vectors(key, query, threshold, within)))
        condition = compile_filter(nodes.And(scope), self.org_id) if scope else None
        fulltext = self.searcher.backend.fulltext
        ranking = fulltext.ranking(self.conn, self.org_id, node.text, self.lang, condition, within)
        rankings.append(ranking)
        return fuse(rankings)

    def search_vectors(
        self, key: Key, query: NDArray[np.float32], threshold: float, within: ScopePks | None
    ) -> Matches:
        """The scope's images above the threshold (in memory on SQLite, in the database
        on PostgreSQL, where other processes write vectors this one never hears of)."""
        embeddings = self.searcher.backend.embeddings
        return embeddings.search(self.conn, key, query, threshold, within)


class ScopePks:
    """The pks of the images that pass a scope, queried once however many rankings ask."""

    def __init__(
        self,
        conn: sa.Connection,
        dialect: Dialect,
        org_id: int,
        scope: Scope,
        columns: ColumnIndex | None = None,
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.org_id = org_id
        self.node = nodes.And(scope)
        self.statement = select_pks(self.node, org_id)
        self.columns = columns  # when given, the pks come from memory (sorted, unique)
        self.pks: NDArray[np.int64] | None = None

    def __call__(self) -> NDArray[np.int64]:
        if self.pks is None:
            if self.columns is not None:
                self.pks = columnar.scope_pks(
                    self.conn, self.dialect, self.columns, self.org_id, self.node
                )
            else:
                self.pks = self.dialect.fetch_pks(self.conn, self.statement)
        return self.pks

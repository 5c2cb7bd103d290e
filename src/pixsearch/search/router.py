"""GET /imgs: search with a formula, sort, page, count and facets (spec section 6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pixsearch.deps import BackendDep, MetricsDep, ModelsDep, OrgDep, ReadConnDep
from pixsearch.schemas import error_answers
from pixsearch.search.schemas import FacetName, SearchAnswer, SortBy, SortOrder
from pixsearch.search.service import Searcher, SearchParams, search_images
from pixsearch.vocabulary.fields import FieldName, Lang

router = APIRouter(tags=["search"])


@router.get(
    "/imgs",
    response_model=SearchAnswer,
    response_model_exclude_unset=True,
    responses=error_answers(401, 422),
    summary="Search images",
)
def search(
    org: OrgDep,
    conn: ReadConnDep,
    backend: BackendDep,
    models: ModelsDep,
    metrics: MetricsDep,
    q: Annotated[str, Query(description="The formula (docs/query-language.md); empty: all.")] = "",
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Results per page.")] = 50,
    sort_by: Annotated[
        SortBy, Query(description="`similarity` (`sim`), `image_id` or a scalar field.")
    ] = "",
    sort_order: Annotated[
        SortOrder | None, Query(description="Default: desc for similarity, asc otherwise.")
    ] = None,
    fields: Annotated[list[FieldName] | None, Query(description="Fields to return.")] = None,
    facets: Annotated[list[FacetName] | None, Query(description="Fields to count.")] = None,
    facet_limit: Annotated[int, Query(ge=1, le=1000, description="Values listed per facet.")] = 20,
    count: Annotated[bool, Query(description="Count all hits.")] = True,
    lang: Annotated[Lang, Query(description="Language of the query text.")] = "en",
) -> SearchAnswer:
    params = SearchParams(
        q=q,
        page=page,
        limit=limit,
        sort_by=sort_by,
        sort_order=sort_order,
        fields=tuple(fields) if fields else None,
        facets=tuple(facets or ()),
        facet_limit=facet_limit,
        count=count,
        lang=lang,
    )
    searcher = Searcher(
        backend,
        models.clip,
        models.text,
        metrics,
        models.identities,
        models.reasons.get("identities", "not configured"),
    )
    found = search_images(conn, searcher, org.id, params)
    return SearchAnswer.model_validate(
        {"results": found.results, "count": found.count, "facets": found.facets}
    )

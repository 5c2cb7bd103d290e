"""GET /imgs: search with a formula, sort, page, count and facets (spec section 6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pixsearch.deps import OrgDep, ResourcesDep
from pixsearch.resources import Resources
from pixsearch.search.schemas import FacetName, FieldName, Lang, SearchAnswer, SortBy, SortOrder
from pixsearch.search.service import Page, Searcher, SearchParams, search_images

router = APIRouter(tags=["search"])


@router.get("/imgs", summary="Search images", responses={200: {"model": SearchAnswer}})
async def search(
    org: OrgDep,
    res: ResourcesDep,
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
) -> JSONResponse:
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
    page_ = await run_in_threadpool(_search, res, org.id, params)
    return JSONResponse({"results": page_.results, "count": page_.count, "facets": page_.facets})


def _search(res: Resources, org_id: int, params: SearchParams) -> Page:
    searcher = Searcher(res.backend, res.models.clip, res.models.text)
    with res.engine.connect() as conn:
        return search_images(conn, searcher, org_id, params)

"""POST /tag/image: tag one uploaded picture (or `src`), synchronously, storing nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from pixsearch.deps import FetcherDep, ModelsDep, OrgDep, SettingsDep
from pixsearch.errors import InvalidInput
from pixsearch.schemas import error_answers
from pixsearch.tagging.schemas import TagAnswer
from pixsearch.tagging.service import TagRequest, check_available, fetch_picture, tag_picture
from pixsearch.vocabulary.fields import Lang

router = APIRouter(tags=["tagging"])
Flag = Annotated[bool, Form()]
Context = Annotated[str | None, Form(description="Context, accepted and not used yet.")]


@router.post(
    "/tag/image",
    summary="Tag one picture",
    response_model=TagAnswer,
    responses=error_answers(401, 413, 422),
)
async def tag_image(
    _org: OrgDep,
    models: ModelsDep,
    fetcher: FetcherDep,
    settings: SettingsDep,
    image: Annotated[UploadFile | None, File(description="The picture.")] = None,
    src: Annotated[str | None, Form(description="Or the picture's http(s) URL.")] = None,
    lang: Annotated[Lang, Form(description="Language of the keywords.")] = "en",
    keywords: Flag = True,
    ocr: Flag = False,
    colors: Flag = False,
    caption: Flag = False,
    title: Context = None,
    description: Context = None,
    context: Context = None,
) -> TagAnswer:
    request = TagRequest(lang, keywords, ocr, colors, caption)
    check_available(request, models)
    if (image is None) == (src is None):
        raise InvalidInput(("body", "image"), "give exactly one of `image` (a file) and `src`")
    data = await image.read() if image is not None else await fetch_picture(fetcher, src or "")
    return TagAnswer.model_validate(await tag_picture(data, request, models, settings))

"""The floor of write acceptance: a bare async FastAPI endpoint that parses the same body.

Same server (uvicorn, same options as `pixsearch serve`), same route and body model as
POST /imgs/{image_id}, and a 202 of the same shape; nothing else (no key, no queue, no
middleware). `python -m bench.bare PORT` serves it.
"""

from __future__ import annotations

import itertools
import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from pixsearch.images.schemas import NewImageBody

app = FastAPI()
_ids = itertools.count(1)


@app.post("/imgs/{image_id}")
async def add_image(image_id: str, body: NewImageBody) -> JSONResponse:
    answer = {"operation_id": next(_ids), "n_total": 1, "msg": "accepted"}
    return JSONResponse(answer, status_code=202)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)

"""The operation object of section 4 of the contract."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ItemErrorOut(BaseModel):
    id: Any = Field(description="The item's id as the request gave it; null for the operation.")
    msg: str = Field(description="Why the item failed.")


class Operation(BaseModel):
    op_id: int = Field(description="Operation id.")
    method: str = Field(description="add, upd or del.")
    resource: str = Field(
        "image", description="`image`, or `celebs` for the writes of named people."
    )
    num_total: int = Field(description="Items in the operation.")
    num_good: int = Field(description="Items applied, or skipped as non-strict mode allows.")
    num_bad: int = Field(description="Items that failed.")
    is_started: bool = Field(description="The operation has started.")
    is_finished: bool = Field(description="The operation has finished.")
    all_good: bool | None = Field(
        description="null while nothing failed and unfinished; false once an item failed."
    )
    do_wait: bool = Field(description="Requested with wait=true.")
    do_urgent: bool = Field(description="Requested with urgent=true.")
    do_strict: bool = Field(description="Requested with strict=true.")
    idle_ms: int = Field(description="From creation to start (to now while queued).")
    exec_ms: int = Field(description="From start to finish (to now while running).")
    created_at: str = Field(description="ISO 8601, UTC.")
    started_at: str | None = Field(description="ISO 8601, UTC; null until started.")
    finished_at: str | None = Field(description="ISO 8601, UTC; null until finished.")
    errors: list[ItemErrorOut] = Field(description="Failed items and why.")

"""Send a checked source in batches, several in flight, recording each batch's fate.

Batches are cut the same way on every run (by rows and by bytes, in source order), so a
re-run finds each batch under the same number and the same idempotency key: a batch the
state file marks done is never sent again, one whose operation is known is only waited
for, and one that was being sent when the importer died is sent again with its key, which
the server answers with the operation the first send created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pixsearch.catalogue.check import RowFailure, id_of
from pixsearch.catalogue.progress import Progress
from pixsearch.catalogue.rows import Row
from pixsearch.catalogue.state import DoneBatch, ImportState
from pixsearch.client import calls
from pixsearch.client.aio import AsyncClient
from pixsearch.images.schemas import Accepted
from pixsearch.operations.schemas import Operation

MiB = 1024 * 1024
VERB_OF_MODE = {"add": "POST", "replace": "PUT", "patch": "PATCH"}
ALL_OR_NOTHING_MSG = "not applied: another row of its batch failed (--subset applies the rest)"


@dataclass(frozen=True)
class ImportOptions:
    mode: str = "add"
    batch_size: int = 1000
    batch_bytes: int = 8 * MiB
    concurrency: int = 4
    strict: bool = False
    subset: bool = False
    urgent: bool = False
    lang: str = "en"

    def recorded(self) -> dict[str, object]:
        """The options that decide what is sent: a resume must use the same."""
        return {
            "mode": self.mode,
            "batch_size": self.batch_size,
            "batch_bytes": self.batch_bytes,
            "strict": self.strict,
            "subset": self.subset,
            "urgent": self.urgent,
            "lang": self.lang,
        }


@dataclass(frozen=True)
class Batch:
    index: int
    rows: list[Row]
    body: bytes  # the JSON array sent


@dataclass
class Outcome:
    batches: int = 0
    resumed: int = 0  # batches done in an earlier run
    applied: int = 0
    failures: list[RowFailure] = field(default_factory=list)


def plan_batches(rows: Iterable[Row], size: int, max_bytes: int) -> Iterator[Batch]:
    """Consecutive rows, at most `size` per batch and `max_bytes` per body (a bigger row
    goes alone)."""
    index, used = 0, 2
    current: list[Row] = []
    parts: list[bytes] = []
    for row in rows:
        text = row.text or b"null"  # checked rows all have their text
        if current and (len(current) >= size or used + len(text) + 1 > max_bytes):
            yield Batch(index, current, b"[" + b",".join(parts) + b"]")
            index, current, parts, used = index + 1, [], [], 2
        current.append(row)
        parts.append(text)
        used += len(text) + 1
    if current:
        yield Batch(index, current, b"[" + b",".join(parts) + b"]")


async def send_batches(
    client: AsyncClient,
    batches: Iterable[Batch],
    options: ImportOptions,
    state: ImportState,
    progress: Progress,
) -> Outcome:
    """Run every batch not done yet, `options.concurrency` at once."""
    outcome = Outcome()
    slots = asyncio.Semaphore(options.concurrency)

    async def run(batch: Batch) -> None:
        try:
            done = await run_batch(client, batch, options, state)
        finally:
            slots.release()
        state.record_done(batch.index, done)
        count(outcome, done, progress)

    async with asyncio.TaskGroup() as tasks:
        for batch in batches:
            outcome.batches += 1
            earlier = state.done.get(batch.index)
            if earlier is not None:
                outcome.resumed += 1
                progress.sent(len(batch.rows))
                count(outcome, earlier, progress)
                continue
            await slots.acquire()
            progress.sent(len(batch.rows))
            tasks.create_task(run(batch))
    return outcome


def count(outcome: Outcome, done: DoneBatch, progress: Progress) -> None:
    outcome.applied += done.applied
    outcome.failures += done.failures
    progress.finished(done.applied, len(done.failures))


async def run_batch(
    client: AsyncClient, batch: Batch, options: ImportOptions, state: ImportState
) -> DoneBatch:
    """Send the batch (unless its operation is known) and wait until it has finished."""
    op_id = state.accepted.get(batch.index)
    if op_id is None:
        call = calls.write(
            VERB_OF_MODE[options.mode], "/imgs", batch.body, wait=True, urgent=options.urgent,
            strict=options.strict, subset=options.subset, lang=options.lang,
            idempotency_key=state.key_of(batch.index),
        )  # fmt: skip
        answer: Accepted | Operation = await client.send(call)
        if isinstance(answer, Accepted):  # past the server's wait limit: poll
            state.record_accepted(batch.index, answer.operation_id)
            answer = await client.wait_for(answer)
        operation = answer
    else:
        operation = await client.wait_for(op_id)
    return DoneBatch(operation.op_id, operation.num_good, failures_of(batch, operation, options))


def failures_of(batch: Batch, operation: Operation, options: ImportOptions) -> list[RowFailure]:
    """The batch's failed rows, by row number; under all-or-nothing, every row of a batch
    that failed (the others were not applied either)."""
    if not operation.errors:
        return []
    rows = {str(id_of(row)): row for row in batch.rows}
    failures: list[RowFailure] = []
    for error in operation.errors:
        if error.id is None:  # the whole operation failed (cancelled, internal error)
            return [RowFailure(id_of(row), row.number, error.msg) for row in batch.rows]
        row = rows.pop(str(error.id), None)
        failures.append(RowFailure(error.id, row.number if row else 0, error.msg))
    if not options.subset:
        failures += [
            RowFailure(id_of(row), row.number, ALL_OR_NOTHING_MSG) for row in rows.values()
        ]
    return sorted(failures, key=lambda failure: failure.row)

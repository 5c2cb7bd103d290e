"""The enqueuer's group commit, on both engines: the writes of one turn of the event loop in
one transaction, each answered with its own id after the commit, a bad write failing
alone, and one organisation's flood not holding back another's write."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pixsearch.db.dialect import dialect_of
from pixsearch.db.tables import operation_items, operations
from pixsearch.operations.enqueuer import Enqueuer
from pixsearch.vocabulary.operations import NewItem, NewOperation


def new(org_id: int, image_id: str) -> NewOperation:
    return NewOperation(org_id, "add", "add", [NewItem(image_id, image_id, {"title": image_id})])


def commits(engine: sa.Engine) -> list[int]:
    """A counter of the engine's commits, from now on."""
    seen = [0]

    def count(_conn: sa.Connection) -> None:
        seen[0] += 1

    sa.event.listen(engine, "commit", count)
    return seen


def stored(engine: sa.Engine) -> dict[int, tuple[int, str]]:
    """Every queued operation: id -> (organisation, its one image id)."""
    query = sa.select(operations.c.id, operations.c.org_id, operation_items.c.image_id).join(
        operation_items, operation_items.c.op_id == operations.c.id
    )
    with engine.connect() as conn:
        return {row.id: (row.org_id, row.image_id) for row in conn.execute(query)}


@pytest.fixture
def enqueuer(engine: sa.Engine) -> Iterator[Enqueuer]:
    with engine.connect() as conn:
        dialect = dialect_of(conn)
    made = Enqueuer(engine, dialect)
    yield made
    made.close()


def test_one_turn_of_writes_is_one_transaction_each_with_its_own_id(
    engine: sa.Engine, enqueuer: Enqueuer
) -> None:
    seen = commits(engine)

    async def run() -> list[int]:
        return await asyncio.gather(*(enqueuer.submit(new(1, f"i{n}")) for n in range(40)))

    ids = asyncio.run(run())
    assert seen[0] == 1  # every one of the 40 in one commit
    assert len(set(ids)) == 40
    assert stored(engine) == {op_id: (1, f"i{n}") for n, op_id in enumerate(ids)}


def test_a_failing_write_fails_alone(engine: sa.Engine, enqueuer: Enqueuer) -> None:
    async def run() -> list[int | BaseException]:
        writes = [new(1, "a"), new(99, "no such organisation"), new(2, "b")]
        return await asyncio.gather(*map(enqueuer.submit, writes), return_exceptions=True)

    first, bad, last = asyncio.run(run())
    assert isinstance(bad, sa.exc.IntegrityError)
    assert isinstance(first, int) and isinstance(last, int)
    assert stored(engine) == {first: (1, "a"), last: (2, "b")}


def test_a_flood_of_one_organisation_does_not_hold_back_another(
    engine: sa.Engine, enqueuer: Enqueuer
) -> None:
    """Writes are committed in the order they come: of acme's flood (50 writes always in
    flight), only those already sent are committed before globex's write; globex does not
    wait for the flood to end."""
    answered: list[int] = []
    done = asyncio.Event()

    async def acme(stream: int) -> None:
        n = 0
        while not done.is_set() or n < 5:
            answered.append(await enqueuer.submit(new(1, f"a{stream}-{n}")))
            n += 1

    async def run() -> tuple[int, int]:
        flood = [asyncio.create_task(acme(stream)) for stream in range(50)]
        while len(answered) < 500:
            await asyncio.sleep(0.001)
        before = len(answered)
        globex = await enqueuer.submit(new(2, "g"))
        done.set()
        await asyncio.gather(*flood)
        return before, globex

    before, globex = asyncio.run(run())
    ahead = sum(op_id < globex for op_id in answered)
    assert ahead <= before + 50  # the ones in flight when globex sent its write
    assert len(answered) - ahead >= 50  # acme's flood went on after globex was answered
    assert stored(engine)[globex] == (2, "g")

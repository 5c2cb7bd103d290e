"""The enqueuer's group commit, on both engines: the writes of one turn of the event loop in
one transaction, each answered with its own id after the commit, a bad write failing
alone, and one organisation's flood not holding back another's write. On SQLite, where
the event loop writes a group itself when it can: the loop never waits for the write
lock, the order of writes survives the hand-over to the thread, and the WAL that the
loop's commits leave is checkpointed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pixsearch.db.dialect import dialect_of
from pixsearch.db.engine import create_db_engine, writer
from pixsearch.db.tables import operation_items, operations
from pixsearch.operations import enqueuer as enqueuer_module
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


def sqlite_only(enqueuer: Enqueuer) -> None:
    if not enqueuer.dialect.commits_in_process:
        pytest.skip("PostgreSQL's enqueues are always the thread's: a commit is a round trip")


class LockHolder:
    """A transaction holding SQLite's write lock on a thread of its own, until released."""

    def __init__(self, engine: sa.Engine) -> None:
        self._held, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(engine,))
        self._thread.start()
        assert self._held.wait(10)

    def _hold(self, engine: sa.Engine) -> None:
        with writer(engine).begin():
            self._held.set()
            self._release.wait(10)

    def release(self) -> None:
        self._release.set()
        self._thread.join(10)


@pytest.mark.parametrize("holder", ["this process", "another process"])
def test_the_event_loop_never_waits_for_the_write_lock(
    engine: sa.Engine, enqueuer: Enqueuer, holder: str
) -> None:
    """While another connection writes, the loop hands its group to the thread and goes on:
    a connection of this process (the engine's own lock) or of another one (SQLite's lock
    alone, which a second engine stands for). Had the loop waited for the lock, its
    ticks would stop until the holder gave up, 10 s later."""
    sqlite_only(enqueuer)
    other = engine if holder == "this process" else create_db_engine(str(engine.url))
    lock = LockHolder(other)

    async def run() -> tuple[int, float]:
        write = asyncio.ensure_future(enqueuer.submit(new(1, "waits")))
        started = time.monotonic()
        for _ in range(20):
            await asyncio.sleep(0.005)
        ticking = time.monotonic() - started
        assert not write.done()  # the lock is still held
        lock.release()
        return await write, ticking

    op_id, ticking = asyncio.run(run())
    assert ticking < 2
    assert stored(engine) == {op_id: (1, "waits")}
    if other is not engine:
        other.dispose()


def test_a_write_after_one_waiting_in_the_thread_is_committed_after_it(
    engine: sa.Engine, enqueuer: Enqueuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`first` goes to the thread (the lock is held at its turn), and the thread is held
    before it writes; the lock is free when `second` comes, but the loop must not write
    it ahead of `first`."""
    sqlite_only(enqueuer)
    go = threading.Event()
    thread_write = enqueuer._write

    def held_write(group: list[enqueuer_module._Pending], *, retry: bool = True) -> None:
        assert go.wait(10)
        thread_write(group, retry=retry)

    monkeypatch.setattr(enqueuer, "_write", held_write)
    lock = LockHolder(engine)

    async def run() -> tuple[int, int]:
        first = asyncio.ensure_future(enqueuer.submit(new(1, "first")))
        await asyncio.sleep(0.05)  # its turn ended: it is the thread's now
        lock.release()
        second = asyncio.ensure_future(enqueuer.submit(new(1, "second")))
        await asyncio.sleep(0.05)
        go.set()
        return await first, await second

    first, second = asyncio.run(run())
    assert first < second


def test_the_wal_of_the_loops_commits_is_checkpointed(
    engine: sa.Engine, enqueuer: Enqueuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection never checkpoints; the thread does, every CHECKPOINT_EVERY of
    the loop's groups. Without that, 600 commits leave a WAL of about 13 MB, every frame
    kept, and it grows for as long as the service takes writes; with it, about 0.8 MB
    (more when a commit of the thread's overtakes a checkpoint, and the WAL starts over
    only at the next one)."""
    sqlite_only(enqueuer)
    monkeypatch.setattr(enqueuer_module, "CHECKPOINT_EVERY", 20)

    async def run() -> None:
        for n in range(600):  # one write per turn: 600 groups
            await enqueuer.submit(new(1, f"i{n}"))

    asyncio.run(run())
    wal = Path(f"{engine.url.database}-wal")
    assert len(stored(engine)) == 600
    assert wal.stat().st_size < 5_000_000

"""Every method of Client and AsyncClient against a real `pixsearch serve`, on both engines;
errors as exceptions; retries that never queue a second operation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from pixsearch.client import (
    Accepted,
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    ConnectionFailed,
    Image,
    NotFoundError,
    Operation,
    PayloadTooLargeError,
    SearchAnswer,
    ServerError,
    ValidationError,
)
from tests.client.conftest import Served
from tests.client.proxy import FlakyProxy
from tests.e2e.server import free_port
from tests.imageserver import ImageServer, make_jpeg

pytestmark = pytest.mark.e2e


@pytest.fixture
def org(served: Served) -> str:
    """A fresh organisation's key, so each test sees only its own images."""
    return served.new_key(f"org-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def picture(image_server: ImageServer) -> Callable[[int], str]:
    def url(seed: int) -> str:
        path = f"/client/{seed}.jpg"
        image_server.add(path, make_jpeg(40, 30, seed))
        return image_server.url(path)

    return url


def test_writes_reads_and_operations(
    served: Served, org: str, picture: Callable[[int], str]
) -> None:
    with Client(served.url, org) as client:
        assert client.health()["status"] == "ok"
        done = client.add("a", src=picture(1), title="Red car", keywords=["car"], wait=True)
        assert isinstance(done, Operation) and done.all_good and done.method == "add"
        image = client.get("a")
        assert isinstance(image, Image) and image.title == "Red car" and image.width == 40
        assert client.get("a", fields=["title"]).model_dump(exclude_none=True) == {
            "title": "Red car"
        }
        accepted = client.add_many(
            [{"id": n, "src": picture(n), "title": f"t{n}"} for n in range(2, 6)]
        )
        assert isinstance(accepted, Accepted) and accepted.n_total == 4
        finished = client.wait_for(accepted, timeout=60)
        assert finished.op_id == accepted.operation_id and finished.num_good == 4
        assert client.patch("a", title="Blue car", wait=True).all_good  # type: ignore[union-attr]
        client.patch_many([{"id": 2, "city": "Oslo"}, {"id": 3, "city": "Rome"}], wait=True)
        client.replace("4", src=picture(4), wait=True)
        client.replace_many([{"id": 5, "src": picture(5), "author": "Ann"}], wait=True)
        assert client.get(4).title is None and client.get(5).author == "Ann"
        answer = client.search("city=Oslo", facets=["city"])
        assert isinstance(answer, SearchAnswer) and answer.count == 1
        assert answer.results[0].image_id == "2"
        assert client.search(facets=["city"]).facets["city"][0].count == 1
        walked = [image.image_id for image in client.iter_search(sort_by="image_id", page_size=2)]
        assert walked == ["2", "3", "4", "5", "a"]
        client.delete("a", wait=True)
        client.delete_many([2, 3], wait=True)
        assert sorted(i.image_id or "" for i in client.iter_search()) == ["4", "5"]
        ops = client.operations(limit=2)
        assert len(ops) == 2 and ops[0].method == "del" and ops[0].op_id > ops[1].op_id
        every = list(client.iter_operations(page_size=3))
        assert len(every) == 8 and all(op.is_finished for op in every)
        assert [op.method for op in client.iter_operations(method="add")] == ["add", "add"]
        again = client.operation(done.op_id)
        assert again.model_dump(exclude={"idle_ms"}) == done.model_dump(exclude={"idle_ms"})


def test_cancel_a_queued_operation_and_conflict_once_started(
    served: Served, org: str, image_server: ImageServer
) -> None:
    with Client(served.url, org) as client:
        slow = client.add("slow", src=image_server.url("/slow?delay=1.5"))
        queued = client.patch("slow", title="later")
        assert isinstance(slow, Accepted) and isinstance(queued, Accepted)
        cancelled = client.cancel(queued.operation_id)
        assert cancelled.is_finished and cancelled.all_good is False
        assert cancelled.errors[0].msg == "cancelled"
        with pytest.raises(ConflictError) as conflict:
            client.cancel(queued.operation_id)
        assert conflict.value.status == 409 and "cannot be cancelled" in str(conflict.value)
        assert client.wait_for(slow, timeout=60).all_good


def test_errors_carry_the_servers_detail(served: Served, org: str) -> None:
    with Client(served.url, org) as client:
        with pytest.raises(NotFoundError) as missing:
            client.get("nope")
        assert "nope" in str(missing.value.detail)
        with pytest.raises(ValidationError) as invalid:
            client.add("x", src="ftp://example.com/a.jpg", colour="red")
        locs = sorted(tuple(error["loc"]) for error in invalid.value.errors)
        assert locs == [("body", "colour"), ("body", "src")]
        with pytest.raises(NotFoundError):
            client.operation(10**9)
        with pytest.raises(PayloadTooLargeError):  # the test server's limit is 1 MiB
            client.add_many([{"id": n, "src": "http://h.test/a", "caption": "x" * 20_000}
                             for n in range(60)])  # fmt: skip
        with pytest.raises(TimeoutError):
            client.wait_for(client.add("t", src="http://127.0.0.1:9/a"), timeout=0)
    with Client(served.url, "wrong-key") as stranger, pytest.raises(AuthenticationError):
        stranger.operations()
    down = Client(f"http://127.0.0.1:{free_port()}", org, retries=1, backoff_s=0.01)
    with down, pytest.raises(ConnectionFailed):
        down.health()


def test_a_write_whose_answer_is_lost_is_retried_without_a_second_operation(
    served: Served, org: str
) -> None:
    with FlakyProxy(served.url, drop_first=2) as proxy, Client(proxy.url, org) as client:
        answer = client.patch_many([{"id": "p", "title": "t"}])
        assert isinstance(answer, Accepted)
        assert proxy.requests == 3  # two answers lost, the third heard
        assert len(set(proxy.keys)) == 1 and proxy.keys[0]  # one key for every try
        assert [op.op_id for op in client.operations()] == [answer.operation_id]


def test_5xx_answers_are_retried_then_raised(served: Served, org: str) -> None:
    with (
        FlakyProxy(served.url, fail_first=2) as proxy,
        Client(proxy.url, org, backoff_s=0.01) as client,
    ):
        assert client.health()["status"] == "ok" and proxy.requests == 3
    with (
        FlakyProxy(served.url, fail_first=10) as proxy,
        Client(proxy.url, org, retries=2, backoff_s=0.01) as client,
    ):
        with pytest.raises(ServerError) as failed:
            client.patch("p", title="t")
        assert failed.value.status == 503 and proxy.requests == 3


def test_a_cancel_is_not_retried_once_it_may_have_reached_the_server(
    served: Served, org: str
) -> None:
    with (
        FlakyProxy(served.url, fail_first=1) as proxy,
        Client(proxy.url, org, backoff_s=0.01) as client,
    ):
        with pytest.raises(ServerError):
            client.cancel(1)
        assert proxy.requests == 1


async def test_async_client_has_every_method(
    served: Served, org: str, picture: Callable[[int], str], image_server: ImageServer
) -> None:
    async with AsyncClient(served.url, org) as client:
        assert (await client.health())["status"] == "ok"
        done = await client.add("a", src=picture(1), title="one", wait=True)
        assert isinstance(done, Operation) and done.all_good
        answers = await asyncio.gather(
            client.add_many([{"id": n, "src": picture(n)} for n in (2, 3)]),
            client.add(4, src=picture(4)),
        )
        for answer in answers:
            assert (await client.wait_for(answer, timeout=60)).all_good
        await client.replace_many([{"id": 4, "src": picture(4), "title": "cuatro"}], wait=True)
        assert (await client.get(4)).title == "cuatro"
        await client.patch("a", title="uno", wait=True)
        await client.patch_many([{"id": 2, "title": "dos"}], wait=True)
        await client.replace("3", src=picture(3), title="tres", wait=True)
        assert (await client.get("a")).title == "uno"
        assert (await client.search("title=dos")).results[0].image_id == "2"
        walked = [
            image.image_id async for image in client.iter_search(sort_by="image_id", page_size=3)
        ]
        assert walked == ["2", "3", "4", "a"]
        await client.delete("a", wait=True)
        await client.delete_many(["2", "3", "4"], wait=True)
        assert (await client.search()).count == 0
        ops = await client.operations(limit=100)
        listed = [op.op_id async for op in client.iter_operations(page_size=2)]
        assert listed == [op.op_id for op in ops] and len(listed) == 9
        assert (await client.operation(done.op_id)).op_id == done.op_id
        slow = await client.add("slow", src=image_server.url("/slow?delay=1.5"))
        queued = await client.patch("slow", title="later")
        assert isinstance(queued, Accepted)
        assert (await client.cancel(queued.operation_id)).errors[0].msg == "cancelled"
        assert (await client.wait_for(slow, timeout=60)).all_good
        with pytest.raises(NotFoundError):
            await client.get("nope")

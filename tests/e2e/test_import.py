"""`pixsearch import` and `pixsearch export` as a user runs them, against a real
`pixsearch serve` and loopback images: CSV and JSON Lines, --check, the failure report,
a kill -9 and a resume, a round trip, a folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixsearch.client import Client
from tests.client.conftest import Served, serve
from tests.client.proxy import FlakyProxy
from tests.imageserver import ImageServer, make_jpeg, make_png

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with serve(request, "sqlite", tmp_path_factory.mktemp("import")) as it:
        yield it


@pytest.fixture
def key(served: Served) -> str:
    return served.new_key(f"org-{uuid.uuid4().hex[:8]}")


def pixsearch(
    *args: str, url: str, key: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIXSEARCH_URL": url, "PIXSEARCH_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "pixsearch", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def start_import(*args: str, url: str, key: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PIXSEARCH_URL": url, "PIXSEARCH_API_KEY": key}
    return subprocess.Popen(
        [sys.executable, "-m", "pixsearch", "import", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def pictures(image_server: ImageServer, prefix: str, n: int) -> list[str]:
    urls = []
    for seed in range(n):
        path = f"/{prefix}/{seed}.jpg"
        image_server.add(path, make_jpeg(30 + seed, 20, seed))
        urls.append(image_server.url(path))
    return urls


def test_csv_import_loads_the_catalogue(
    served: Served, key: str, image_server: ImageServer, tmp_path: Path
) -> None:
    urls = pictures(image_server, "csv", 12)
    source = tmp_path / "catalogue.csv"
    source.write_text(
        "id,src,title,keywords,nsfw,date\n"
        + "".join(f"{n},{url},Title {n},red|car {n},{n % 2},2020-1-{n + 1}\n"
                  for n, url in enumerate(urls))
    )  # fmt: skip
    done = pixsearch(
        "import", str(source), "--batch-size", "5", "--concurrency", "2", url=served.url, key=key
    )
    assert done.returncode == 0, done.stderr
    assert "imported 12 rows in 3 batches: 12 applied, 0 failed" in done.stderr
    with Client(served.url, key) as client:
        for n in range(12):
            image = client.get(n)
            assert (image.title, image.keywords) == (f"Title {n}", ["red", f"car {n}"])
            assert image.nsfw is bool(n % 2) and image.date == f"2020-01-{n + 1:02d}"
            assert image.width == 30 + n
        assert len(client.operations()) == 3
    state = [
        json.loads(line)
        for line in (tmp_path / "catalogue.csv.import-state").read_text().splitlines()
    ]
    assert sorted(event["batch"] for event in state[1:] if event.get("done")) == [0, 1, 2]


def test_jsonl_from_standard_input_patches(
    served: Served, key: str, image_server: ImageServer, tmp_path: Path
) -> None:
    urls = pictures(image_server, "stdin", 3)
    with Client(served.url, key) as client:
        client.add_many([{"id": n, "src": url} for n, url in enumerate(urls)], wait=True)
    rows = "".join(json.dumps({"id": n, "title": f"patched {n}"}) + "\n" for n in range(3))
    done = pixsearch(
        "import", "-", "--mode", "patch", url=served.url, key=key, stdin=rows, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    with Client(served.url, key) as client:
        assert [client.get(n).title for n in range(3)] == ["patched 0", "patched 1", "patched 2"]
    assert list(tmp_path.iterdir()) == []  # standard input keeps no state file


def test_check_validates_every_row_and_sends_nothing(
    served: Served, key: str, tmp_path: Path
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(
        '{"id": "ok", "src": "http://127.0.0.1:9/a.jpg"}\n'
        '{"id": "no-src", "title": "t"}\n'
        '{"id": "ok", "src": "http://127.0.0.1:9/b.jpg"}\n'
        "not json\n"
    )
    report = tmp_path / "errors.jsonl"
    for extra in (["--check"], []):  # --check, and a real run, both stop before sending
        done = pixsearch(
            "import", str(source), "--errors", str(report), *extra, url=served.url, key=key
        )
        assert done.returncode == 1 and "checked 4 rows: 3 invalid" in done.stderr
        failures = [json.loads(line) for line in report.read_text().splitlines()]
        assert [(f["row"], f["id"]) for f in failures] == [(2, "no-src"), (3, "ok"), (4, None)]
        assert failures[0]["msg"] == "src: Field required"
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "ok", "src": "http://127.0.0.1:9/a.jpg"}\n')
    assert pixsearch("import", str(good), "--check", url=served.url, key=key).returncode == 0
    with Client(served.url, key) as client:
        assert client.operations() == []


@pytest.mark.parametrize("subset", [False, True])
def test_failure_report_names_each_failed_row(
    served: Served, key: str, image_server: ImageServer, tmp_path: Path, subset: bool
) -> None:
    urls = pictures(image_server, "fail", 6)
    urls[1] = urls[4] = image_server.url("/status/404")
    source = tmp_path / "c.jsonl"
    source.write_text(
        "".join(json.dumps({"id": f"i{n}", "src": u}) + "\n" for n, u in enumerate(urls))
    )
    report = tmp_path / "errors.jsonl"
    args = ["import", str(source), "--batch-size", "3", "--errors", str(report)]
    done = pixsearch(*args, *(["--subset"] if subset else []), url=served.url, key=key)
    assert done.returncode == 1
    failures = [json.loads(line) for line in report.read_text().splitlines()]
    if subset:
        assert [(f["id"], f["row"]) for f in failures] == [("i1", 2), ("i4", 5)]
        assert "applied 4" not in done.stderr and "4 applied, 2 failed" in done.stderr
    else:  # all or nothing: both batches fail whole
        assert [f["row"] for f in failures] == [1, 2, 3, 4, 5, 6]
        assert "0 applied, 6 failed" in done.stderr
    assert all("404" in f["msg"] for f in failures if f["id"] in ("i1", "i4"))
    with Client(served.url, key) as client:
        assert (client.search().count or 0) == (4 if subset else 0)


@pytest.mark.slow
def test_kill_9_mid_way_then_resume_gives_the_catalogue_and_no_extra_operation(
    served: Served, key: str, image_server: ImageServer, tmp_path: Path
) -> None:
    batches, per_batch = 24, 4
    source = tmp_path / "c.jsonl"
    with source.open("w") as out:
        for n in range(batches * per_batch):
            src = image_server.url(f"/slow?delay=0.3&n={n}")
            out.write(json.dumps({"id": f"k{n}", "src": src, "title": f"title {n}"}) + "\n")
    state = tmp_path / "c.jsonl.import-state"
    args = [str(source), "--batch-size", str(per_batch), "--concurrency", "2"]
    importer = start_import(*args, url=served.url, key=key)
    deadline = time.monotonic() + 60
    while not state.exists() or state.read_text().count('"done"') < 4:
        assert time.monotonic() < deadline and importer.poll() is None
        time.sleep(0.05)
    importer.send_signal(signal.SIGKILL)
    importer.communicate(timeout=10)
    done_before = state.read_text().count('"done"')
    assert done_before < batches
    with FlakyProxy(served.url) as proxy:
        resumed = pixsearch("import", *args, url=proxy.url, key=key)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done_before} done earlier" in resumed.stderr
    posts = [path for method, path in proxy.calls if method == "POST"]
    assert len(posts) == batches - done_before  # finished batches are never sent again
    with Client(served.url, key) as client:
        assert len(list(client.iter_operations())) == batches  # no extra operation
        images = {image.image_id: image.title for image in client.iter_search()}
    assert images == {f"k{n}": f"title {n}" for n in range(batches * per_batch)}


def test_export_then_import_gives_the_same_catalogue(
    served: Served, key: str, image_server: ImageServer, tmp_path: Path
) -> None:
    urls = pictures(image_server, "trip", 5)
    with Client(served.url, key) as client:
        client.add_many(
            [
                {"id": n, "src": url, "title": f"T{n}", "keywords": ["a", f"k{n}"],
                 "nsfw": n == 2, "date": "2021-02-03", "url_img_thumbnail": url, "city": "Oslo"}
                for n, url in enumerate(urls)
            ],
            wait=True,
        )  # fmt: skip
    first = tmp_path / "first.jsonl"
    assert pixsearch("export", "-o", str(first), url=served.url, key=key).returncode == 0
    assert len(first.read_text().splitlines()) == 5
    other = served.new_key(f"copy-{uuid.uuid4().hex[:8]}")
    loaded = pixsearch("import", str(first), url=served.url, key=other)
    assert loaded.returncode == 0, loaded.stderr
    second = pixsearch("export", url=served.url, key=other)
    assert second.stdout == first.read_text() and "exported 5 images" in second.stderr
    with Client(served.url, other) as client:
        assert client.get(3).width == 33  # the pixels were analysed again from src
    some = pixsearch("export", "--q", "nsfw=true", "--fields", "title", url=served.url, key=key)
    assert some.stdout == '{"id": "2", "title": "T2"}\n'


def test_folder_import_makes_one_row_per_image(
    served: Served, key: str, image_server: ImageServer, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    files = {"a.jpg": make_jpeg(40, 20, 1), "sub/b.png": make_png(20, 40, 2)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        image_server.add(f"/photos/{name}", data)
    (folder / "readme.txt").write_text("not an image")
    args = ["import", "--folder", str(folder), "--base-url", image_server.url("/photos")]
    done = pixsearch(*args, url=served.url, key=key)
    assert done.returncode == 0, done.stderr
    with Client(served.url, key) as client:
        a, b = client.get("a.jpg"), client.get("sub__b.png")
    assert (a.width, a.src) == (40, image_server.url("/photos/a.jpg"))
    assert (b.orientation, b.src) == ("portrait", image_server.url("/photos/sub/b.png"))
    assert (tmp_path / "photos.import-state").exists()

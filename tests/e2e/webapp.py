"""The web app's test catalogue: real clothing photos served on loopback, a real
`pixsearch serve` with a tiny CLIP model (so that "similar images" runs), and a key."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import SHARED
from tests.e2e.server import ServerProcess, cli
from tests.imageserver import ImageServer
from tests.runtimes.tinymodels import build_tiny_clip

CLOTHING = SHARED / "data" / "clothing"
COUNTRIES = ("France", "Japan", "Brazil")


@dataclass
class Photo:
    label: str
    n: int  # its number among the photos of its label, from 1
    path: Path
    url: str = ""

    @property
    def image_id(self) -> str:
        return f"{self.label}-{self.n}"

    def body(self) -> dict[str, Any]:
        return {
            "id": self.image_id,
            "src": self.url,
            "title": f"{self.label.title()} {self.n}",
            "alt_text": f"a photo of a {self.label}",
            "keywords": [self.label, "clothing"],
            "country": COUNTRIES[self.n % len(COUNTRIES)],
        }


@dataclass
class Catalogue:
    server: ServerProcess
    key: str
    photos: list[Photo]  # in the catalogue
    spare: list[Photo] = field(default_factory=list)  # served, not added

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"API-Key": self.key, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 60)
        return httpx.request(method, self.server.url + path, headers=headers, **kwargs)


def clothing_photos(per_label: int) -> list[Photo]:
    """`per_label` photos of each of the ten labels, in a fixed order."""
    seen: dict[str, int] = {}
    photos = []
    with (CLOTHING / "labels.csv").open() as rows:
        for row in csv.DictReader(rows):
            n = seen.get(row["label"], 0)
            if n < per_label:
                seen[row["label"]] = n + 1
                photos.append(Photo(row["label"], n + 1, CLOTHING / row["path"]))
    return photos


def tiny_clip(directory: Path) -> Path:
    """A tiny CLIP whose `~` threshold lets every image through (`i~` ranks them all)."""
    path = build_tiny_clip(directory / "tiny-clip")
    config = json.loads((path / "config.json").read_text())
    config["image_thresholds"] = {"~": -1.0, "~~": 0.5, "~~~": 0.9}
    (path / "config.json").write_text(json.dumps(config))
    return path


def start_catalogue(data_dir: Path, images: ImageServer, per_label: int = 3) -> Catalogue:
    """Serve the photos, start the service and add `per_label` of each label (30 photos);
    one more of each is served but not added (spare)."""
    photos = clothing_photos(per_label + 1)
    for photo in photos:
        served = f"/clothing/{photo.image_id}.jpg"
        images.add(served, photo.path.read_bytes())
        photo.url = images.url(served)
    key = cli(data_dir, "keys", "create", "--org", "web").strip().splitlines()[-1].split()[-1]
    clip = tiny_clip(data_dir)
    server = ServerProcess(data_dir, PIXSEARCH_CLIP_MODEL=str(clip)).start(timeout_s=60)
    added = [photo for photo in photos if photo.n <= per_label]
    spare = [photo for photo in photos if photo.n > per_label]
    catalogue = Catalogue(server, key, added, spare)
    body = [photo.body() for photo in catalogue.photos]
    try:
        answer = catalogue.api("POST", "/imgs", params={"wait": "true"}, json=body, timeout=120)
        assert answer.status_code == 200 and answer.json()["all_good"], answer.text
    except BaseException:
        server.stop()
        raise
    return catalogue

"""Semantic caption search quality: nDCG@10 of `t~` with and without caption embeddings.

About 30 photos per class of ../shared/data/clothing (290 in all) get catalogue captions
written from their class label: each image draws a product type within its class (jeans,
chinos, joggers... for `pants`), a colour and a detail, and one of several templates that
name them with synonyms ("trousers", "dark blue", "trainers"), so that full-text word
overlap with a query is imperfect. The product type and colour are drawn at random, not
read from the photo; with CLIP off, `t~` never looks at the pixels, so this measures the
text legs only.

The photos are served from a loopback image server and ingested in-process (SQLite file,
faces off, CLIP off) with the real sentence model of ../shared/models/all-MiniLM-L6-v2.
Then the same database is searched by two apps: (a) `text_model` empty, so `t~` is BM25
full text alone, and (b) the sentence model on, so `t~` fuses full text and caption
embeddings by reciprocal rank fusion. Each query names its relevant images by label:
grade 2 for an exact match (product type, or class and colour), grade 1 for a partial one
(same class, a neighbouring type). A query is "overlap" when one of its words (stop words
left out, as full text leaves them out) occurs in some caption, "paraphrase" when none does.

    .venv/bin/python -m bench.captions [--per-class 30] [--seed 0] [--op "~"] [--show 0]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from pixsearch.app import create_app
from pixsearch.index.fulltext import STOPWORDS, query_terms
from pixsearch.vocabulary.text import fold
from tests.conftest import Api, add_key, make_settings
from tests.imageserver import ImageServer

SHARED = Path(__file__).resolve().parents[2] / "shared"
CLOTHING = SHARED / "data" / "clothing"
MINILM = SHARED / "models" / "all-MiniLM-L6-v2"

# Product types per class, each with the nouns a catalogue might use for it.
TYPES: dict[str, dict[str, list[str]]] = {
    "dress": {
        "sundress": ["sundress", "strappy summer dress"],
        "gown": ["evening gown", "maxi gown"],
        "wrap": ["wrap dress", "tie-waist dress"],
        "shift": ["shift dress", "midi dress"],
    },
    "hat": {
        "cap": ["baseball cap", "snapback cap"],
        "beanie": ["beanie", "knit hat"],
        "bucket": ["bucket hat", "sun hat"],
        "fedora": ["fedora", "trilby"],
    },
    "longsleeve": {
        "sweater": ["sweater", "knitted jumper", "pullover"],
        "tee": ["long-sleeve tee", "long-sleeved top"],
        "henley": ["henley", "long-sleeve henley"],
        "sweatshirt": ["sweatshirt", "crewneck sweatshirt"],
    },
    "outwear": {
        "parka": ["parka", "padded parka"],
        "puffer": ["puffer jacket", "quilted down jacket"],
        "windbreaker": ["windbreaker", "rain shell"],
        "denim": ["denim jacket", "jean jacket"],
        "blazer": ["blazer", "tailored jacket"],
    },
    "pants": {
        "jeans": ["jeans", "denim trousers"],
        "chinos": ["chinos", "cotton trousers"],
        "joggers": ["joggers", "track pants"],
        "slacks": ["slacks", "pleated trousers"],
    },
    "shirt": {
        "oxford": ["oxford shirt", "button-down"],
        "flannel": ["flannel shirt", "checked shirt"],
        "dress": ["dress shirt", "poplin shirt"],
        "linen": ["linen shirt", "camp-collar shirt"],
    },
    "shoes": {
        "running": ["running shoes", "runners"],
        "sneakers": ["sneakers", "trainers"],
        "boots": ["leather boots", "ankle boots"],
        "loafers": ["loafers", "penny loafers"],
        "sandals": ["sandals", "slides"],
    },
    "shorts": {
        "denim": ["denim shorts", "cut-offs"],
        "chino": ["chino shorts", "bermudas"],
        "athletic": ["athletic shorts", "training shorts"],
    },
    "skirt": {
        "pleated": ["pleated skirt", "midi skirt"],
        "mini": ["mini skirt", "A-line skirt"],
        "pencil": ["pencil skirt", "fitted skirt"],
    },
    "t-shirt": {
        "crew": ["t-shirt", "crew-neck tee"],
        "graphic": ["graphic tee", "printed t-shirt"],
        "vneck": ["v-neck tee", "v-neck t-shirt"],
    },
}
COLOURS: dict[str, list[str]] = {
    "black": ["black", "jet black"],
    "white": ["white", "off-white"],
    "navy": ["navy", "dark blue"],
    "red": ["red", "burgundy"],
    "grey": ["grey", "heather grey"],
    "beige": ["beige", "camel"],
    "green": ["olive", "khaki green"],
    "blue": ["blue", "light blue"],
}
DETAILS: dict[str, list[str]] = {
    "dress": ["flattering fit", "side zip", "lined bodice"],
    "hat": ["adjustable strap", "one size", "soft brim"],
    "longsleeve": ["ribbed cuffs", "relaxed fit", "soft cotton blend"],
    "outwear": ["zip front", "two side pockets", "hood"],
    "pants": ["regular fit", "belt loops", "tapered leg"],
    "shirt": ["chest pocket", "slim fit", "mother-of-pearl buttons"],
    "shoes": ["rubber sole", "lace-up", "cushioned insole"],
    "shorts": ["elastic waist", "side pockets", "mid-thigh length"],
    "skirt": ["high waist", "concealed zip", "lined"],
    "t-shirt": ["cotton jersey", "regular fit", "ribbed neckline"],
}
TEMPLATES = [
    ("{Colour} {noun}", "{Colour} {noun} with {detail}."),
    ("{Noun}, {colour}", "A {colour} {noun}; {detail}."),
    ("The {noun}", "Our {noun} in {colour}, {detail}."),
    ("{Noun}", "{Detail}. This {noun} comes in {colour}."),
    ("{Colour} {noun}", "Everyday {noun}, {colour}, with {detail}."),
]


@dataclass(frozen=True)
class Item:
    """One catalogue photo: its file, label, drawn product type and colour, and texts."""

    path: Path
    label: str
    kind: str
    colour: str
    title: str
    caption: str


@dataclass(frozen=True)
class Query:
    """A query and its graded judgements: `exact` grade 2, `partial` grade 1.

    A judgement is `label`, `label/kind` or `label:colour`.
    """

    text: str
    exact: tuple[str, ...]
    partial: tuple[str, ...] = ()

    def grade(self, item: Item) -> int:
        keys = {item.label, f"{item.label}/{item.kind}", f"{item.label}:{item.colour}"}
        return 2 if keys & set(self.exact) else 1 if keys & set(self.partial) else 0


QUERIES = [
    # Written with the catalogue's words in mind.
    Query("black dress", ("dress:black",), ("dress",)),
    Query("running shoes", ("shoes/running",), ("shoes/sneakers",)),
    Query("jeans", ("pants/jeans",), ("shorts/denim", "pants")),
    Query("baseball cap", ("hat/cap",), ("hat",)),
    Query("white t-shirt", ("t-shirt:white",), ("t-shirt",)),
    Query("denim shorts", ("shorts/denim",), ("shorts", "pants/jeans")),
    Query("pleated skirt", ("skirt/pleated",), ("skirt",)),
    Query("winter coat", ("outwear/parka", "outwear/puffer"), ("outwear",)),
    Query("long sleeve top", ("longsleeve",), ("shirt",)),
    Query("leather boots", ("shoes/boots",), ("shoes",)),
    Query("button-down shirt", ("shirt/oxford",), ("shirt",)),
    Query("beanie", ("hat/beanie",), ("hat",)),
    Query("navy trousers", ("pants:navy",), ("pants",)),
    Query("sweater", ("longsleeve/sweater",), ("longsleeve/sweatshirt",)),
    Query("sandals for the beach", ("shoes/sandals",), ("shoes",)),
    Query("summer dress", ("dress/sundress",), ("dress",)),
    Query("rain jacket", ("outwear/windbreaker",), ("outwear",)),
    Query("grey sweatshirt", ("longsleeve/sweatshirt",), ("longsleeve:grey",)),
    Query("red skirt", ("skirt:red",), ("skirt",)),
    Query("flannel shirt", ("shirt/flannel",), ("shirt",)),
    Query("trainers", ("shoes/sneakers", "shoes/running"), ("shoes",)),
    Query("chinos", ("pants/chinos",), ("shorts/chino", "pants")),
    # Written to share no word with any caption (checked at run time).
    Query("footwear for jogging", ("shoes/running",), ("shoes/sneakers",)),
    Query("something to keep my head warm", ("hat/beanie",), ("hat",)),
    Query("protection from downpours", ("outwear/windbreaker", "outwear/parka"), ("outwear",)),
    Query("elegant attire for a gala night", ("dress/gown",), ("dress",)),
    Query("what to put on my feet", ("shoes",)),
    Query("headwear to block the sun", ("hat/bucket",), ("hat",)),
    Query("cosy knitwear", ("longsleeve/sweater",), ("hat/beanie", "longsleeve")),
    Query("footwear for hiking", ("shoes/boots",), ("shoes",)),
    Query("bottoms for a workout", ("shorts/athletic", "pants/joggers"), ("shorts", "pants")),
    Query("outerwear for snowy days", ("outwear/parka", "outwear/puffer"), ("outwear",)),
    Query("trousers for jogging", ("pants/joggers",), ("shorts/athletic",)),
    Query("womenswear one-piece", ("dress",), ("skirt",)),
    Query("casual tops", ("t-shirt",), ("longsleeve", "shirt")),
    Query("crimson frock", ("dress:red",), ("dress",)),
    Query("formal office wear", ("shirt/dress", "pants/slacks", "outwear/blazer"), ("shirt",)),
    Query("gym clothing", ("shorts/athletic", "pants/joggers", "shoes/running"), ()),
    Query("headgear", ("hat",)),
    Query("a sporty peak to shade the eyes", ("hat/cap",), ("hat",)),
    Query("checked plaid", ("shirt/flannel",), ()),
    Query("thing to wear below the waist", ("pants", "shorts", "skirt")),
    Query("attire for a heatwave", ("shorts", "dress/sundress"), ("t-shirt", "shoes/sandals")),
    Query("sleek moccasins", ("shoes/loafers",), ("shoes",)),
]


def dcg(grades: Sequence[int]) -> float:
    """Discounted cumulative gain with exponential gain: sum (2^g - 1) / log2(rank + 1)."""
    return sum((2**g - 1) / math.log2(rank + 2) for rank, g in enumerate(grades))


def ndcg_at(ranked: Sequence[int], judged: Sequence[int], k: int = 10) -> float:
    """nDCG@k of the grades `ranked` (in result order), against all grades `judged`.

    Hand-checked: results graded [2, 0, 1] with relevant grades {2, 1, 1} in the collection:
    DCG = 3/1 + 0 + 1/2 = 3.5; ideal = 3/1 + 1/log2(3) + 1/2 = 4.1309; nDCG = 0.8473.
    """
    ideal = dcg(sorted(judged, reverse=True)[:k])
    return dcg(ranked[:k]) / ideal if ideal else 0.0


def recall_at(ranked: Sequence[int], judged: Sequence[int], k: int = 10) -> float:
    """Exact (grade 2) matches in the top k, over min(k, number of exact matches)."""
    exact = sum(1 for g in judged if g == 2)
    return sum(1 for g in ranked[:k] if g == 2) / min(k, exact) if exact else 0.0


assert abs(ndcg_at([2, 0, 1], [2, 1, 1, 0, 0]) - 0.8473) < 1e-4
assert recall_at([2, 0, 1, 2], [2, 2, 2, 1], k=2) == 0.5


def write_caption(rng: random.Random, label: str, kind: str, colour: str) -> tuple[str, str]:
    """A title and a caption for one product, from a random template and synonyms."""
    noun = rng.choice(TYPES[label][kind])
    colour_word = rng.choice(COLOURS[colour])
    detail = rng.choice(DETAILS[label])
    title, caption = rng.choice(TEMPLATES)
    values = {"noun": noun, "colour": colour_word, "detail": detail}
    values |= {name.capitalize(): value[0].upper() + value[1:] for name, value in values.items()}
    return title.format(**values), caption.format(**values)


def load_items(per_class: int, seed: int = 0) -> list[Item]:
    """Up to `per_class` photos of each class, with drawn types, colours and captions."""
    rng = random.Random(seed)
    with (CLOTHING / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    items = []
    for label in TYPES:
        paths = [row["path"] for row in rows if row["label"] == label][:per_class]
        for path in paths:
            kind, colour = rng.choice(list(TYPES[label])), rng.choice(list(COLOURS))
            title, caption = write_caption(rng, label, kind, colour)
            items.append(Item(CLOTHING / path, label, kind, colour, title, caption))
    return items


def caption_words(items: Sequence[Item]) -> set[str]:
    return {
        fold(w) for item in items for w in re.findall(r"[^\W_]+", item.title + " " + item.caption)
    }


def shares_words(query: Query, vocabulary: set[str]) -> bool:
    terms = {fold(t) for t in query_terms(query.text, "en")} - STOPWORDS["en"]
    return bool(terms & vocabulary)


def ingest(api: Api, server: ImageServer, items: Sequence[Item]) -> None:
    batch = []
    for i, item in enumerate(items):
        path = f"/clothing/{i}.jpg"
        server.add(path, item.path.read_bytes())
        batch.append(
            {"id": f"c{i}", "src": server.url(path), "title": item.title, "caption": item.caption}
        )
    op = api.post("/imgs?wait=true", json=batch).json()
    assert op["all_good"], op.get("errors", op)[:3]


def search(api: Api, text: str, op: str) -> list[str]:
    params = {"q": f"t{op}{text}", "limit": 10, "sort_by": "similarity", "count": "false"}
    answer = api.get("/imgs", params=params)
    assert answer.status_code == 200, answer.text
    return [result["image_id"] for result in answer.json()["results"]]


def evaluate(api: Api, items: Sequence[Item], op: str, show: int) -> list[tuple[float, float]]:
    """(nDCG@10, recall@10) of every query, in QUERIES order."""
    by_id = {f"c{i}": item for i, item in enumerate(items)}
    out = []
    for query in QUERIES:
        found = search(api, query.text, op)
        ranked = [query.grade(by_id[image_id]) for image_id in found]
        judged = [query.grade(item) for item in items]
        out.append((ndcg_at(ranked, judged), recall_at(ranked, judged)))
        for image_id in found[:show]:
            print(f"      {query.text!r}: {by_id[image_id].caption}")
    return out


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def report(items: Sequence[Item], runs: dict[str, list[tuple[float, float]]]) -> None:
    vocabulary = caption_words(items)
    kinds = ["overlap" if shares_words(q, vocabulary) else "paraphrase" for q in QUERIES]
    names = list(runs)
    header = "".join(f"  {name:>22}" for name in names)
    print(f"\n  {'query':40} {'kind':10}{header}")
    print(f"  {'':40} {'':10}" + "".join(f"  {'nDCG@10':>11}{'R@10':>11}" for _ in names))
    for i, query in enumerate(QUERIES):
        cells = "".join(f"  {runs[n][i][0]:11.3f}{runs[n][i][1]:11.3f}" for n in names)
        print(f"  {query.text[:40]:40} {kinds[i]:10}{cells}")
    print()
    for kind in ("overlap", "paraphrase", "all"):
        picked = [i for i, k in enumerate(kinds) if kind in ("all", k)]
        cells = "".join(
            f"  {mean([runs[n][i][0] for i in picked]):11.3f}"
            f"{mean([runs[n][i][1] for i in picked]):11.3f}"
            for n in names
        )
        print(f"  {'mean, ' + kind + f' ({len(picked)} queries)':51}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-class", type=int, default=30, help="photos per class")
    parser.add_argument("--seed", type=int, default=0, help="draw of types, colours, templates")
    parser.add_argument("--op", default="~", choices=["~", "~~", "~~~"], help="t operator")
    parser.add_argument("--show", type=int, default=0, help="print top captions per query")
    parser.add_argument("--model", default=str(MINILM), help="sentence model directory")
    args = parser.parse_args()
    items = load_items(args.per_class, args.seed)
    with tempfile.TemporaryDirectory(prefix="pixsearch-captions-") as work:
        runs = measure(items, Path(work), args.model, args.op, args.show)
    print(
        f"t{args.op} over {len(items)} captioned photos, {len(QUERIES)} queries; "
        f"model {Path(args.model).name}"
    )
    report(items, runs)


def measure(
    items: Sequence[Item], work: Path, model: str, op: str, show: int
) -> dict[str, list[tuple[float, float]]]:
    """Ingest with the sentence model, then evaluate with it and without it."""
    with_model = make_settings(work, text_model=model, wait_timeout_s=600)
    without = make_settings(work, text_model="", wait_timeout_s=600)
    key = add_key(with_model, "bench")
    runs: dict[str, list[tuple[float, float]]] = {}
    with ImageServer() as server, TestClient(create_app(with_model)) as client:
        api = Api(client, key)
        started = time.perf_counter()
        ingest(api, server, items)
        print(
            f"ingested {len(items)} photos with captions in {time.perf_counter() - started:.1f} s"
        )
        runs["full text + captions"] = evaluate(api, items, op, show)
    with TestClient(create_app(without)) as client:
        runs["full text only"] = evaluate(Api(client, key), items, op, show)
    return {"full text only": runs["full text only"], **runs}


if __name__ == "__main__":
    main()

"""Generated keywords (`tags`) from the classifier's probabilities, WordNet and a word table.

ImageNet class *i* is the WordNet 3.0 noun synset `sorted(wnids)[i]`; `data/
imagenet_wnids.txt` lists them in class order (a test checks each against the class names
and WordNet). WordNet comes from Debian's `wordnet-base` (`/usr/share/wordnet`, WordNet
licence): `data.noun` is read by byte offset, which WordNet's synset ids are, so only the
synsets on the paths from the 1000 classes to the root are ever read.

A tag is a synset: an ImageNet class the image shows with probability `CLASS_MIN` or more,
or one of its WordNet parents that is in the word table, `data/tag_words.tsv`, with the
summed probability of every class under it `PARENT_MIN` or more (so "footwear" is certain
when the network hesitates between a loafer and a clog). Parents not in the table are the
generic and the taxonomic words (entity, artifact, placental, chordate, ...) and are never
tags. The table gives each tag in en, es, pt, fr and ru; a class it lacks keeps its
English ImageNet name in every language.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

LANGUAGES = ("en", "es", "pt", "fr", "ru")
DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
CLASS_MIN = 0.30
PARENT_MIN = 0.50
MAX_TAGS = 12
REPEAT_STEP = 0.3  # a tag's words are indexed once more per this much probability
HYPERNYMS = ("@", "@i")  # hypernym and instance hypernym pointers


class TaggerUnavailable(RuntimeError):
    """WordNet or the word table is missing; the message says what to install."""


@dataclass(frozen=True)
class TagWord:
    """One tag of the table: its synset id and its word in each language."""

    synset: str
    words: dict[str, str]


def read_tag_words() -> dict[str, TagWord]:
    """The word table, by synset id (`n` and the 8-digit WordNet offset)."""
    text = files("pixsearch.runtimes").joinpath("data/tag_words.tsv").read_text(encoding="utf-8")
    table: dict[str, TagWord] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        synset, *words = line.split("\t")
        table[synset] = TagWord(synset, dict(zip(LANGUAGES, words, strict=True)))
    return table


def read_imagenet_wnids() -> list[str]:
    """The synset id of each ImageNet class, in class order."""
    text = files("pixsearch.runtimes").joinpath("data/imagenet_wnids.txt").read_text("utf-8")
    return text.split()


class WordNet:
    """WordNet 3.0 noun synsets, read from `data.noun` by offset."""

    def __init__(self, directory: Path) -> None:
        self.data = directory / "data.noun"
        if not self.data.is_file():
            raise TaggerUnavailable(
                f"{self.data} not found: install WordNet (Debian: `apt-get install wordnet-base`)"
                " or set PIXSEARCH_WORDNET_DIR"
            )

    def read(self, synsets: list[str]) -> dict[str, tuple[list[str], list[str]]]:
        """Each synset's words and its hypernyms' ids, for `synsets` and all their parents."""
        found: dict[str, tuple[list[str], list[str]]] = {}
        todo = list(synsets)
        with self.data.open("rb") as file:
            while todo:
                synset = todo.pop()
                if synset in found:
                    continue
                file.seek(int(synset[1:]))
                found[synset] = parse_synset(file.readline().decode("utf-8"))
                todo.extend(found[synset][1])
        return found


def parse_synset(line: str) -> tuple[list[str], list[str]]:
    """The words and hypernym ids of one `data.noun` line (wndb(5WN))."""
    fields = line.split(" | ", 1)[0].split()
    count = int(fields[3], 16)
    words = [fields[4 + 2 * index].replace("_", " ") for index in range(count)]
    at = 4 + 2 * count
    pointers = int(fields[at])
    parents = []
    for index in range(pointers):
        symbol, offset, pos = fields[at + 1 + 4 * index : at + 4 + 4 * index]
        if symbol in HYPERNYMS and pos == "n":
            parents.append("n" + offset)
    return words, parents


class Tagger:
    """Turns class probabilities into tag synsets, and tag synsets into words."""

    def __init__(self, wordnet_dir: Path, class_names: list[str]) -> None:
        self.wordnet = WordNet(wordnet_dir)
        self.class_names = class_names
        self.words = read_tag_words()
        self.wnids = read_imagenet_wnids()
        if len(self.wnids) != len(class_names):
            raise TaggerUnavailable(f"{len(self.wnids)} synsets for {len(class_names)} classes")
        self._lock = threading.Lock()
        self._parents: list[str] | None = None
        self._membership: NDArray[np.float32] | None = None
        self._lemmas: dict[str, list[str]] = {}

    def load(self) -> None:
        """Read the WordNet paths of every class, once: which table parents each class has."""
        with self._lock:
            if self._membership is not None:
                return
            synsets = self.wordnet.read(self.wnids)
            parents = sorted({s for s in synsets if s in self.words} - set(self.wnids))
            column = {synset: index for index, synset in enumerate(parents)}
            membership = np.zeros((len(self.wnids), len(parents)), dtype=np.float32)
            for index, wnid in enumerate(self.wnids):
                for ancestor in ancestors(wnid, synsets):
                    if ancestor in column:
                        membership[index, column[ancestor]] = 1.0
            self._lemmas = {synset: words for synset, (words, _) in synsets.items()}
            self._parents, self._membership = parents, membership

    def tag(self, probabilities: NDArray[np.float32]) -> list[str]:
        """The tag synsets of one image, most probable first, at most MAX_TAGS."""
        return [synset for synset, _ in self.scored(probabilities)]

    def scored(self, probabilities: NDArray[np.float32]) -> list[tuple[str, float]]:
        """The tag synsets of one image with their probabilities, most probable first."""
        self.load()
        assert self._membership is not None and self._parents is not None
        # (score, 0 for a class and 1 for a parent, synset): on a tie the specific word first.
        scored = [
            (float(probabilities[index]), 0, self.wnids[index])
            for index in np.flatnonzero(probabilities >= CLASS_MIN)
        ]
        parent_scores = probabilities @ self._membership
        scored += [
            (float(parent_scores[index]), 1, self._parents[index])
            for index in np.flatnonzero(parent_scores >= PARENT_MIN)
        ]
        scored.sort(key=lambda entry: (-round(entry[0], 4), entry[1], entry[2]))
        return [(synset, score) for score, _, synset in scored[:MAX_TAGS]]

    def words_of(self, synsets: list[str], lang: str) -> list[str]:
        """The tags as words of `lang`, English where the table has no translation."""
        words = [self.word(synset, lang) for synset in synsets]
        return list(dict.fromkeys(words))

    def search_text(self, scored: list[tuple[str, float]], lang: str) -> str:
        """What full-text search indexes for the tags: each word and its plural forms, and
        in English every WordNet synonym too (`pants` finds the tag `trousers`).

        A tag's words are written once per `REPEAT_STEP` of its probability (1 to 4 times):
        ranking by term frequency (BM25, cover density) then puts the images that surely
        show a thing before those that perhaps do.
        """
        self.load()
        lines = []
        for synset, score in scored:
            words = [self.word(synset, lang)]
            if lang == "en":
                words += list(self._lemmas.get(synset, ()))
            forms = [
                form for word in words for part in word.split() for form in inflect(part, lang)
            ]
            lines += [" ".join(dict.fromkeys(forms))] * (1 + int(score / REPEAT_STEP))
        return "\n".join(lines)

    def word(self, synset: str, lang: str) -> str:
        entry = self.words.get(synset)
        if entry is not None:
            return entry.words[lang]
        if synset in self.wnids:
            return self.class_names[self.wnids.index(synset)].split(",")[0].strip()
        return synset


def ancestors(synset: str, synsets: dict[str, tuple[list[str], list[str]]]) -> set[str]:
    """Every synset above `synset` (not itself), along every hypernym path."""
    seen: set[str] = set()
    todo = list(synsets[synset][1])
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo.extend(synsets[parent][1])
    return seen


def inflect(word: str, lang: str) -> list[str]:
    """The word and its likely plural forms in `lang`, by the regular rules.

    Generous on purpose: a form that does not exist only costs an index entry, while a
    missing one loses the search `shoes` for the tag `shoe`.
    """
    word = word.lower()
    forms = [word]
    if lang in ("en", "es", "pt", "fr"):
        forms += [word + "s", word + "es"]
    if lang == "en" and word.endswith("y"):
        forms.append(word[:-1] + "ies")
    if lang == "es" and word.endswith("z"):
        forms.append(word[:-1] + "ces")
    if lang == "pt":
        forms += [word[:-1] + "ns"] if word.endswith("m") else []
        forms += [word[:-2] + "ões", word[:-2] + "ães"] if word.endswith("ão") else []
        forms += [word[:-1] + "is"] if word.endswith("l") else []
    if lang == "fr":
        forms += [word + "x"] + ([word[:-2] + "aux"] if word.endswith("al") else [])
    if lang == "ru":
        forms += russian_plurals(word)
    return forms


def russian_plurals(word: str) -> list[str]:
    """Nominative plurals of a Russian noun or adjective, by its ending."""
    if word.endswith(("ый", "ой", "ий")):
        return [word[:-2] + "ые", word[:-2] + "ие"]
    if word.endswith(("ая", "яя")):
        return [word[:-2] + "ые", word[:-2] + "ие"]
    if word.endswith(("ое", "ее")):
        return [word[:-2] + "ые", word[:-2] + "ие"]
    if word.endswith(("а", "я", "ь", "й")):
        return [word[:-1] + "ы", word[:-1] + "и"]
    if word.endswith(("о", "е")):
        return [word[:-1] + "а", word[:-1] + "я"]
    return [word + "ы", word + "и"]

"""Tags: ImageNet classes as WordNet synsets, their parents from the word table, in 5 languages."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pixsearch.runtimes.efficientnet import EfficientNetLite
from pixsearch.runtimes.tagger import (
    CLASS_MIN,
    DEFAULT_WORDNET_DIR,
    LANGUAGES,
    Tagger,
    TaggerUnavailable,
    WordNet,
    inflect,
    read_imagenet_wnids,
    read_tag_words,
)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(DEFAULT_WORDNET_DIR, EfficientNetLite().labels)


def lemmas(wordnet: WordNet, synset: str) -> list[str]:
    return [re.sub(r"\(.*\)$", "", w).lower() for w in wordnet.read([synset])[synset][0]]


def test_class_i_is_the_ith_sorted_wnid_and_names_the_same_synset(tagger: Tagger) -> None:
    wnids = read_imagenet_wnids()
    assert len(wnids) == 1000 and wnids == sorted(set(wnids))
    assert wnids[0] == "n01440764" and wnids[999] == "n15075141"  # tench, toilet tissue
    for wnid, label in zip(wnids, tagger.class_names, strict=True):
        assert lemmas(tagger.wordnet, wnid) == [part.strip().lower() for part in label.split(",")]


def test_every_table_entry_is_a_class_or_a_parent_and_fully_translated(tagger: Tagger) -> None:
    tagger.load()
    table = read_tag_words()
    reachable = set(tagger.wnids) | set(tagger._parents or [])
    for synset, entry in table.items():
        assert synset in reachable, synset
        assert set(entry.words) == set(LANGUAGES)
        assert all(word.strip() == word and word for word in entry.words.values()), synset
        assert not re.search(r"[a-z]", entry.words["ru"]), synset  # Russian is Cyrillic


def test_generic_words_are_never_tags(tagger: Tagger) -> None:
    probabilities = np.zeros(1000, dtype=np.float32)
    probabilities[tagger.wnids.index("n04120489")] = 1.0  # running shoe
    tags = tagger.words_of(tagger.tag(probabilities), "en")
    assert tags[:1] == ["running shoe"] and {"shoe", "footwear"} <= set(tags)
    assert not {"artifact", "entity", "object", "whole", "covering"} & set(tags)
    assert "zapatilla deportiva" in tagger.words_of(tagger.tag(probabilities), "es")


def test_parents_sum_the_probabilities_below_them(tagger: Tagger) -> None:
    probabilities = np.zeros(1000, dtype=np.float32)
    for wnid in ("n03680355", "n03047690", "n04133789"):  # loafer, clog, sandal
        probabilities[tagger.wnids.index(wnid)] = 0.2
    tags = tagger.words_of(tagger.tag(probabilities), "pt")
    # footwear 0.6 (all three); shoe at most 0.4: below PARENT_MIN
    assert "calçado" in tags and "sapato" not in tags
    assert all(p < CLASS_MIN for p in probabilities)  # no class alone was confident
    assert "mocassim" not in tags


def test_a_class_without_translation_keeps_its_english_name(tagger: Tagger) -> None:
    probabilities = np.zeros(1000, dtype=np.float32)
    probabilities[0] = 1.0  # tench: in no table
    assert tagger.words_of(tagger.tag(probabilities), "fr")[0] == "tench"


def test_search_text_has_plurals_and_english_synonyms(tagger: Tagger) -> None:
    scored = [("n04489008", 0.95), ("n03051540", 0.2)]  # trouser, pant; clothing
    english = tagger.search_text(scored, "en").split()
    assert {"trousers", "pant", "pants", "clothing"} <= set(english)
    assert english.count("pants") == 4 and english.count("clothing") == 1  # by confidence
    assert "pantalones" in tagger.search_text(scored, "es").split()
    assert "брюки" in tagger.search_text(scored, "ru").split()


@pytest.mark.parametrize(
    ("word", "lang", "plural"),
    [
        ("shoe", "en", "shoes"),
        ("dress", "en", "dresses"),
        ("accessory", "en", "accessories"),
        ("zapato", "es", "zapatos"),
        ("pez", "es", "peces"),
        ("camisa", "pt", "camisas"),
        ("balão", "pt", "balões"),
        ("chapeau", "fr", "chapeaux"),
        ("animal", "fr", "animaux"),
        ("туфля", "ru", "туфли"),
        ("платье", "ru", "платья"),
        ("стол", "ru", "столы"),
    ],
)
def test_inflect_finds_the_regular_plural(word: str, lang: str, plural: str) -> None:
    assert plural in inflect(word, lang)


def test_missing_wordnet_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(TaggerUnavailable, match="wordnet-base"):
        Tagger(tmp_path, ["x"] * 1000)

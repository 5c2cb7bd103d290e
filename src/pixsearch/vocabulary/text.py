"""Text folding shared by writes (stored terms) and search (filter values)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=65536)  # keywords repeat across a catalogue: fold each once
def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Éclair' and 'eclair' fold alike."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def folded_words(text: str) -> list[str]:
    """The words of the folded text (runs of letters and digits), as full-text search sees them."""
    return _WORD.findall(fold(text))

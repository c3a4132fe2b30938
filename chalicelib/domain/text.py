"""What text the CRM accepts from people: normalised, visible, and free of characters that hide or
reorder what a reader sees.

Names, addresses, subjects, notes, tags and keys are shown to staff and put
into messages, so a value made only of zero-width characters (a blank-looking
name), or one with a right-to-left override (text that reads differently from
what is stored), is refused. Every text is normalised to NFC (one stored form
for what looks the same, e.g. an accented letter typed in two ways).

Refused everywhere: control characters (Unicode category Cc) but, in free text
that may span lines, tab, line feed and carriage return; format characters
(Cf: bidirectional overrides and isolates, zero-width space, word joiner,
byte-order mark, soft hyphen...) but the zero-width joiner and non-joiner,
which some scripts and emoji need; surrogates and private-use characters; the
Unicode line and paragraph separators. A non-empty text must hold at least one
letter, digit, punctuation mark or symbol.
"""

from __future__ import annotations

import unicodedata
from enum import Enum
from typing import Any

MULTILINE_CONTROLS = frozenset("\t\n\r")
JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner: part of how some scripts and emoji are written
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_VISIBLE_CATEGORIES = frozenset("LNPS")  # letters, numbers, punctuation, symbols (first letter of the category)


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """Why `text` is refused, or None."""
    for char in text:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES and char not in JOINERS and not (multiline and char in MULTILINE_CONTROLS):
            return "must not contain control or invisible formatting characters"
    if text and not any(unicodedata.category(c)[0] in _VISIBLE_CATEGORIES for c in text):
        return "must contain a visible character"
    return None


def clean_text(value: Any, *, multiline: bool = False) -> Any:
    """`value` with every text in it (itself, list items, map keys and values) in NFC; raises ValueError
    naming the problem if one is refused. Enum members and non-text values pass unchanged."""
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        normalised = unicodedata.normalize("NFC", value)
        problem = text_problem(normalised, multiline=multiline)
        if problem:
            raise ValueError(problem)
        return normalised
    if isinstance(value, list):
        return [clean_text(v, multiline=multiline) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): clean_text(v, multiline=multiline) for k, v in value.items()}
    return value

"""Seeded, label-preserving perturbations of inputs, for robustness slices.

Text (intent, sentiment): typos (a dropped or two swapped letters), casing, punctuation,
numbers, entity swaps and filler words. Histories (recommendation): one item dropped, or
the order shuffled. Each perturbation changes the surface only, never what a person would
read as the label: a customer who writes "WHERE IS MY PARCEL" or "whre is my parcel, um,
order #51234" still wants their parcel tracked.

Deterministic: the random stream of each text is seeded by (seed, perturbation, the text
itself), so the same text is perturbed the same way whatever sample it sits in, and two
models compared on a perturbation read the very same strings. A perturbation that finds
nothing to change (no digit for `numbers`, no known entity for `entities`) leaves the text
as it is; `Perturbed.changed` says which texts it altered.
"""

from __future__ import annotations

import re
import string
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TEXT_PERTURBATIONS: tuple[str, ...] = (
    "typo_drop",
    "typo_swap",
    "casing",
    "punctuation",
    "numbers",
    "entities",
    "filler",
)
HISTORY_PERTURBATIONS: tuple[str, ...] = ("drop_one", "shuffle")
CLEAN = "clean"

# Words people pad messages with; none of them carries an intent or a sentiment.
FILLERS: tuple[str, ...] = (
    "um",
    "uh",
    "like",
    "actually",
    "basically",
    "you know",
    "well",
    "so",
    "kind of",
    "honestly",
)
# Appended by `punctuation` after the text's own punctuation is stripped.
ENDINGS: tuple[str, ...] = ("!", "!!", "?", "...", " ?!")
TYPO_SHARE = 0.15  # share of eligible words (4+ letters) given a typo, at least one
_WORD = re.compile(r"[A-Za-z]{4,}")
_DIGITS = re.compile(r"\d+")
# Punctuation not between two digits ("£34.46" and "13/12" keep theirs).
_P = re.escape(string.punctuation)
_PUNCT = re.compile(rf"(?<!\d)[{_P}]|[{_P}](?!\d)")

Lexicon = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Perturbed:
    """texts: the perturbed texts, in input order; changed: (n,) bool, True where the
    perturbation altered the text."""

    texts: list[str]
    changed: np.ndarray

    @property
    def share_changed(self) -> float:
        return float(self.changed.mean()) if self.changed.size else 0.0


def text_rng(seed: int, kind: str, text: str) -> np.random.Generator:
    """The random stream of one text under one perturbation."""
    key = zlib.crc32(f"{kind}\x00{text}".encode())
    return np.random.default_rng([int(seed), key])


def perturb_texts(
    texts: Sequence[str], kind: str, seed: int = 0, lexicon: Lexicon | None = None
) -> Perturbed:
    """Apply perturbation `kind` (one of TEXT_PERTURBATIONS) to every text.

    lexicon: entity group -> surface forms, for "entities" (see `entity_lexicon`); an
    entity found in a text is replaced by another form of the same group.
    """
    if kind not in TEXT_PERTURBATIONS:
        raise ValueError(f"unknown text perturbation {kind!r} (known: {TEXT_PERTURBATIONS})")
    fn = _entity_swapper(lexicon or {}) if kind == "entities" else _TEXT_FUNCTIONS[kind]
    out = [fn(str(t), text_rng(seed, kind, str(t))) for t in texts]
    changed = np.array([a != b for a, b in zip(texts, out, strict=True)], dtype=bool)
    return Perturbed(out, changed)


def _typo_words(text: str, rng: np.random.Generator) -> list[re.Match]:
    words = list(_WORD.finditer(text))
    if not words:
        return []
    k = max(1, round(TYPO_SHARE * len(words)))
    picked = np.sort(rng.choice(len(words), size=k, replace=False))
    return [words[i] for i in picked]


def _edit_words(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):  # right to left keeps offsets valid
        text = text[:start] + new + text[end:]
    return text


def typo_drop(text: str, rng: np.random.Generator) -> str:
    """Drop one inner letter (never the first or last) of ~15% of the 4+-letter words."""
    edits = []
    for m in _typo_words(text, rng):
        word = m.group()
        j = int(rng.integers(1, len(word) - 1))
        edits.append((m.start(), m.end(), word[:j] + word[j + 1 :]))
    return _edit_words(text, edits)


def typo_swap(text: str, rng: np.random.Generator) -> str:
    """Swap two neighbouring inner letters of ~15% of the 4+-letter words (letters that
    differ, so the word really changes; "book" has none and stays)."""
    edits = []
    for m in _typo_words(text, rng):
        word = m.group()
        spots = [j for j in range(1, len(word) - 2) if word[j] != word[j + 1]]
        if not spots:
            continue
        j = spots[int(rng.integers(0, len(spots)))]
        edits.append((m.start(), m.end(), word[:j] + word[j + 1] + word[j] + word[j + 2 :]))
    return _edit_words(text, edits)


def casing(text: str, rng: np.random.Generator) -> str:
    """UPPER CASE or Title Case, drawn per text (whichever changes it, if only one does)."""
    options = [text.upper(), text.title()]
    first = int(rng.integers(0, 2))
    return options[first] if options[first] != text else options[1 - first]


def punctuation(text: str, rng: np.random.Generator) -> str:
    """Strip the text's punctuation (but inside numbers) and end it with one of ENDINGS."""
    stripped = re.sub(r"\s+", " ", _PUNCT.sub("", text)).strip()
    return stripped + ENDINGS[int(rng.integers(0, len(ENDINGS)))]


def numbers(text: str, rng: np.random.Generator) -> str:
    """Replace every run of digits by other digits of the same length (an order number
    stays an order number, a price a price)."""

    def swap(m: re.Match) -> str:
        old = m.group()
        for _ in range(10):
            new = "".join(str(d) for d in rng.integers(0, 10, size=len(old)))
            if len(old) > 1 and old[0] != "0" and new[0] == "0":
                new = str(int(rng.integers(1, 10))) + new[1:]
            if new != old:
                return new
        return old

    return _DIGITS.sub(swap, text)


def filler(text: str, rng: np.random.Generator) -> str:
    """Insert one filler (two in texts of 8+ words) between words."""
    words = text.split(" ")
    for _ in range(1 + (len(words) >= 8)):
        at = int(rng.integers(0, len(words) + 1))
        words.insert(at, FILLERS[int(rng.integers(0, len(FILLERS)))])
    return " ".join(words)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _entity_swapper(lexicon: Lexicon) -> Callable[[str, np.random.Generator], str]:
    """Replace every whole-word, case-insensitive match of a lexicon form by another form
    of the same group, keeping the match's capitalisation."""
    group_of: dict[str, tuple[str, ...]] = {}
    for forms in lexicon.values():
        unique = tuple(dict.fromkeys(str(f) for f in forms if str(f).strip()))
        if len(unique) < 2:
            continue  # nothing to swap with
        for form in unique:
            group_of.setdefault(form.lower(), unique)
    if not group_of:
        return lambda text, rng: text
    alternation = "|".join(re.escape(f) for f in sorted(group_of, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)

    def swap(text: str, rng: np.random.Generator) -> str:
        def one(m: re.Match) -> str:
            found = m.group()
            others = [f for f in group_of[found.lower()] if f.lower() != found.lower()]
            return _match_case(found, others[int(rng.integers(0, len(others)))])

        return pattern.sub(one, text)

    return swap


_TEXT_FUNCTIONS: dict[str, Callable[[str, np.random.Generator], str]] = {
    "typo_drop": typo_drop,
    "typo_swap": typo_swap,
    "casing": casing,
    "punctuation": punctuation,
    "numbers": numbers,
    "filler": filler,
}


def perturb_histories(
    histories: Sequence[Sequence[Any]], kind: str, seed: int = 0
) -> tuple[list[list[Any]], np.ndarray]:
    """Apply `kind` (one of HISTORY_PERTURBATIONS) to each user's item history.

    drop_one: one item, drawn uniformly, leaves the history (histories of one item stay:
    an empty history is another question, the unknown user). shuffle: the same items in a
    random order. Items are indices or ids, kept as they are. Returns (histories,
    changed (n,) bool).
    """
    if kind not in HISTORY_PERTURBATIONS:
        raise ValueError(f"unknown history perturbation {kind!r} (known: {HISTORY_PERTURBATIONS})")
    out: list[list[Any]] = []
    for h in histories:
        items = list(h)
        rng = text_rng(seed, kind, ",".join(map(str, items)))
        if kind == "drop_one":
            if len(items) > 1:
                del items[int(rng.integers(0, len(items)))]
        else:
            items = [items[j] for j in rng.permutation(len(items))]
        out.append(items)
    changed = np.array([list(a) != b for a, b in zip(histories, out, strict=True)], dtype=bool)
    return out, changed

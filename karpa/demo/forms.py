"""Surface forms: how one latent concept is written many ways, with a long tail.

A *slot* is one part of a message that carries meaning (for example "the customer asks
where the parcel is"). It has a handful of base forms (synonyms, paraphrases, other word
orders), written head first, and every base form also appears misspelled in two fixed
ways. A world draws base forms with a Zipf-like long tail, in an order shuffled by the
world seed, so a few labeled examples see mostly the head forms while the unlabeled text,
being plentiful, shows all of them. Misspellings are fixed per form (not fresh noise per
message) so that a model reading the unlabeled text can learn them.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from karpa.demo.sampling import draw_rows, zipf_weights

# How often a base form is written as is, with its first misspelling, with its second.
VARIANT_WEIGHTS = np.array([0.45, 0.30, 0.25])
N_VARIANTS = len(VARIANT_WEIGHTS)
VOWELS = "aeiou"
# Spelling slips people make in chat, tried before the mechanical ones.
SOUND_SLIPS = (
    ("ph", "f"),
    ("ck", "k"),
    ("ie", "ei"),
    ("ou", "u"),
    ("ea", "ee"),
    ("ss", "s"),
    ("ll", "l"),
    ("tt", "t"),
    ("ive", "iv"),
    ("ght", "t"),
)


def _slip(word: str, rnd: random.Random) -> str:
    """One spelling slip in a word of four or more letters."""
    op = rnd.randrange(5)
    if op == 0:
        for a, b in rnd.sample(SOUND_SLIPS, len(SOUND_SLIPS)):
            if a in word:
                return word.replace(a, b, 1)
        op = 1
    i = rnd.randrange(1, len(word) - 1)
    if op == 1 and word[i] != word[i + 1]:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 2:  # drop a letter
        return word[:i] + word[i + 1 :]
    if op == 3:  # double a letter
        return word[:i] + word[i] + word[i:]
    vowels = [j for j, ch in enumerate(word) if ch in VOWELS]
    if vowels:  # a wrong vowel
        j = rnd.choice(vowels)
        return word[:j] + rnd.choice([v for v in VOWELS if v != word[j]]) + word[j + 1 :]
    return word[:i] + word[i + 1 :]


def misspellings(phrase: str, n: int = N_VARIANTS - 1) -> tuple[str, ...]:
    """`n` distinct fixed misspellings of a phrase, the same on every machine and run.

    The first slips on the phrase's longest word (a careful typist); later ones slip on
    every word of four or more letters (a hurried one), so a bag-of-words model cannot
    match them by their other words.
    """
    out: list[str] = []
    salt = 0
    while len(out) < n:
        rnd = random.Random(zlib.crc32(f"{phrase}#{salt}".encode()))
        salt += 1
        words = phrase.split()
        candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
        if not candidates:
            candidates = [max(range(len(words)), key=lambda i: len(words[i]))]
            if len(words[candidates[0]]) < 3:
                raise ValueError(f"phrase {phrase!r} has no word long enough to misspell")
        if not out:
            candidates = [max(candidates, key=lambda i: len(words[i]))]
        for i in candidates:
            words[i] = _slip(words[i], rnd)
        typo = " ".join(words)
        if typo != phrase and typo not in out:
            out.append(typo)
        if salt > 50:
            raise ValueError(f"cannot find {n} distinct misspellings of {phrase!r}")
    return tuple(out)


@dataclass(frozen=True)
class Slot:
    """A slot's base forms, head first (the head is also the canonical form)."""

    name: str
    forms: tuple[str, ...]

    def surfaces(self) -> tuple[str, ...]:
        """Every surface form: each base form, then its misspellings, in base-form order."""
        out: list[str] = []
        for form in self.forms:
            out.append(form)
            out.extend(misspellings(form))
        return tuple(out)


class SlotSampler:
    """Draws surface forms for many slots at once.

    The rank of each slot's base forms is shuffled by the world's generator, so the head
    form differs between seeds while the shape of the tail stays the same.
    `variant_weights` says how often each base form is written as is and misspelled.
    """

    def __init__(
        self,
        slots: Sequence[Slot],
        rng: np.random.Generator,
        exponent: float,
        variant_weights: np.ndarray = VARIANT_WEIGHTS,
    ):
        self.slots = tuple(slots)
        self.surfaces = tuple(s.surfaces() for s in self.slots)
        width = max(len(s) for s in self.surfaces)
        weights = np.zeros((len(self.slots), width))
        for r, slot in enumerate(self.slots):
            base = zipf_weights(len(slot.forms), exponent)[rng.permutation(len(slot.forms))]
            weights[r, : len(self.surfaces[r])] = np.outer(base, variant_weights).ravel()
        self.probabilities = weights / weights.sum(axis=1, keepdims=True)
        self._cumulative = np.cumsum(self.probabilities, axis=1)

    def draw(self, slot_rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Surface-form indices, one per entry of `slot_rows` (indices into `self.slots`)."""
        return draw_rows(self._cumulative, slot_rows, rng)

    def text(self, slot_row: int, form: int) -> str:
        """The surface string of a drawn form."""
        return self.surfaces[slot_row][form]

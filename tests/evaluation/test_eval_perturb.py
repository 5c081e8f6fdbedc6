"""Perturbations: deterministic with a seed, each changes what it says it changes and
nothing else, labels never touched."""

from __future__ import annotations

import re

import numpy as np
import pytest

from karpa.evaluation.perturb import (
    FILLERS,
    HISTORY_PERTURBATIONS,
    TEXT_PERTURBATIONS,
    perturb_histories,
    perturb_texts,
)

TEXTS = [
    "hello, where is my parcel? order #48213, it cost £34.46 on 13/12/2025",
    "i want to return the crimson wool scarf, it doesnt fit",
    "Globex Goods (GLOBX) shares soar on strong demand for shoes",
    "cant log in",
    "reset my password please, thanks",
]
LEXICON = {
    "ticker": ["GLOBX", "ACME", "VERTO"],
    "attribute:material": ["wool", "silk", "cotton"],
    "category": ["shoes", "bag", "scarf"],
}


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]+", text)


@pytest.mark.parametrize("kind", TEXT_PERTURBATIONS)
def test_same_seed_same_texts_and_other_seed_differs(kind):
    a = perturb_texts(TEXTS, kind, seed=3, lexicon=LEXICON)
    b = perturb_texts(TEXTS, kind, seed=3, lexicon=LEXICON)
    assert a.texts == b.texts and np.array_equal(a.changed, b.changed)
    # A text's perturbation depends on the text, not on its neighbours or position.
    alone = perturb_texts(TEXTS[::-1], kind, seed=3, lexicon=LEXICON)
    assert alone.texts == a.texts[::-1]
    if kind not in ("numbers", "entities", "casing"):
        others = [perturb_texts(TEXTS, kind, seed=s, lexicon=LEXICON).texts for s in range(6)]
        assert len({tuple(t) for t in others}) > 1, "the seed must matter"


@pytest.mark.parametrize("kind", ["typo_drop", "typo_swap"])
def test_typos_touch_few_inner_letters(kind):
    p = perturb_texts(TEXTS, kind, seed=0)
    assert p.changed.all()
    for clean, noisy in zip(TEXTS, p.texts, strict=True):
        before, after = _words(clean), _words(noisy)
        assert len(before) == len(after)
        edited = [(x, y) for x, y in zip(before, after, strict=True) if x != y]
        assert 1 <= len(edited) <= max(1, round(0.15 * sum(len(w) >= 4 for w in before)))
        for x, y in edited:
            assert x[0] == y[0] and x[-1] == y[-1], (x, y)  # first and last letters stay
            if kind == "typo_drop":
                assert len(y) == len(x) - 1
            else:
                assert sorted(x) == sorted(y) and len(x) == len(y)


def test_casing_changes_only_case():
    p = perturb_texts(TEXTS, "casing", seed=0)
    assert p.changed.all()
    for clean, noisy in zip(TEXTS, p.texts, strict=True):
        assert noisy.lower() == clean.lower() and noisy != clean


def test_punctuation_strips_marks_but_keeps_words_and_numbers():
    p = perturb_texts(TEXTS, "punctuation", seed=0)
    for clean, noisy in zip(TEXTS, p.texts, strict=True):
        assert _words(noisy) == _words(clean)
        assert re.findall(r"\d+", noisy) == re.findall(r"\d+", clean)
        assert noisy[-1] in "!?." and noisy != clean
    assert "34.46" in p.texts[0] and "13/12/2025" in p.texts[0]  # marks inside numbers stay
    assert "," not in p.texts[0] and "#" not in p.texts[0]


def test_numbers_swap_digits_of_the_same_length_only():
    p = perturb_texts(TEXTS, "numbers", seed=0)
    assert p.changed.tolist() == [True, False, False, False, False]
    old, new = re.findall(r"\d+", TEXTS[0]), re.findall(r"\d+", p.texts[0])
    assert [len(x) for x in old] == [len(x) for x in new] and old != new
    assert re.sub(r"\d", "0", p.texts[0]) == re.sub(r"\d", "0", TEXTS[0])


def test_entities_swap_within_their_group_keeping_case():
    p = perturb_texts(TEXTS, "entities", seed=0, lexicon=LEXICON)
    assert p.changed.tolist() == [False, True, True, False, False]
    scarf = p.texts[1].split()
    assert scarf[6] in ("silk", "cotton") and scarf[7].rstrip(",") in ("shoes", "bag")
    news = p.texts[2]
    assert re.search(r"\((ACME|VERTO)\)", news) and news.split()[-1] in ("bag", "scarf")
    # Without a lexicon there is nothing to swap: the texts stay as they are.
    assert not perturb_texts(TEXTS, "entities", seed=0).changed.any()


def test_filler_only_inserts_fillers():
    p = perturb_texts(TEXTS, "filler", seed=0)
    assert p.changed.all()
    for clean, noisy in zip(TEXTS, p.texts, strict=True):
        rest = noisy
        for f in sorted(FILLERS, key=len, reverse=True):
            rest = re.sub(rf"(^| ){re.escape(f)}(?= |$)", r"\1", rest)
        assert rest.split() == clean.split()


def test_unknown_perturbation_is_refused():
    with pytest.raises(ValueError, match="unknown text perturbation 'leet'"):
        perturb_texts(TEXTS, "leet")
    with pytest.raises(ValueError, match="unknown history perturbation"):
        perturb_histories([[1, 2]], "reverse")


def test_history_perturbations_keep_the_items():
    histories = [[1, 2, 3, 4, 5], [7], [9, 8, 7, 6]]
    dropped, changed = perturb_histories(histories, "drop_one", seed=0)
    assert changed.tolist() == [True, False, True]
    for before, after in zip(histories, dropped, strict=True):
        if len(before) > 1:
            assert len(after) == len(before) - 1 and set(after) < set(before)
            # the order of what is left is the original order
            assert after == [i for i in before if i in after]
    shuffled, _ = perturb_histories(histories, "shuffle", seed=0)
    assert [sorted(h) for h in shuffled] == [sorted(h) for h in histories]
    again, _ = perturb_histories(histories, "shuffle", seed=0)
    assert again == shuffled
    assert set(HISTORY_PERTURBATIONS) == {"drop_one", "shuffle"}


def test_texts_without_anything_to_perturb_are_reported_unchanged():
    p = perturb_texts(["", "ok"], "typo_drop", seed=0)
    assert p.texts == ["", "ok"] and not p.changed.any() and p.share_changed == 0.0

"""The generator's building blocks: sampling, surface forms and planted personal data."""

from __future__ import annotations

import re

import numpy as np

from karpa.demo import pii
from karpa.demo.forms import Slot, SlotSampler, misspellings
from karpa.demo.intents import SLOTS, surface_forms
from karpa.demo.sampling import draw_grouped, draw_rows, row_cumulative, stream, zipf_weights


def test_streams_are_independent_and_repeatable() -> None:
    assert stream(0, "a").random() == stream(0, "a").random()
    assert stream(0, "a").random() != stream(0, "b").random()
    assert stream(0, "a").random() != stream(1, "a").random()


def test_draw_rows_follows_each_rows_distribution() -> None:
    weights = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 0.0]])
    rows = np.repeat([0, 1], 20_000)
    cols = draw_rows(row_cumulative(weights), rows, np.random.default_rng(0))
    assert set(cols[rows == 1]) == {1}
    share = np.bincount(cols[rows == 0], minlength=3) / 20_000
    assert share[1] == 0 and abs(share[2] - 0.75) < 0.02


def test_draw_grouped_stays_in_group_and_follows_weights() -> None:
    group_of = np.array([0, 1, 0, 1, 2])
    weights = np.array([1.0, 1.0, 3.0, 0.0, 0.0])
    groups = np.array([0] * 10_000 + [1] * 100 + [2] * 10)
    picked = draw_grouped(group_of, weights, groups, np.random.default_rng(0))
    assert abs((picked[:10_000] == 2).mean() - 0.75) < 0.02
    assert set(picked[:10_000]) == {0, 2}
    assert set(picked[10_000:10_100]) == {1}  # the zero-weight member is never drawn
    assert set(picked[10_100:]) == {-1}  # a group with no weight gives -1


def test_zipf_weights_have_a_head_and_a_tail() -> None:
    w = zipf_weights(8, 1.0)
    assert abs(w.sum() - 1) < 1e-12 and np.all(np.diff(w) < 0)


def test_misspellings_are_fixed_distinct_and_touch_every_long_word() -> None:
    light, heavy = misspellings("the courier never came")
    assert (light, heavy) == misspellings("the courier never came")
    assert len({"the courier never came", light, heavy}) == 3
    assert not {"courier", "never", "came"} & set(heavy.split())
    everything = [f for forms in surface_forms().values() for f in forms]
    assert len(everything) == len(set(everything)) == 13 * 2 * 8 * 3


def test_slot_sampler_puts_a_seeded_head_on_a_long_tail() -> None:
    slot = Slot("s", tuple(f"form number {w}" for w in "abcdefgh"))
    heads = set()
    for seed in range(6):
        sampler = SlotSampler([slot], np.random.default_rng(seed), exponent=1.0)
        draws = sampler.draw(np.zeros(50_000, dtype=np.int64), np.random.default_rng(1))
        base_share = np.bincount(draws // 3, minlength=8) / len(draws)
        assert base_share.max() > 3 * base_share.min() > 0
        heads.add(int(base_share.argmax()))
    assert len(heads) > 1  # the head form depends on the world's seed
    assert len(SLOTS) == 26


def test_planted_cards_and_ibans_validate() -> None:
    assert pii.luhn_valid("4539148803436467") and not pii.luhn_valid("4539148803436468")
    assert pii.iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not pii.iban_valid("GB82 WEST 1234 5698 7654 33")
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert pii.luhn_valid(re.sub(r"\D", "", pii.card(rng)))
        assert pii.iban_valid(pii.iban(rng))
        text, value = pii.disclosure("email", rng)
        assert value in text and value.split("@")[1].endswith(
            ("example.com", "example.org", "example.net", "example.co.uk")
        )

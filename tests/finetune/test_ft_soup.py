"""Model soups: fine-tunes' weights averaged, greedily on validation
(karpa_models/finetune/soup.py)."""

import pytest
import torch
from torch import nn

from karpa_models.finetune.soup import average, greedy_soup


def _state(weight: float, steps: int = 0) -> dict[str, torch.Tensor]:
    return {"weight": torch.full((1, 1), weight), "steps": torch.tensor(steps)}


class _Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1))
        self.register_buffer("steps", torch.tensor(0))


def test_average_means_the_floats_and_keeps_the_first_integers():
    soup = average([_state(1.0, 3), _state(2.0, 5), _state(6.0, 7)])
    assert soup["weight"].item() == pytest.approx(3.0) and soup["steps"].item() == 3


def test_greedy_soup_joins_in_order_of_validation_and_skips_what_lowers_it():
    # The best weight is 2.0; validation scores a weight by its distance from it.
    model = _Layer()

    def score() -> float:
        return -abs(model.weight.item() - 2.0)

    states = [_state(3.0), _state(1.0), _state(8.0), _state(1.2)]
    vals = [-1.0, -1.0, -6.0, -0.8]
    info = greedy_soup(model, states, vals, score)
    # 1.2 first (best alone); + 3.0 -> 2.1 (better, kept); + 1.0 (tie with 3.0: index
    # order) -> 1.733 (worse, skipped); + 8.0 -> 4.07 (worse, skipped).
    assert info["kept"] == [3, 0]
    assert info["val"] == pytest.approx(-0.1) and info["vals"] == vals
    assert model.weight.item() == pytest.approx(2.1)


def test_a_soup_never_scores_below_the_best_fine_tune_alone():
    model = _Layer()
    info = greedy_soup(model, [_state(0.0), _state(5.0)], [0.9, 0.1], lambda: 0.0)
    assert info["kept"] == [0] and info["val"] == 0.9 and model.weight.item() == 0.0
    with pytest.raises(ValueError, match="2 weight sets for 1 figures"):
        greedy_soup(model, [_state(0.0), _state(5.0)], [0.9], lambda: 0.0)

"""Weight-space mixing of a fine-tune with its start (karpa_models/finetune/wise.py)."""

import pytest
import torch
from torch import nn

from karpa_models.finetune.wise import choose_mix, snapshot


def _layer(weight: float) -> nn.Linear:
    layer = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(weight)
    return layer


def test_the_best_mix_on_validation_is_kept():
    model = _layer(0.0)
    start = snapshot(model)
    with torch.no_grad():
        model.weight.fill_(4.0)  # the "fine-tune" ends here; the best lies at 1.0 = mix 0.25
    info = choose_mix(model, start, [0.75, 0.25, 0.5], lambda: -abs(model.weight.item() - 1.0))
    assert info["alpha"] == 0.25 and model.weight.item() == pytest.approx(1.0)
    assert info["grid"] == {
        "1.0": pytest.approx(-3.0),
        "0.75": pytest.approx(-2.0),
        "0.5": pytest.approx(-1.0),
        "0.25": pytest.approx(0.0),
    }


def test_the_fine_tune_wins_ties_and_is_restored_exactly():
    model = _layer(0.0)
    start = snapshot(model)
    with torch.no_grad():
        model.weight.fill_(3.0)
    info = choose_mix(model, start, [0.5], lambda: 1.0)  # every mix scores the same
    assert info["alpha"] == 1.0 and model.weight.item() == 3.0

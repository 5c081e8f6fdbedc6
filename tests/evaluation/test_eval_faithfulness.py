"""The deletion test's summary (area between the curves with a bootstrap interval), its
plot, and explained predictions in a model card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from karpa.evaluation.faithfulness import deletion_plot, deletion_summary
from karpa.evaluation.model_card import ModelCard, to_html, to_markdown


def test_area_is_random_minus_attributed_per_removed_token():
    top = np.array([[0.9, 0.3, 0.1], [0.8, 0.4, 0.2]])
    random = np.array([[0.9, 0.8, 0.7], [0.8, 0.8, 0.6]])
    summary = deletion_summary(top, random, n_resamples=200, seed=0)
    # Per text: mean of (0.5, 0.6) = 0.55 and (0.4, 0.4) = 0.4.
    assert summary["area"]["estimate"] == pytest.approx(0.475)
    assert 0.4 - 1e-9 <= summary["area"]["low"] <= 0.475 <= summary["area"]["high"] <= 0.55
    assert summary["top_curve"] == pytest.approx([0.85, 0.35, 0.15])
    assert summary["max_k"] == 2 and summary["n_examples"] == 2


def test_attributions_no_better_than_chance_give_an_interval_around_zero():
    rng = np.random.default_rng(0)
    curves = np.clip(0.8 - np.cumsum(rng.uniform(0, 0.1, (200, 6)), axis=1), 0, 1)
    curves[:, 0] = 0.8
    noise = rng.normal(0, 0.02, curves.shape)
    noise[:, 0] = 0
    summary = deletion_summary(curves, curves + noise, n_resamples=500)
    assert summary["area"]["low"] < 0 < summary["area"]["high"]


def test_mismatched_curves_are_refused():
    with pytest.raises(ValueError, match="equal"):
        deletion_summary(np.zeros((3, 4)), np.zeros((3, 5)))


def test_plot_is_a_png(tmp_path):
    summary = deletion_summary(np.full((4, 3), 0.5), np.full((4, 3), 0.6), n_resamples=50)
    path = deletion_plot(summary, tmp_path / "d.png", "intent: deletion test")
    assert Path(path).read_bytes()[:4] == b"\x89PNG"


def test_model_card_renders_explained_predictions():
    example = {
        "text": "my parcel never came",
        "true": "delivery",
        "predicted": "refund",
        "correct": False,
        "probability": 0.61,
        "explained_class": "refund",
        "words": [{"word": "parcel", "attribution": -0.4}, {"word": "never", "attribution": 1.2}],
        "nearest": [{"text": "never got my money", "label": "refund", "similarity": 0.83}],
    }
    card = ModelCard(application="intent", model_name="m", explanations=[example])
    md = to_markdown(card)
    assert "## Explanations" in md
    assert 'wrong: "my parcel never came" (true delivery, predicted refund' in md
    assert "top words: parcel (-0.400), never (+1.200)" in md
    assert 'nearest training example: "never got my money" (refund, cosine 0.8300)' in md
    html = to_html(card)
    assert "rgba(207,34,46" in html and "rgba(26,127,55" in html  # against, for the class
    assert "Explanations" not in to_markdown(ModelCard(application="intent", model_name="m"))

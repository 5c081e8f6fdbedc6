"""Explanations in a text application's evaluation: the deletion test (metric, interval,
plot), explained predictions in the model card, and the nearest-example index saved with
the model, holding no personal data even when a training text carried some."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from karpa.applications.sentiment import run_sentiment
from karpa.applications.text_config import SentimentConfig
from karpa_models.finetune.saved import load_classifier

PLANTED = ("jane.doe@example.com", "4111 1111 1111 1111")
FAST = dict(
    epochs=8,
    max_steps=48,
    min_steps=32,
    batch_size=16,
    lr=3e-3,
    encoder_lr_scale=1.0,
    patience=8,
    n_resamples=200,
    curve_resamples=50,
    k_shots=(),
    run_scratch=False,
    explain_examples=30,
    card_explanations=2,
    device="cpu",
)


@pytest.fixture(scope="module")
def planted_views(views_dir, tmp_path_factory) -> Path:
    """The synthetic views with personal data in two training headlines (as a run with
    scrubbing switched off would leave them)."""
    out = tmp_path_factory.mktemp("planted")
    for path in views_dir.iterdir():
        shutil.copy(path, out / path.name)
    news = pd.read_parquet(out / "news.parquet")
    train = news.index[news["split"] == "train"][:2]
    news.loc[train[0], "text"] += f" mail {PLANTED[0]}"
    news.loc[train[1], "text"] += f" card {PLANTED[1]}"
    news.to_parquet(out / "news.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def report(planted_views, foundation_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("sentiment-explained")
    rep = run_sentiment(planted_views, foundation_ckpt, SentimentConfig(**FAST), out)
    rep.out_dir = out
    return rep


def test_the_deletion_test_is_a_metric_with_an_interval_and_a_plot(report):
    area = report.intervals["deletion_area"]
    assert area["low"] <= area["estimate"] <= area["high"]
    # One keyword decides each headline: removing the attributed words costs more.
    assert area["estimate"] > 0 and area["low"] > 0, area
    assert report.metrics["deletion_area"] == pytest.approx(area["estimate"])
    flat = report.flat_metrics()
    assert flat["test/deletion_area"] == pytest.approx(area["estimate"])
    assert flat["test/deletion_area_low"] == pytest.approx(area["low"])
    plot = Path(report.artifacts["plots"]["deletion_test"])
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert report.timings["explain_s"] > 0
    assert "integrated gradients" in report.protocol["explanations"]


def test_the_model_card_shows_explained_predictions(report):
    md = Path(report.artifacts["model_card"]["markdown"]).read_text()
    html = Path(report.artifacts["model_card"]["html"]).read_text()
    assert "## Explanations" in md and "top words:" in md
    assert "nearest training example:" in md
    assert md.count("correct: ") + md.count("wrong: ") >= 2
    assert '<p class="words"><span title=' in html


def test_the_saved_model_keeps_scrubbed_training_examples(report):
    clf = load_classifier(report.artifacts["model_dir"])
    assert clf.neighbours is not None
    assert len(clf.neighbours) == report.data["train"]
    assert any("<EMAIL>" in t for t in clf.neighbours.texts)
    assert any("<CARD>" in t for t in clf.neighbours.texts)
    for path in Path(report.out_dir).rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".html"):
            text = path.read_text(errors="replace")
            assert not any(value in text for value in PLANTED), path
    stored = json.loads((Path(report.artifacts["model_dir"]) / "neighbours.json").read_text())
    assert stored["texts"] == clf.neighbours.texts

"""What the pretrain stage's checks may see (validation, never test), the rule in the
config, and the one-sentence verdict in the run summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from karpa.config import CONFIGS, load_config
from karpa.errors import ConfigError
from karpa.pretraining.checks_data import checks_data, split_held
from karpa.pretraining.verdict import (
    checks_metrics,
    foundation_sentence,
    sentence_from_metrics,
)
from karpa.run_report import RunFacts, render_summary
from karpa_models.corpus import RetrievalSet


def _views(folder):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        split = ("train", "val", "test")[i % 3]
        label = ("track_order", "refund_status", "oos")[(i // 3) % 3]
        if split == "test":  # only test rows carry this label and this word
            label = "only_in_test" if i % 2 else label
        rows.append(
            {
                "message_id": f"m{i}",
                "text": f"{split.upper()}ROW message {i} about {label}",
                "intent": label if i % 5 else None,
                "split": split,
            }
        )
    pd.DataFrame(rows).to_parquet(folder / "messages.parquet")
    news = pd.DataFrame(
        {
            "news_id": [f"n{i}" for i in range(60)],
            "text": [
                f"{('train', 'val', 'test')[i % 3].upper()}ROW headline {i}" for i in range(60)
            ],
            "sentiment": [("positive", "negative")[(i // 3) % 2] for i in range(60)],
            "split": [("train", "val", "test")[i % 3] for i in range(60)],
        }
    )
    news.to_parquet(folder / "news.parquet")
    seqs = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(30)],
            "train_items": [rng.integers(0, 50, 5).tolist() for _ in range(30)],
            "val_item": pd.array([i if i % 4 else None for i in range(30)], dtype="Int64"),
            "test_item": pd.array([1000 + i for i in range(30)], dtype="Int64"),
        }
    )
    seqs.to_parquet(folder / "sequences.parquet")
    return seqs


def _held(n: int = 7) -> RetrievalSet:
    return RetrievalSet(
        captions=[f"pair {i}" for i in range(n)],
        images=np.zeros((n, 8, 8, 3), np.uint8),
        item_indices=np.arange(n),
        item_texts=[f"pair {i}" for i in range(n)],
        item_images=np.zeros((n, 8, 8, 3), np.uint8),
        item_has_image=np.ones(n, bool),
    )


def test_checks_read_validation_and_training_rows_never_test(tmp_path):
    seqs = _views(tmp_path)
    check_pairs, _ = split_held(_held())
    data = checks_data(tmp_path, check_pairs, max_val=1000, seed=0)
    assert set(data.probes) == {"intent", "sentiment"}
    for probe in data.probes.values():
        texts = probe.train_texts + probe.val_texts
        assert not any("TESTROW" in t for t in texts)
        assert all(t.startswith("VALROW") for t in probe.val_texts)
        assert all(t.startswith("TRAINROW") for t in probe.train_texts)
        assert "only_in_test" not in set(probe.train_labels) | set(probe.val_labels)
    # Next items: every user with a validation item, scored on it; no test item anywhere.
    has_val = seqs[seqs["val_item"].notna()]
    assert sorted(data.targets.tolist()) == sorted(has_val["val_item"].astype(int).tolist())
    assert not set(data.targets.tolist()) & set(seqs["test_item"].astype(int).tolist())


def test_validation_is_capped_by_a_seeded_sample(tmp_path):
    _views(tmp_path)
    check_pairs, _ = split_held(_held())
    a = checks_data(tmp_path, check_pairs, max_val=10, seed=3)
    b = checks_data(tmp_path, check_pairs, max_val=10, seed=3)
    assert len(a.probes["intent"].val_texts) == 10 and len(a.targets) == 10
    assert a.probes["intent"].val_texts == b.probes["intent"].val_texts


def test_held_out_pairs_split_into_disjoint_halves():
    checks, report = split_held(_held(7))
    assert len(checks.captions) == 4 and len(report.captions) == 3
    assert not set(checks.captions) & set(report.captions)
    assert sorted(checks.item_indices.tolist() + report.item_indices.tolist()) == list(range(7))


def test_the_rule_is_config_with_bounds():
    cfg = load_config(
        CONFIGS / "demo.yaml",
        ["pretrain.checks={every: 50, combine: worst_gain, weights: {probe/intent: 2}}"],
    )
    model = cfg.pretrain.checks.to_model()
    assert model.every == 50 and model.combine == "worst_gain" and model.weight("probe/intent") == 2
    with pytest.raises(
        ConfigError, match=r"pretrain.checks.weights: .*unknown check 'probe/intnt'"
    ):
        load_config(CONFIGS / "demo.yaml", ["pretrain.checks.weights={probe/intnt: 1}"])
    with pytest.raises(ConfigError, match=r"pretrain.checks.combine"):
        load_config(CONFIGS / "demo.yaml", ["pretrain.checks.combine=best"])


def _checks(kept: int, last: int = 300) -> dict:
    history = [{"step": s, "combined": 0.5} for s in range(0, last + 1, 100)]
    return {
        "rule": {"combine": "mean"},
        "history": history,
        "kept_step": kept,
        "kept_combined": 0.62 if kept else 0.5,
        "start_combined": 0.5,
        "start_kept": kept == 0,
    }


def test_the_verdict_is_one_sentence():
    kept_start = foundation_sentence(_checks(0), pretrained_start=True)
    assert kept_start == (
        "No checkpoint beat step 0 on the mean of the validation checks (0.5000): the "
        "foundation is the pretrained start, unchanged by this pretraining."
    )
    assert "random initialisation" in foundation_sentence(_checks(0), pretrained_start=False)
    cooccurrence = foundation_sentence(_checks(0), False, cooccurrence_start=True)
    assert "the foundation is the co-occurrence start" in cooccurrence
    back = sentence_from_metrics(checks_metrics(_checks(0), False, cooccurrence_start=True))
    assert "the foundation is the co-occurrence start" in back  # the run summary's way back
    middle = foundation_sentence(_checks(200), pretrained_start=True)
    assert middle.startswith(
        "The foundation is the checkpoint of step 200, not the last (step 300)"
    )
    assert "the last one" in foundation_sentence(_checks(300), pretrained_start=False)


def test_the_run_summary_says_when_the_foundation_is_the_start():
    metrics = {"steps": 300.0, **checks_metrics(_checks(0), pretrained_start=True)}
    assert "pretrained start" in sentence_from_metrics(metrics)
    facts = RunFacts(
        flow_run_name="calm-fox",
        state="COMPLETED",
        message=None,
        parameters={},
        timings=[],
        stage_metrics={"pretrain": metrics},
    )
    text = render_summary(facts)
    assert "## Foundation" in text
    assert "the foundation is the pretrained start, unchanged by this pretraining." in text
    assert sentence_from_metrics({"steps": 300.0}) is None

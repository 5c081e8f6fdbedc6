"""Every fine-tune on CUDA in bf16: it learns what the CPU tests show it learns, and what
it saves loads on a machine without a GPU and predicts the same there.

Skipped without a CUDA device; run where one is (`pytest -m gpu`). The CPU tests pin
`device="cpu"`, so these are the only ones that exercise the autocast and device paths.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karpa.evaluation.ranking import evaluate_ranking, seen_mask, validation_metrics
from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig, RecommenderConfig
from karpa_models.finetune.multitask import JointTask, train_multitask
from karpa_models.finetune.next_item import train_recommender
from karpa_models.finetune.privacy_config import PrivacyConfig
from karpa_models.finetune.saved import (
    load_classifier,
    load_recommender,
    save_classifier,
    save_recommender,
)
from karpa_models.finetune.scratch import scratch_foundation

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

N_ITEMS = 30
COLD = {7, 19}


@pytest.fixture(scope="module")
def texts(make_texts):
    return make_texts(90, seed=0), make_texts(30, seed=1), make_texts(60, seed=2)


@pytest.fixture
def foundation(model_cfg, texts):
    (train_x, _), _, _ = texts
    return scratch_foundation(model_cfg, train_x * 3, seed=0)


def _accuracy(clf, x, y) -> float:
    return float(np.mean(np.asarray(clf.predict(x)) == np.asarray(y)))


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("full", {"epochs": 12, "lr": 3e-3, "encoder_lr_scale": 1.0, "patience": 20}),
        ("linear_probe", {}),
        ("contrastive_probe", {"contrastive_steps": 30}),
    ],
)
def test_classifier_learns_in_bf16_and_reloads_on_cpu(foundation, texts, tmp_path, mode, extra):
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = texts
    cfg = ClassifierConfig(mode=mode, batch_size=16, device="cuda", precision="bf16", **extra)
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    assert clf.runtime.device.type == "cuda" and clf.runtime.autocast_dtype == torch.bfloat16
    probs = clf.predict_proba(test_x)
    assert probs.dtype == np.float32 and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    # Three balanced classes: the majority class scores 1/3. A probe on random weights
    # still reads the keyword from the token embeddings, so every mode clears 0.8.
    assert _accuracy(clf, test_x, test_y) > 0.8
    on_cpu = load_classifier(save_classifier(clf, tmp_path / mode), device="cpu")
    assert on_cpu.runtime.device.type == "cpu"
    # bf16 autocast on the GPU against fp32 on the CPU: the same decisions, close scores.
    assert np.mean(on_cpu.predict(test_x) == clf.predict(test_x)) >= 0.95
    np.testing.assert_allclose(on_cpu.predict_proba(test_x), probs, atol=0.05)


def test_dp_sgd_runs_on_cuda(foundation, texts):
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = texts
    cfg = ClassifierConfig(
        mode="full",
        epochs=2,
        batch_size=16,
        lr=3e-3,
        patience=100,
        device="cuda",
        privacy=PrivacyConfig(enabled=True, noise_multiplier=1.0),
    )
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg, name="dp")
    spent = clf.train_info["privacy"]
    assert 0 < spent["epsilon"] < float("inf") and spent["steps"] == 12
    assert next(clf.model.parameters()).device.type == "cuda"
    assert np.isfinite(clf.predict_proba(val_x)).all()


def test_joint_finetune_learns_both_tasks_on_cuda(model_cfg, make_texts):
    intent = [make_texts(n, seed=s) for s, n in ((0, 90), (1, 30), (2, 60))]
    # A second task over the same texts: does the text name a delivery?
    delivery = [(x, ["yes" if y == "delivery" else "no" for y in ys]) for x, ys in intent]
    model, tok = scratch_foundation(model_cfg, intent[0][0] * 3, seed=0)
    tasks = [
        JointTask(name, tuple(sorted(set(s[0][1]))), *s[0], *s[1], weighting)
        for name, s, weighting in (("intent", intent, False), ("delivery", delivery, True))
    ]
    cfg = ClassifierConfig(
        epochs=12, batch_size=16, lr=3e-3, encoder_lr_scale=1.0, patience=20, device="cuda"
    )
    out = train_multitask(model, tok, tasks, cfg, "sqrt")
    assert _accuracy(out["intent"], *intent[2]) > 0.8
    assert _accuracy(out["delivery"], *delivery[2]) > 0.8


@pytest.fixture
def item_world(make_item_world):
    return make_item_world(N_ITEMS, COLD)


@pytest.mark.parametrize("loss", ["full_softmax", "sampled_softmax"])
def test_recommender_learns_in_bf16_and_reloads_on_cpu(item_world, tmp_path, loss):
    catalogue, model, tok, seqs, val_hist, val_tgt = item_world
    cfg = RecommenderConfig(
        epochs=25,
        batch_size=32,
        lr=3e-3,
        patience=25,
        loss=loss,
        n_sampled=8,
        device="cuda",
        precision="bf16",
    )
    rec = train_recommender(
        model, tok, catalogue, seqs, val_hist, val_tgt, cfg, val_metrics=validation_metrics
    )
    scores = rec.score(val_hist)  # (users, items)
    assert scores.shape == (40, N_ITEMS) and np.isfinite(scores).all()
    ndcg = evaluate_ranking(scores, val_tgt, exclude=seen_mask(val_hist, N_ITEMS)).metrics
    # The next item follows from the last one, which popularity cannot read (CPU test).
    assert ndcg["ndcg@10"] > 0.5, ndcg
    on_cpu = load_recommender(save_recommender(rec, tmp_path / loss), device="cpu")
    cpu_scores = on_cpu.score(val_hist)
    assert np.mean(cpu_scores.argmax(1) == scores.argmax(1)) >= 0.9
    np.testing.assert_allclose(cpu_scores, scores, atol=0.1 * np.abs(scores).max())

"""Downstream checks during pretraining and the checkpoint they keep (checks.py, selection.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from karpa_models.checkpoint import load_checkpoint
from karpa_models.checks import ChecksConfig, ChecksData, ProbeData, combined
from karpa_models.pretraining import load_foundation, pretrain
from karpa_models.synthetic import (
    COLOUR_NAMES,
    POSITION_NAMES,
    caption,
    synthetic_retrieval_set,
)


def colour_probe(seed: int = 5, n_train: int = 80, n_val: int = 60) -> ProbeData:
    """Captions labeled by the colour they name: a text table a probe can learn."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[list[str], list[str]]:
        colours = [str(rng.choice(COLOUR_NAMES)) for _ in range(n)]
        return [caption(c, str(rng.choice(POSITION_NAMES)), rng) for c in colours], colours

    train_texts, train_labels = draw(n_train)
    val_texts, val_labels = draw(n_val)
    return ProbeData(train_texts, train_labels, val_texts, val_labels)


def all_checks(corpus) -> ChecksData:
    return ChecksData(
        probes={"colour": colour_probe()},
        retrieval=synthetic_retrieval_set(),
        histories=[s[:-1] for s in corpus.sequences],
        targets=np.array([s[-1] for s in corpus.sequences]),
    )


def test_checks_run_at_step_zero_and_every_n_and_reach_the_callbacks(
    tmp_path, corpus, make_configs
):
    model_cfg, train_cfg = make_configs(steps=7)
    metrics: dict[int, dict[str, float]] = {}
    seen: list[tuple[int, float]] = []

    def on_metrics(values: dict[str, float], step: int) -> None:
        metrics.setdefault(step, {}).update(values)

    result = pretrain(
        corpus,
        model_cfg,
        train_cfg,
        tmp_path,
        on_metrics=on_metrics,
        checks=all_checks(corpus),
        checks_cfg=ChecksConfig(every=3, k=3, repeats=2),
        on_check=lambda step, score: seen.append((step, score)),
    )
    # Step 0 (before any update), every 3 steps, and the last step.
    assert [s for s, _ in seen] == [0, 3, 6, 7]
    for step in (0, 3, 6, 7):
        names = {k for k in metrics[step] if k.startswith("check/")}
        assert {
            "check/probe/colour",
            "check/retrieval",
            "check/next_item",
            "check/combined",
        } <= names
        assert metrics[step]["check/combined"] == pytest.approx(dict(seen)[step])
        for name in ("probe/colour", "retrieval", "next_item"):
            assert 0.0 <= metrics[step][f"check/{name}"] <= 1.0
    history = json.loads((tmp_path / "checks.json").read_text())
    assert [r["step"] for r in history] == [0, 3, 6, 7]
    assert result.checks["kept_step"] in (0, 3, 6, 7)
    kept = load_checkpoint(result.checkpoint_path)
    assert kept["step"] == result.checks["kept_step"]
    load_foundation(result.checkpoint_path)  # the kept checkpoint is a foundation


def test_the_best_checkpoint_is_kept_not_the_last(tmp_path, corpus, make_configs, monkeypatch):
    """Scripted check scores peak at step 2: foundation.pt holds step 2's weights."""
    import karpa_models.selection as selection

    scores = iter([0.2, 0.3, 0.6, 0.4, 0.1])
    weights: dict[int, dict[str, torch.Tensor]] = {}

    def scripted(model, objectives, data, cfg, runtime):
        step = len(weights)
        weights[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return {"probe/x": next(scores)}

    monkeypatch.setattr(selection, "run_checks", scripted)
    model_cfg, train_cfg = make_configs(steps=4, checkpoint_every=4)
    result = pretrain(
        corpus,
        model_cfg,
        train_cfg,
        tmp_path,
        checks=ChecksData(),
        checks_cfg=ChecksConfig(every=1),
    )
    assert result.checks["kept_step"] == 2
    assert not result.checks["start_kept"]
    assert result.checkpoint_path == tmp_path / "foundation.pt"
    kept = load_checkpoint(result.checkpoint_path)["model"]
    last = load_checkpoint(tmp_path / "checkpoint.pt")["model"]
    assert all(torch.equal(kept[k], weights[2][k]) for k in kept)
    assert not all(torch.equal(kept[k], last[k]) for k in kept)


def test_a_gain_below_min_gain_keeps_the_start(tmp_path, corpus, make_configs, monkeypatch):
    import karpa_models.selection as selection

    scores = iter([0.50, 0.52, 0.51])
    monkeypatch.setattr(selection, "run_checks", lambda *a: {"probe/x": next(scores)})
    model_cfg, train_cfg = make_configs(steps=2)
    result = pretrain(
        corpus,
        model_cfg,
        train_cfg,
        tmp_path,
        checks=ChecksData(),
        checks_cfg=ChecksConfig(every=1, min_gain=0.05),
    )
    assert result.checks["kept_step"] == 0 and result.checks["start_kept"]


def test_combination_rules():
    cfg = ChecksConfig(weights={"retrieval": 0.0, "probe/a": 2.0})
    scores = {"probe/a": 0.6, "probe/b": 0.3, "retrieval": 0.9}
    assert combined(scores, scores, cfg) == pytest.approx((2 * 0.6 + 0.3) / 3)
    worst = ChecksConfig(combine="worst_gain")
    start = {"probe/a": 0.5, "probe/b": 0.4, "retrieval": 0.1}
    assert combined(scores, start, worst) == pytest.approx(-0.1)  # probe/b lost 0.1
    with pytest.raises(ValueError, match="combine"):
        ChecksConfig(combine="max")


def test_probe_draws_are_fixed_and_k_per_class():
    probe = colour_probe()
    first, again = probe.draws(3, 2), probe.draws(3, 2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    labels = np.asarray(probe.train_labels)
    for rows in first:
        _, counts = np.unique(labels[rows], return_counts=True)
        assert counts.max() <= 3


def test_a_resumed_run_keeps_its_checks_and_a_fresh_one_starts_over(tmp_path, corpus, make_configs):
    data, cfg = all_checks(corpus), ChecksConfig(every=2, k=3, repeats=1)
    model_cfg, train_cfg = make_configs(steps=4, checkpoint_every=2)
    pretrain(corpus, model_cfg, train_cfg, tmp_path, checks=data, checks_cfg=cfg)
    seen: list[int] = []
    _, longer = make_configs(steps=6, checkpoint_every=2)
    result = pretrain(
        corpus,
        model_cfg,
        longer,
        tmp_path,
        checks=data,
        checks_cfg=cfg,
        on_check=lambda step, score: seen.append(step),
    )
    assert seen == [6]  # steps 0, 2 and 4 were checked by the first call
    assert [r["step"] for r in result.checks["history"]] == [0, 2, 4, 6]
    fresh = pretrain(
        corpus, model_cfg, train_cfg, tmp_path, resume=False, checks=data, checks_cfg=cfg
    )
    assert [r["step"] for r in fresh.checks["history"]] == [0, 2, 4]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_checks_run_on_cuda_in_bf16_and_the_kept_checkpoint_loads_on_cpu(
    tmp_path, corpus, make_configs
):
    """The checks embed with the model where it trains (bf16 autocast on the GPU) and fit
    their probes on the CPU; the checkpoint they keep must still be a CPU foundation."""
    model_cfg, train_cfg = make_configs(steps=6, device="cuda", precision="bf16")
    seen: list[tuple[int, float]] = []
    result = pretrain(
        corpus,
        model_cfg,
        train_cfg,
        tmp_path,
        checks=all_checks(corpus),
        checks_cfg=ChecksConfig(every=3, k=3, repeats=2),
        on_check=lambda step, score: seen.append((step, score)),
    )
    assert [s for s, _ in seen] == [0, 3, 6]
    assert all(0.0 <= score <= 1.0 for _, score in seen)
    assert result.checks["kept_step"] in (0, 3, 6)
    model, _, _ = load_foundation(result.checkpoint_path)  # map_location cpu
    assert model.device.type == "cpu"
    assert np.isfinite(model.embed_text(["a red mug"])).all()

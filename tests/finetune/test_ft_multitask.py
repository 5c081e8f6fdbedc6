"""Multi-task fine-tuning: one shared text tower learns two tasks at once, a head each."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.multitask import (
    JointTask,
    task_probabilities,
    task_schedule,
    train_multitask,
)
from karpa_models.finetune.saved import load_classifier, save_classifier
from karpa_models.finetune.scratch import scratch_foundation

MOODS = {"up": ("soars", "surges", "beats"), "down": ("plunges", "misses", "slumps")}
FILLER = ("acme", "shares", "today", "after", "the", "report", "news", "market")


def mood_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """n headlines, each with one word of its mood among filler words (balanced)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = sorted(MOODS)[i % 2]
        words = list(rng.choice(FILLER, size=int(rng.integers(3, 6))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(MOODS[label])))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


@pytest.fixture
def two_tasks(make_texts):
    intent = {
        s: make_texts(n, seed=i)
        for i, (s, n) in enumerate((("train", 90), ("val", 30), ("test", 60)))
    }
    mood = {
        s: mood_texts(n, seed=10 + i)
        for i, (s, n) in enumerate((("train", 40), ("val", 20), ("test", 40)))
    }
    return intent, mood


def _task(name, splits, weighting=False):
    (tx, ty), (vx, vy) = splits["train"], splits["val"]
    return JointTask(name, tuple(sorted(set(ty))), tx, ty, vx, vy, weighting)


def _accuracy(clf, texts, labels):
    pred = np.asarray(clf.classes)[clf.predict_proba(texts).argmax(1)]
    return float(np.mean(pred == np.asarray(labels)))


def test_joint_finetune_learns_both_tasks_and_leaves_the_foundation_alone(
    model_cfg, two_tasks, tmp_path
):
    intent, mood = two_tasks
    model, tok = scratch_foundation(model_cfg, (intent["train"][0] + mood["train"][0]) * 3, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = ClassifierConfig(
        epochs=12, batch_size=16, lr=3e-3, encoder_lr_scale=1.0, patience=20, device="cpu"
    )
    seen = []
    out = train_multitask(
        model,
        tok,
        [_task("intent", intent), _task("mood", mood, weighting=True)],
        cfg,
        "sqrt",
        on_metrics=lambda m, s: seen.append((s, m)),
    )
    assert set(out) == {"intent", "mood"}
    # Three and two balanced classes: chance is 1/3 and 1/2.
    assert _accuracy(out["intent"], *intent["test"]) > 0.8
    assert _accuracy(out["mood"], *mood["test"]) > 0.8
    # One shared tower, two heads of their own sizes.
    assert out["intent"].model.text is out["mood"].model.text
    assert out["intent"].model.head.out_features == 3 and out["mood"].model.head.out_features == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    info = out["mood"].train_info
    assert info["mode"] == "multitask" and info["tasks"] == ["intent", "mood"]
    assert out["intent"].train_info["task_batches"] + info["task_batches"] == info["steps"]
    # sqrt(90) vs sqrt(40): the larger task is drawn more often, not 90:40.
    assert info["task_probability"] == pytest.approx(np.sqrt(40) / (np.sqrt(90) + np.sqrt(40)))
    assert {"multitask/intent/val_macro_f1", "multitask/mood/val_macro_f1"} <= set(seen[0][1])
    best = next(m for s, m in seen if s == info["best_step"])
    assert info["best_val_mean_macro_f1"] == pytest.approx(best["multitask/val_mean_macro_f1"])
    assert info["best_val_macro_f1"] == pytest.approx(best["multitask/mood/val_macro_f1"])
    # A task's view saves and loads as an ordinary classifier, with the same outputs.
    loaded = load_classifier(save_classifier(out["mood"], tmp_path / "mood"))
    np.testing.assert_allclose(
        loaded.predict_proba(mood["test"][0]), out["mood"].predict_proba(mood["test"][0]), atol=1e-5
    )


def test_task_sampling_rules():
    np.testing.assert_allclose(task_probabilities([100, 25], "sqrt"), [2 / 3, 1 / 3])
    np.testing.assert_allclose(task_probabilities([100, 25], "proportional"), [0.8, 0.2])
    np.testing.assert_allclose(task_probabilities([100, 25], "round_robin"), [0.5, 0.5])
    assert task_schedule([100, 25], "round_robin", 5, np.random.default_rng(0)).tolist() == [
        0,
        1,
        0,
        1,
        0,
    ]
    drawn = task_schedule([100, 25], "sqrt", 3000, np.random.default_rng(0))
    assert abs(np.mean(drawn == 0) - 2 / 3) < 0.03
    with pytest.raises(ValueError, match="sampling must be one of"):
        task_probabilities([1, 2], "uniform")


def test_one_task_is_refused(model_cfg, make_texts):
    model, tok = scratch_foundation(model_cfg, make_texts(30, 0)[0], seed=0)
    (x, y) = make_texts(30, 0)
    with pytest.raises(ValueError, match="two or more"):
        train_multitask(
            model,
            tok,
            [JointTask("a", tuple(sorted(set(y))), x, y, x, y)],
            ClassifierConfig(device="cpu"),
        )


def test_activation_checkpointing_trains_the_joint_model_the_same(model_cfg, two_tasks):
    intent, mood = two_tasks
    model, tok = scratch_foundation(model_cfg, (intent["train"][0] + mood["train"][0]) * 3, seed=0)
    calls = []
    for block in model.text.encoder.blocks:  # copied with the text tower
        block.register_forward_pre_hook(lambda *_: calls.append(1))
    tasks = [_task("intent", intent), _task("mood", mood)]

    def joint(on: bool):
        calls.clear()
        cfg = ClassifierConfig(epochs=1, batch_size=16, device="cpu", activation_checkpointing=on)
        return train_multitask(model, tok, tasks, cfg, "sqrt"), len(calls)

    (kept, kept_calls), (recomputed, recomputed_calls) = joint(False), joint(True)
    steps = recomputed["intent"].train_info["steps"]
    assert recomputed_calls - kept_calls == steps * len(model.text.encoder.blocks)
    for name, splits in (("intent", intent), ("mood", mood)):
        assert not any(getattr(m, "checkpointing", False) for m in recomputed[name].model.modules())
        np.testing.assert_allclose(
            recomputed[name].predict_proba(splits["test"][0]),
            kept[name].predict_proba(splits["test"][0]),
            atol=1e-5,
        )

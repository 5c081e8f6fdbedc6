"""Text classification fine-tuning: it learns, it leaves the foundation alone, its knobs work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karpa_models.finetune.classifier import class_weights, train_classifier, val_metric
from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.scratch import scratch_foundation
from karpa_models.finetune.text import TextFeatures, length_batches
from karpa_models.runtime import init_runtime


@pytest.fixture
def data(make_texts):
    train = make_texts(90, seed=0)
    val = make_texts(30, seed=1)
    test = make_texts(60, seed=2)
    return train, val, test


@pytest.fixture
def foundation(model_cfg, data):
    (train_x, _), _, _ = data
    return scratch_foundation(model_cfg, train_x * 3, seed=0)


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_full_finetune_learns_and_leaves_the_foundation_unchanged(foundation, data):
    model, tok = foundation
    before = _state(model)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = data
    cfg = ClassifierConfig(
        mode="full",
        epochs=12,
        batch_size=16,
        lr=3e-3,
        encoder_lr_scale=1.0,
        patience=20,
        device="cpu",
    )
    seen = []
    clf = train_classifier(
        model,
        tok,
        train_x,
        train_y,
        val_x,
        val_y,
        cfg,
        on_metrics=lambda m, s: seen.append((s, m)),
        name="kw",
    )
    probs = clf.predict_proba(test_x)
    assert probs.shape == (60, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    accuracy = np.mean(np.asarray(clf.classes)[probs.argmax(1)] == np.asarray(test_y))
    # Three balanced classes: the majority class scores 1/3.
    assert accuracy > 0.8, accuracy
    assert clf.classes == ["delivery", "login", "refund"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    steps = [s for s, _ in seen]
    assert steps == sorted(steps) and {"kw/train_loss", "kw/val_macro_f1"} <= set(seen[0][1])
    info = clf.train_info
    assert info["best_step"] <= info["steps"] <= info["planned_steps"]
    assert info["best_val_macro_f1"] == max(h["value"] for h in info["history"])


def test_linear_probe_freezes_the_encoder_and_reuses_features(foundation, data):
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), (test_x, _) = data
    runtime = init_runtime("cpu")
    features = TextFeatures(model.text, tok, 24, runtime)
    cfg = ClassifierConfig(mode="linear_probe", device="cpu")
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg, features=features)
    assert clf.features is features
    for k, v in model.text.state_dict().items():
        assert torch.equal(v, clf.model.text.state_dict()[k]), k
    assert all(not p.requires_grad for p in clf.model.text.parameters())
    info = clf.train_info
    assert info["probe_l2"] in cfg.probe_l2 and info["steps"] == 0
    # The memo and a full forward pass give the same probabilities.
    fast = clf.predict_proba(test_x)
    clf.features = None
    np.testing.assert_allclose(clf.predict_proba(test_x), fast, atol=1e-4)
    # The chosen probe scores on validation what train_info says it did.
    val_pred = np.asarray(clf.classes)[clf.predict_proba(val_x).argmax(1)]
    expected = val_metric(
        np.array([clf.classes.index(y) for y in val_y]),
        np.array([clf.classes.index(y) for y in val_pred]),
        3,
        "macro_f1",
    )
    assert info["best_val_macro_f1"] == pytest.approx(expected, abs=1e-6)


def test_linear_probe_separates_separable_features():
    from karpa_models.finetune.probe import fit_linear_probe

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 8))
    y = np.repeat(np.arange(3), 40)
    x = (centres[y] + rng.normal(0, 1, (120, 8))).astype(np.float32) * 50 + 7  # any scale

    def acc(t, p):
        return float(np.mean(t == p))

    W, b, chosen = fit_linear_probe(x[::2], y[::2], x[1::2], y[1::2], 3, acc, (1e-4, 1e-2))
    pred = (torch.from_numpy(x[1::2]) @ W.T + b).argmax(-1).numpy()
    assert acc(y[1::2], pred) == chosen["val"] > 0.95


def test_early_stopping_restores_the_best_weights(foundation, data):
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = data
    cfg = ClassifierConfig(
        mode="full",
        epochs=30,
        batch_size=30,
        lr=3e-3,
        patience=2,
        evals_per_epoch=1,
        metric="accuracy",
        device="cpu",
    )
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    info = clf.train_info
    if info["early_stopped"]:
        assert info["steps"] < info["planned_steps"]
    # The restored model scores the best validation value again.
    pred = np.asarray(clf.classes)[clf.predict_proba(val_x).argmax(1)]
    assert np.mean(pred == np.asarray(val_y)) == pytest.approx(info["best_val_accuracy"])


def test_class_weights_and_metrics():
    y = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(class_weights(y, 3), [4 / 9, 4 / 3, 4 / 3])
    t, p = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    assert val_metric(t, p, 3, "accuracy") == 0.75
    # F1: class 0 = 2/3, class 1 = 0.8; class 2 is absent from both and not averaged.
    assert val_metric(t, p, 3, "macro_f1") == pytest.approx((2 / 3 + 0.8) / 2)


def test_bad_inputs_are_refused(foundation, data):
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = data
    with pytest.raises(ValueError, match="mode"):
        ClassifierConfig(mode="half")
    with pytest.raises(ValueError, match=r"contrastive_temperature must be > 0, got 0.0003 and -1"):
        ClassifierConfig(contrastive_temperature=-1.0)
    with pytest.raises(ValueError, match="two classes"):
        train_classifier(model, tok, train_x[:3], ["a"] * 3, val_x, val_y, ClassifierConfig())
    with pytest.raises(ValueError, match="not among the classes"):
        train_classifier(
            model,
            tok,
            train_x,
            train_y,
            val_x,
            val_y,
            ClassifierConfig(),
            classes=["refund", "login"],
        )


@pytest.mark.parametrize(
    "setting",
    [
        {"wise_alphas": (0.5,)},
        {"pseudo_label_share": 0.25},
        {"soup_size": 3},
        {"contrastive_first": True},
    ],
)
@pytest.mark.parametrize("mode", ["full", "linear_probe", "contrastive_probe"])
def test_lp_ft_refinements_are_refused_outside_probe_full(setting, mode):
    # Each refines probe_full's fine-tune; in another mode it would be silently ignored.
    (name,) = setting
    with pytest.raises(ValueError, match=rf"classifier.{name} applies to mode 'probe_full' only"):
        ClassifierConfig(mode=mode, **setting)
    assert getattr(ClassifierConfig(mode="probe_full", **setting), name) == setting[name]


def test_supervised_contrastive_loss_prefers_classes_together():
    from karpa_models.finetune.contrastive import supervised_contrastive_loss

    y = torch.tensor([0, 0, 1, 1])
    together = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    mixed = together[[0, 2, 1, 3]]
    assert supervised_contrastive_loss(together, y, 0.1) < supervised_contrastive_loss(
        mixed, y, 0.1
    )
    # No anchor with a positive: nothing to learn, and no NaN.
    assert supervised_contrastive_loss(together[:2], torch.tensor([0, 1]), 0.1).item() == 0.0


def test_class_balanced_contrastive_batches_give_every_text_a_partner():
    from karpa_models.finetune.contrastive import contrastive_rows

    # 77 classes x 10 texts (10-shot Banking77's shape), one class with a single text.
    y = np.repeat(np.arange(77), 10)[:-9]
    rng = np.random.default_rng(0)
    uniform = contrastive_rows(y, 64, 0, rng)
    assert len(uniform) == 64 == len(np.unique(uniform))
    for _ in range(20):
        rows = contrastive_rows(y, 64, 4, rng)
        assert list(rows) == sorted(set(rows))  # sorted, no text twice
        classes, counts = np.unique(y[rows], return_counts=True)
        assert len(classes) == 16 and (counts == 4).all()
        assert 76 not in classes  # alone in its class: no partner to draw
    # Fewer classes than the batch asks for, and classes smaller than per_class: all of them.
    y = np.array([0, 0, 0, 1, 1, 2])
    rows = contrastive_rows(y, 64, 4, rng)
    np.testing.assert_array_equal(rows, [0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="contrastive_per_class"):
        ClassifierConfig(contrastive_per_class=1)
    with pytest.raises(ValueError, match="contrastive_per_class"):
        ClassifierConfig(contrastive_batch=8, contrastive_per_class=9)


def test_contrastive_probe_tunes_a_copy_then_probes_it(foundation, data, caplog):
    model, tok = foundation
    before = _state(model)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = data
    cfg = ClassifierConfig(mode="contrastive_probe", contrastive_steps=30, device="cpu")
    with caplog.at_level("INFO", logger="karpa_models.finetune.contrastive"):
        clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    # The tuning shows its progress each quarter, with its rate, ETA and loss.
    lines = [m for m in caplog.messages if "contrastive tuning: step" in m]
    assert [line.split("step ")[1].split(" ")[0] for line in lines] == [
        "7/30",
        "14/30",
        "21/30",
        "28/30",
        "30/30",
    ]
    assert all("ETA" in line and ", loss " in line for line in lines)
    for k, v in model.text.state_dict().items():
        assert torch.equal(v, before["text." + k]), k  # the foundation is untouched
    assert any(
        not torch.equal(v, before["text." + k]) for k, v in clf.model.text.state_dict().items()
    )
    info = clf.train_info
    assert info["steps"] == 30 and info["contrastive_loss"][1] < info["contrastive_loss"][0]
    assert clf.features is not None and clf.features.text is clf.model.text
    fast = clf.predict_proba(test_x)
    clf.features = None
    np.testing.assert_allclose(clf.predict_proba(test_x), fast, atol=1e-4)
    assert np.mean(np.asarray(clf.classes)[fast.argmax(1)] == np.asarray(test_y)) > 0.6


def test_inference_batches_bound_their_padded_tokens_and_cover_every_row_once():
    from karpa_models.tokenizer import EncodedTexts

    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(3, 20, 500), rng.integers(60, 129, 80), [5000]])
    enc = EncodedTexts(ids=np.zeros((len(lengths), 5000), np.int64), lengths=lengths)
    batches = list(length_batches(enc, batch_size=256, max_tokens=4096))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))  # every row, once
    for b in batches:
        padded = len(b) * lengths[b].max()
        assert len(b) <= 256 and (padded <= 4096 or len(b) == 1)
    assert [len(b) for b in batches][-1] == 1  # a row longer than the budget goes alone
    assert len(batches[0]) == 256  # short rows still fill a batch (256 x 11 tokens)
    assert max(len(b) for b in batches if lengths[b].max() > 100) <= 4096 // 100


@pytest.mark.parametrize("mode", ["full", "contrastive_probe"])
def test_a_trained_classifier_keeps_no_gradients(foundation, data, mode):
    # A kept classifier's last gradients are a second copy of its weights (86 MB each for
    # a MiniLM encoder), and a learning curve keeps several classifiers at once.
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = data
    cfg = ClassifierConfig(mode=mode, epochs=1, contrastive_steps=3, device="cpu")
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    assert clf.train_info["steps"] > 0
    assert all(p.grad is None for p in clf.model.parameters())


@pytest.mark.parametrize("mode", ["full", "contrastive_probe"])
def test_activation_checkpointing_recomputes_in_fine_tuning_and_trains_the_same(
    foundation, data, mode
):
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), (test_x, _) = data
    calls = []
    hooks = [  # copied with the text tower into each classifier
        block.register_forward_pre_hook(lambda *_: calls.append(1))
        for block in model.text.encoder.blocks
    ]

    def fine_tune(on: bool):
        calls.clear()
        cfg = ClassifierConfig(
            mode=mode, epochs=1, contrastive_steps=3, device="cpu", activation_checkpointing=on
        )
        clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
        return clf, len(calls)

    kept, kept_calls = fine_tune(False)
    recomputed, recomputed_calls = fine_tune(True)
    for hook in hooks:
        hook.remove()
    steps = recomputed.train_info["steps"]
    layers = len(model.text.encoder.blocks)
    assert recomputed_calls - kept_calls == steps * layers  # each block once more per step
    assert not any(getattr(m, "checkpointing", False) for m in recomputed.model.modules())
    np.testing.assert_allclose(
        recomputed.predict_proba(test_x), kept.predict_proba(test_x), atol=1e-5
    )


def test_probe_full_starts_from_the_probe_then_trains_the_encoder(foundation, data):
    model, tok = foundation
    before = _state(model)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = data
    common = {"device": "cpu", "probe_normalize": True, "metric": "accuracy"}
    probe = train_classifier(
        model, tok, train_x, train_y, val_x, val_y, ClassifierConfig(mode="linear_probe", **common)
    )
    seen = []
    cfg = ClassifierConfig(
        mode="probe_full", epochs=6, batch_size=16, lr=3e-3, patience=20, **common
    )
    clf = train_classifier(
        model,
        tok,
        train_x,
        train_y,
        val_x,
        val_y,
        cfg,
        on_metrics=lambda m, s: seen.append(s),
    )
    info = clf.train_info
    # Step 0 is the probe: its validation figure is the probe's, and the first entry of
    # the early-stopping history.
    assert info["probe"]["val"] == pytest.approx(probe.train_info["best_val_accuracy"])
    assert info["probe"]["l2"] == probe.train_info["probe_l2"]
    assert info["history"][0] == {"step": 0.0, "value": pytest.approx(info["probe"]["val"])}
    assert info["best_val_accuracy"] == max(h["value"] for h in info["history"])
    assert info["steps"] > 0 and seen and min(seen) > 0
    # The encoder trained (a copy: the foundation is untouched), the head reads normalised
    # vectors as the probe did, and nothing keeps gradients or stale frozen features.
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    if info["best_step"] > 0:
        assert any(
            not torch.equal(v, before["text." + k]) for k, v in clf.model.text.state_dict().items()
        )
    assert clf.model.normalize and clf.features is None
    assert all(p.grad is None for p in clf.model.parameters())
    accuracy = np.mean(np.asarray(clf.classes)[clf.predict_proba(test_x).argmax(1)] == test_y)
    assert accuracy > 0.8, accuracy


def test_probe_full_keeps_the_probe_when_no_step_beats_it(foundation, data):
    # A learning rate far too high wrecks the encoder at once: early stopping then
    # restores step 0, the probe-started model, and its validation figure is the probe's.
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = data
    cfg = ClassifierConfig(
        mode="probe_full",
        epochs=2,
        batch_size=16,
        lr=5.0,
        encoder_lr_scale=1.0,
        patience=2,
        device="cpu",
        probe_normalize=True,
        metric="accuracy",
    )
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    info = clf.train_info
    assert info["best_step"] == 0 and info["steps"] > 0
    pred = np.asarray(clf.classes)[clf.predict_proba(val_x).argmax(1)]
    assert np.mean(pred == np.asarray(val_y)) == pytest.approx(info["probe"]["val"])
    for k, v in model.text.state_dict().items():
        assert torch.equal(v, clf.model.text.state_dict()[k]), k


def test_probe_full_contrastive_first_probes_and_fine_tunes_the_tuned_encoder(foundation, data):
    # contrastive_first: the encoder copy is tuned with the supervised contrastive loss
    # before the probe. With a fine-tune rate far too high, early stopping keeps step 0,
    # which is then the contrastive-tuned encoder and its probe, not the foundation's.
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = data
    common = {"mode": "probe_full", "epochs": 2, "batch_size": 16, "lr": 5.0, "patience": 2}
    common |= {"encoder_lr_scale": 1.0, "device": "cpu", "probe_normalize": True}
    cfg = ClassifierConfig(
        contrastive_first=True, contrastive_steps=30, metric="accuracy", **common
    )
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    info = clf.train_info
    assert info["best_step"] == 0 and info["steps"] > 0
    first, last = info["probe"]["contrastive_loss"]
    assert last < first
    tuned = clf.model.text.state_dict()
    assert any(not torch.equal(v, tuned[k]) for k, v in model.text.state_dict().items())
    pred = np.asarray(clf.classes)[clf.predict_proba(val_x).argmax(1)]
    assert np.mean(pred == np.asarray(val_y)) == pytest.approx(info["probe"]["val"])
    assert all(p.grad is None for p in clf.model.parameters())


@pytest.fixture
def lp_ft(foundation, data):
    """probe_full settings the weight-space tests share, and the plain fine-tune at them."""
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = data
    common = {"mode": "probe_full", "epochs": 2, "batch_size": 16, "lr": 3e-3, "patience": 20}
    common |= {"device": "cpu", "probe_normalize": True, "metric": "accuracy"}
    plain = train_classifier(model, tok, train_x, train_y, val_x, val_y, ClassifierConfig(**common))
    return common, plain


def test_probe_full_keeps_the_best_weight_space_mix_on_validation(foundation, data, lp_ft):
    # WiSE-FT: the fine-tune (alpha 1) and each mix with its probe-started start are
    # scored on validation; the kept model is the best of them and predicts as its
    # recorded figure says.
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = data
    common, plain = lp_ft
    cfg = ClassifierConfig(wise_alphas=(0.25, 0.5), **common)
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    wise = clf.train_info["wise"]
    assert set(wise["grid"]) == {"1.0", "0.25", "0.5"}
    assert wise["grid"]["1.0"] == pytest.approx(plain.train_info["best_val_accuracy"])
    assert wise["val"] == max(wise["grid"].values()) == clf.train_info["best_val_accuracy"]
    pred = np.asarray(clf.classes)[clf.predict_proba(val_x).argmax(1)]
    assert np.mean(pred == np.asarray(val_y)) == pytest.approx(wise["val"])
    assert all(p.grad is None for p in clf.model.parameters())
    with pytest.raises(ValueError, match=r"wise_alphas must each lie strictly between 0 and 1"):
        ClassifierConfig(wise_alphas=(0.5, 1.0), **common)


def test_probe_full_souped_is_one_model_never_below_its_best_fine_tune(foundation, data, lp_ft):
    # soup_size 2: fine-tunes at seeds 0 and 1, their weights averaged greedily on
    # validation; the first is the plain seed-0 fine-tune, and the model predicts as the
    # soup's recorded figure says.
    model, tok = foundation
    (train_x, train_y), (val_x, val_y), _ = data
    common, plain = lp_ft
    cfg = ClassifierConfig(soup_size=2, **common)
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    soup = clf.train_info["soup"]
    assert soup["seeds"] == [0, 1] and soup["kept"][0] in (0, 1) and len(soup["kept"]) in (1, 2)
    assert soup["vals"]["0"] == pytest.approx(plain.train_info["best_val_accuracy"])
    assert clf.train_info["best_val_accuracy"] >= max(soup["vals"].values())
    pred = np.asarray(clf.classes)[clf.predict_proba(val_x).argmax(1)]
    assert np.mean(pred == np.asarray(val_y)) == pytest.approx(clf.train_info["best_val_accuracy"])
    assert all(p.grad is None for p in clf.model.parameters())
    with pytest.raises(ValueError, match=r"soup_size must be >= 1 \(1: a single fine-tune\)"):
        ClassifierConfig(soup_size=0, **common)

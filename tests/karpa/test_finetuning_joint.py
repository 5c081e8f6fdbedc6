"""Which text applications share the joint multi-task fine-tune, and its store key."""

from __future__ import annotations

from karpa.config import CONFIGS, load_config
from karpa.finetuning_joint import joint_key, joint_settings
from karpa.manifests import AlignManifest, FoundationManifest

DEMO = CONFIGS / "demo.yaml"


def _finetune(*overrides: str):
    return load_config(DEMO, list(overrides)).finetune


def test_off_by_default_and_on_for_both_text_applications():
    assert joint_settings(_finetune(), "tiny") == {}
    on = joint_settings(_finetune("finetune.multitask.enabled=true"), "tiny")
    assert list(on) == ["intent", "sentiment"]
    assert on["intent"].preset == "tiny"


def test_a_private_or_missing_text_application_leaves_too_few_to_share():
    private = _finetune(
        "finetune.multitask.enabled=true",
        "finetune.sentiment.privacy.enabled=true",
        "finetune.sentiment.privacy.noise_multiplier=1.0",
    )
    assert joint_settings(private, "tiny") == {}
    alone = _finetune("finetune.multitask.enabled=true", "finetune.applications=[intent]")
    assert joint_settings(alone, "tiny") == {}


def test_the_key_follows_the_settings_that_shape_the_joint_model():
    views = AlignManifest.model_construct(fingerprint="v1")
    foundation = FoundationManifest.model_construct(fingerprint="f1", preset="tiny")
    base = joint_key(views, foundation, _finetune("finetune.multitask.enabled=true"))
    same = joint_key(views, foundation, _finetune("finetune.multitask.enabled=true"))
    assert base == same
    for change in (
        "finetune.multitask.sampling=round_robin",
        "finetune.sentiment.lr=0.001",
        "finetune.intent.max_steps=20",
    ):
        assert (
            joint_key(views, foundation, _finetune("finetune.multitask.enabled=true", change))
            != base
        ), change
    for same_model in ("finetune.intent.activation_checkpointing=true", "finetune.device=cpu"):
        assert (
            joint_key(views, foundation, _finetune("finetune.multitask.enabled=true", same_model))
            == base
        ), same_model

"""A run with a pretrained start (pretrain.text_init, or a model preset with one) fine-tunes
with the settings chosen for a start (PRETRAINED_START) wherever its config sets none; what
the config sets is kept, a run without a start is untouched, and a malformed section is
still refused by its own check."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import karpa_models
from karpa.applications.text_config import PRETRAINED_START
from karpa.config import CONFIGS, FinetuneConfig, RunConfig, load_config
from karpa.config_apps import IntentSettings
from karpa.errors import ConfigError

BANKING77 = CONFIGS / "real" / "banking77.yaml"
START = "pretrain.text_init=sentence-transformers/all-MiniLM-L6-v2"


def settings(cfg: RunConfig, app: str, keys) -> dict:
    return {k: getattr(getattr(cfg.finetune, app), k) for k in keys}


def test_a_start_gets_its_settings_and_the_resolved_config_keeps_them():
    cfg = load_config("demo", [START])
    for app, defaults in PRETRAINED_START.items():
        assert settings(cfg, app, defaults) == defaults, app
    # What is logged and validated again (a resumed or remote run) is the same config.
    assert RunConfig.model_validate(cfg.model_dump()) == cfg
    # The random-init defaults they replace differ, or the rule would do nothing.
    plain = load_config("demo")
    for app, defaults in PRETRAINED_START.items():
        assert all(settings(plain, app, [k])[k] != v for k, v in defaults.items()), app


def test_what_the_config_sets_is_kept_even_the_random_init_default(tmp_path):
    cfg = load_config(
        BANKING77,
        [START, "finetune.intent.encoder_lr_scale=0.25", "finetune.sentiment.lr=1e-3"],
        str(tmp_path),
    )
    assert cfg.finetune.intent.encoder_lr_scale == 0.25
    assert cfg.finetune.intent.contrastive_lr == PRETRAINED_START["intent"]["contrastive_lr"]
    assert cfg.finetune.sentiment.lr == 1e-3
    assert cfg.finetune.sentiment.encoder_lr_scale == 0.025
    # The preset's own YAML sets intent's curve candidates: they stay as it lists them.
    preset = yaml.safe_load(BANKING77.read_text())["finetune"]["intent"]["curve_candidates"]
    assert list(cfg.finetune.intent.curve_candidates) == preset


def test_a_run_without_a_start_is_untouched(tmp_path):
    cfg = load_config(BANKING77, [], str(tmp_path))
    given = yaml.safe_load(BANKING77.read_text())["finetune"]["intent"]
    for key in PRETRAINED_START["intent"]:
        expected = given.get(key, IntentSettings.model_fields[key].default)
        assert getattr(cfg.finetune.intent, key) == type(getattr(cfg.finetune.intent, key))(
            expected
        ), key
    assert load_config("demo").finetune.sentiment.encoder_lr_scale == 0.25


def test_a_model_preset_with_a_text_init_is_a_start(tmp_path):
    tiny = yaml.safe_load((Path(karpa_models.__file__).parent / "presets/tiny.yaml").read_text())
    tiny["model"]["text_init"] = "sentence-transformers/all-MiniLM-L6-v2"
    preset = tmp_path / "tiny_from_minilm.yaml"
    preset.write_text(yaml.safe_dump(tiny))
    cfg = load_config("demo", [f"pretrain.preset={preset}"])
    assert cfg.finetune.intent.encoder_lr_scale == 0.025


def test_sections_given_as_models_keep_what_they_set():
    cfg = RunConfig.model_validate(
        {
            "data": {"root": "data", "sources": {}},
            "pretrain": {"text_init": "some/encoder"},
            "finetune": FinetuneConfig(intent=IntentSettings(lr=1e-3)),
        }
    )
    assert cfg.finetune.intent.lr == 1e-3
    assert cfg.finetune.intent.probe_full_contrastive is True
    assert cfg.finetune.sentiment.encoder_lr_scale == 0.025


@pytest.mark.parametrize(
    ("override", "names"),
    [("finetune=[intent]", "finetune"), ("finetune.intent=3", "finetune.intent")],
)
def test_a_malformed_section_is_still_refused_by_its_own_check(override, names):
    with pytest.raises(ConfigError, match=rf"\b{names}\b"):
        load_config("demo", [START, override])

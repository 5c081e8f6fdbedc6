"""finetune.<intent|sentiment>.privacy is part of the one schema: every bad value is one
sentence naming the file, the key and the rule, when the run is loaded."""

from __future__ import annotations

import pytest

from karpa.config import CONFIGS, flatten, load_config
from karpa.errors import ConfigError

DEMO = CONFIGS / "demo.yaml"


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        (
            "finetune.intent.privacy.epsiln=3",
            "unknown key 'finetune.intent.privacy.epsiln'; did you mean "
            "'finetune.intent.privacy.target_epsilon'?",
        ),
        (
            "finetune.intent.privacy.max_grad_norm=0",
            "finetune.intent.privacy: max_grad_norm must be > 0, got 0.0",
        ),
        (
            "finetune.sentiment.privacy.noise_multiplier=0",
            "finetune.sentiment.privacy: noise_multiplier must be > 0 (no noise is no privacy), "
            "got 0.0",
        ),
        (
            "finetune.intent.privacy.target_epsilon=-2",
            "finetune.intent.privacy: target_epsilon must be > 0, got -2.0",
        ),
        (
            "finetune.intent.privacy.delta=1",
            "finetune.intent.privacy: delta must be in (0, 1), got 1.0",
        ),
        (
            "finetune.intent.privacy.accountant=gdp",
            "finetune.intent.privacy: accountant must be one of ('rdp', 'prv'), got 'gdp'",
        ),
        (
            "finetune.sentiment.privacy.enabled=true",
            "finetune.sentiment.privacy: enabled needs exactly one of noise_multiplier and "
            "target_epsilon, got noise_multiplier=None and target_epsilon=None",
        ),
        (
            "finetune.intent={mode: linear_probe, privacy: {enabled: true, noise_multiplier: 1}}",
            "finetune.intent: privacy.enabled needs mode 'full' (DP-SGD trains by gradient "
            "steps; a probe's L-BFGS fit is not private), got 'linear_probe'",
        ),
        (
            "promote.max_epsilon={recommendation: 8}",
            "promote.max_epsilon: 'recommendation' has no private fine-tune; a limit applies "
            "to intent or sentiment",
        ),
    ],
)
def test_bad_privacy_values_are_one_sentence_at_load(override, sentence):
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, [override])
    assert str(err.value) == f"{DEMO} with --set: {sentence}"


def test_privacy_settings_reach_the_recipe_and_the_logged_parameters():
    cfg = load_config(DEMO, ["finetune.intent.privacy={enabled: true, target_epsilon: 8}"])
    settings = cfg.finetune.intent.build(preset="tiny", device="cpu")
    assert settings.classifier().privacy.target_epsilon == 8.0
    assert not settings.classifier(curve=True).privacy.enabled  # the curve's probes
    flat = flatten(cfg)
    assert flat["finetune.intent.privacy.enabled"] == "True"
    assert flat["finetune.sentiment.privacy.enabled"] == "False"

"""The explanation settings of the text applications are part of the one schema: bounded,
refused at load in one sentence naming the file, the key and the rule."""

import pytest

from karpa.config import CONFIGS, load_config
from karpa.errors import ConfigError

DEMO = CONFIGS / "demo.yaml"


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        (
            "finetune.sentiment.explain_steps=1",
            "finetune.sentiment: explain_steps must be between 2 and 512, got 1",
        ),
        (
            "finetune.intent.deletion_max_k=0",
            "finetune.intent: deletion_max_k must be between 1 and 50, got 0",
        ),
        (
            "finetune.intent.explain_examples=-3",
            "finetune.intent: explain_examples must be between 0 and 10000, got -3",
        ),
    ],
)
def test_bad_explanation_settings_are_refused_at_load(override, sentence):
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, [override])
    assert str(err.value) == f"{DEMO} with --set: {sentence}"


def test_explanations_can_be_switched_off():
    cfg = load_config(DEMO, ["finetune.intent.explain_examples=0"])
    assert cfg.finetune.intent.build(preset="tiny", device="cpu").explain_examples == 0

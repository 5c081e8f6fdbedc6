"""A fine-tune tells how far it is: progress lines with rate, ETA and the last validation
metric, through logging (which Prefect shows in the run's logs)."""

from __future__ import annotations

import logging
import re

from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.scratch import scratch_foundation

LINE = re.compile(
    r"^intent/pretrained fine-tune: step (\d+)/(\d+) \((\d+)%\), [\d.,]+ steps/s, "
    r"ETA (\d+ s|\d+ min \d\d s|\?)(, val macro_f1 [\d.]+)?$"
)


def test_a_fine_tune_on_a_tiny_world_logs_progress_lines(model_cfg, make_texts, caplog):
    train_x, train_y = make_texts(60, seed=0)
    val_x, val_y = make_texts(15, seed=1)
    model, tok = scratch_foundation(model_cfg, train_x * 3, seed=0)
    cfg = ClassifierConfig(
        mode="full", epochs=2, min_steps=8, batch_size=16, patience=100, device="cpu"
    )
    with caplog.at_level(logging.INFO, logger="karpa_models"):
        train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg, name="intent/pretrained")
    lines = [r.getMessage() for r in caplog.records if "fine-tune: step" in r.getMessage()]
    assert len(lines) >= 4, caplog.text  # a line at least every quarter of the planned steps
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    steps = [int(m.group(1)) for m in matches]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    total = int(matches[0].group(2))
    assert steps[-1] == total and matches[-1].group(3) == "100"
    assert "val macro_f1" in lines[-1]

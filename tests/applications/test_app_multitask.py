"""Multi-task fine-tuning in the text applications: the joint model is a candidate in
both reports, and the main model is chosen on validation, never on test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from karpa.applications.curve_modes import on_validation, validation_metric
from karpa.applications.data import TextSplit, TextTask
from karpa.applications.intent import intent_scorer, run_intent
from karpa.applications.multitask import MULTITASK, choose_main, train_joint
from karpa.applications.sentiment import run_sentiment
from karpa.applications.text_compare import compare, fast_macro_f1
from karpa.applications.text_config import IntentConfig, SentimentConfig, TextAppConfig
from karpa.applications.text_runs import Scored, TextRun
from karpa.evaluation.classification import accuracy
from karpa_models.finetune.saved import load_classifier

MLFLOW_NAME = re.compile(r"^[/\w.\- :]*$")
FAST = dict(
    epochs=6,
    max_steps=40,
    min_steps=30,
    batch_size=16,
    lr=3e-3,
    encoder_lr_scale=1.0,
    patience=20,
    k_shots=(),  # no learning curve: these tests are about the main models
    n_resamples=100,
    robustness_sample=20,
    explain_examples=4,
    explain_steps=4,
    device="cpu",
)


@pytest.fixture(scope="module")
def joint(views_dir, foundation_ckpt, tmp_path_factory):
    settings = {"intent": IntentConfig(**FAST), "sentiment": SentimentConfig(**FAST)}
    out = tmp_path_factory.mktemp("joint")
    summary = train_joint(views_dir, foundation_ckpt, settings, "sqrt", None, out, "cpu")
    return settings, out, summary


@pytest.fixture(scope="module")
def reports(views_dir, foundation_ckpt, joint, tmp_path_factory):
    settings, folder, _ = joint
    return {
        "intent": run_intent(
            views_dir,
            foundation_ckpt,
            settings["intent"],
            tmp_path_factory.mktemp("i"),
            joint_dir=folder,
        ),
        "sentiment": run_sentiment(
            views_dir,
            foundation_ckpt,
            settings["sentiment"],
            tmp_path_factory.mktemp("s"),
            joint_dir=folder,
        ),
    }


def test_the_joint_model_trains_once_for_both_applications(joint):
    _, folder, summary = joint
    assert summary["applications"] == ["intent", "sentiment"]
    steps = {app: info["steps"] for app, info in summary["training"].items()}
    assert steps["intent"] == steps["sentiment"] > 0
    batches = {app: info["task_batches"] for app, info in summary["training"].items()}
    assert sum(batches.values()) == steps["intent"] and min(batches.values()) > 0
    # One encoder: the two saved views carry the same text tower, different heads.
    a, b = load_classifier(folder / "intent"), load_classifier(folder / "sentiment")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    text = [k for k in sa if k.startswith("text.")]
    assert text and all(torch_equal(sa[k], sb[k]) for k in text)
    assert sa["head.weight"].shape[0] == 3 and sb["head.weight"].shape[0] == 3
    assert json.loads((folder / "multitask.json").read_text())["sampling"] == "sqrt"


def torch_equal(x, y) -> bool:
    return bool((x == y).all())


@pytest.mark.parametrize("app", ["intent", "sentiment"])
def test_both_reports_show_the_joint_candidate_and_choose_on_validation(reports, app):
    report = reports[app]
    metric = report.headline["metric"]
    main = report.headline["model"]
    assert main in ("pretrained", MULTITASK)
    other = MULTITASK if main == "pretrained" else "pretrained"
    assert report.comparisons[other]["kind"] == "model"
    assert report.training[MULTITASK]["mode"] == "multitask"
    val = {m: report.metrics[f"val_{metric}/{m}"] for m in ("pretrained", MULTITASK)}
    # The chosen model is the better on validation (a tie keeps the separate one).
    assert val[main] > val[other] or (val[main] == val[other] and main == "pretrained")
    assert report.protocol["main_model"].startswith(f"main model: {main}")
    assert report.model_name == f"{app}-{main}"
    # The pretraining gain stays pretrained minus scratch, whichever model is main.
    gain = report.pretraining_gain
    assert gain is not None and gain["protocol"].startswith("pretrained minus scratch")
    card = Path(report.artifacts["model_card"]["markdown"]).read_text()
    assert "main model" in card and MULTITASK in card
    assert all(MLFLOW_NAME.match(k) for k in report.flat_metrics())
    # The saved (served, gated) model is the chosen one.
    saved = load_classifier(report.artifacts["model_dir"])
    assert saved.train_info.get("mode") == ("multitask" if main == MULTITASK else "full")


def _task(val_labels, test_labels, classes=("a", "b")):
    def split(labels):
        return TextSplit(
            [str(i) for i in range(len(labels))],
            ["t"] * len(labels),
            np.array(labels, dtype=object),
        )

    return TextTask("toy", list(classes), split(["a", "b"]), split(val_labels), split(test_labels))


def _probs(labels, classes=("a", "b"), sure=0.9):
    out = np.full((len(labels), len(classes)), (1 - sure) / (len(classes) - 1))
    for i, label in enumerate(labels):
        out[i, list(classes).index(label)] = sure
    return out


def _argmax(task):
    """A scorer that predicts each run's top class on the task's test split."""
    classes = np.asarray(task.classes, dtype=object)
    return lambda run: Scored(classes[run.probs_test.argmax(1)], {})


def test_the_choice_reads_validation_only_even_when_test_disagrees():
    val = ["a", "b", "a", "b"]
    test = ["a", "a", "b", "b"]
    flip = {"a": "b", "b": "a"}
    task = _task(val, test)
    # pretrained: right on validation, wrong on test; multitask: the other way round.
    runs = [
        TextRun("pretrained", "model", _probs(val), _probs([flip[y] for y in test])),
        TextRun("scratch", "ablation", _probs(val), _probs(test)),
        TextRun(MULTITASK, "model", _probs([flip[y] for y in val]), _probs(test)),
    ]
    fn = fast_macro_f1(task.classes)
    scored = {}
    for r in runs:
        pred = np.asarray(task.classes, dtype=object)[r.probs_test.argmax(1)]
        scored[r.name] = Scored(pred, {"macro_f1": fn(task.test.labels, pred)})
    val_metric = validation_metric(_argmax(task), fn, task.val.labels)
    choice = choose_main(runs, val_metric, len(task.val), "macro_f1")
    assert choice["chosen"] == "pretrained"
    assert choice["values"] == {"pretrained": 1.0, MULTITASK: 0.0}
    main, headline, comparisons, gain = compare(
        runs,
        scored,
        task.test.labels,
        "macro_f1",
        fn,
        TextAppConfig(n_resamples=50),
        "",
        main=choice["chosen"],
    )
    assert main == "pretrained" and headline["estimate"] == 0.0  # worse on test, still main
    assert comparisons[MULTITASK]["headline"]["estimate"] == 1.0
    # Swap the validation behaviour and the joint model is chosen; the gain stays
    # pretrained minus scratch (0.0 - 1.0 here), not multitask minus scratch.
    runs[0].probs_val, runs[2].probs_val = runs[2].probs_val, runs[0].probs_val
    choice = choose_main(runs, val_metric, len(task.val), "macro_f1")
    assert choice["chosen"] == MULTITASK
    main, _, comparisons, gain = compare(
        runs,
        scored,
        task.test.labels,
        "macro_f1",
        fn,
        TextAppConfig(n_resamples=50),
        "",
        main=choice["chosen"],
    )
    assert main == MULTITASK and "pretrained" in comparisons
    assert gain["estimate"] == pytest.approx(-1.0)


def test_the_choice_thresholds_each_run_for_out_of_scope_on_validation():
    val = ["a", "oos", "b", "oos"]
    task = _task(val, ["a", "b"])
    runs = [
        # unsure only where the message is out of scope: a threshold separates them
        TextRun(
            "pretrained",
            "model",
            np.array([[0.9, 0.1], [0.55, 0.45], [0.1, 0.9], [0.45, 0.55]]),
            _probs(["a", "b"]),
        ),
        # surest where it is out of scope: no threshold rejects those and keeps the rest
        TextRun(
            MULTITASK,
            "model",
            np.array([[0.6, 0.4], [0.95, 0.05], [0.4, 0.6], [0.05, 0.95]]),
            _probs(["a", "b"]),
        ),
    ]
    cfg = IntentConfig(oos_label="oos")
    val_metric = validation_metric(
        intent_scorer(on_validation(task), cfg), accuracy, task.val.labels
    )
    choice = choose_main(runs, val_metric, len(task.val), "accuracy")
    assert choice["values"] == {"pretrained": 1.0, MULTITASK: 0.5}
    assert choice["chosen"] == "pretrained"
    assert "4 validation examples" in choice["sentence"]
    # Without a joint run there is nothing to choose.
    assert choose_main(runs[:1], val_metric, len(task.val), "accuracy") is None

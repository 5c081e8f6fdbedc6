"""The deployed flows' parameters: a form with choices, bounds and descriptions, mapped
onto config overrides, and bad values refused before a run starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.utilities.callables import parameter_schema
from pydantic import ValidationError

from flows.deployments import failure_sentence, finetune_deployed, retrain_deployed
from flows.params import RetrainParams
from karpa.config import STAGES, load_config
from karpa.errors import SourceError

DEMO = str(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")


def _schema() -> dict:
    return parameter_schema(retrain_deployed).model_dump()["properties"]


def test_form_has_choices_bounds_defaults_and_descriptions():
    props = _schema()
    assert set(props) == set(RetrainParams.model_fields)
    assert all(p.get("description") for p in props.values())
    until = next(a for a in props["until"]["anyOf"] if "enum" in a)
    assert until["enum"] == list(STAGES)
    assert next(a for a in props["preset"]["anyOf"] if "enum" in a)["enum"] == [
        "tiny",
        "small",
        "base",
    ]
    steps = next(a for a in props["pretrain_steps"]["anyOf"] if a.get("type") == "integer")
    assert (steps["minimum"], steps["maximum"]) == (1, 1_000_000)
    app = next(a for a in props["application"]["anyOf"] if "enum" in a)
    assert app["enum"] == ["all", "intent", "sentiment", "recommendation"]
    assert props["config"]["default"] == "configs/demo.yaml"
    assert props["overrides"]["default"] == []
    assert props["overrides"]["items"]["pattern"]


def test_finetune_form_is_a_closed_subset_of_the_retrain_one():
    """The on-demand fine-tune offers its own choices; its parameters stay valid
    RetrainParams, so the summary hook resolves its config like a retrain's."""
    props = parameter_schema(finetune_deployed).model_dump()["properties"]
    assert set(props) == {"config", "data", "application", "until", "overrides"}
    assert set(props) <= set(RetrainParams.model_fields)
    assert all(p.get("description") for p in props.values())
    assert props["until"]["enum"] == ["finetune", "promote"]
    assert props["until"]["default"] == "promote"
    assert props["application"]["enum"] == ["all", "intent", "sentiment", "recommendation"]
    assert props["application"]["default"] == "all"
    cfg = RetrainParams(config=DEMO, application="sentiment", until="finetune",
                        overrides=["finetune.foundation=champion"]).resolve()
    assert cfg.finetune.foundation == "champion"
    assert cfg.finetune.applications == ["sentiment"] and cfg.until == "finetune"


def test_typed_choices_apply_as_typed_values_and_free_ones_win():
    params = RetrainParams(
        config=DEMO,
        data="/data",
        until="validate",
        preset="small",
        pretrain_steps=7,
        pretrain_lr=1e-5,
        application="intent",
        overrides=["pretrain.steps=9"],
    )
    assert params.typed_values() == {
        "until": "validate",
        "pretrain.preset": "small",
        "pretrain.steps": 7,
        "pretrain.lr": 1e-5,
        "finetune.applications": ["intent"],
    }
    cfg = params.resolve()
    assert (cfg.until, cfg.pretrain.preset, cfg.pretrain.steps, cfg.pretrain.lr) == (
        "validate",
        "small",
        9,
        1e-5,
    )
    assert cfg.finetune.applications == ["intent"]
    assert cfg.data.root == "/data"


def test_empty_typed_choices_keep_the_config():
    assert RetrainParams().typed_values() == {}
    cfg = RetrainParams(config=DEMO, overrides=["until=align"]).resolve()
    assert cfg.until == "align" and cfg.pretrain == load_config(DEMO).pretrain


@pytest.mark.parametrize(
    "bad",
    [
        {"until": "deploy"},
        {"preset": "huge"},
        {"pretrain_steps": 0},
        {"pretrain_steps": 2_000_000},
        {"pretrain_lr": 0.0},
        {"overrides": ["no equals sign"]},
        {"config": "configs/demo.json"},
        {"unknown": 1},
    ],
)
def test_bad_values_are_refused(bad):
    with pytest.raises(ValidationError):
        RetrainParams(**bad)


def test_failure_sentence_is_one_line():
    assert (
        failure_sentence(SourceError("items: file x.csv does not exist"))
        == "items: file x.csv does not exist"
    )
    bug = failure_sentence(ValueError("bad shape\n  with detail"))
    assert bug == "Unexpected ValueError: bad shape"
    assert len(failure_sentence(ValueError("x" * 2000))) == 500

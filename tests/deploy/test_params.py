"""The deployed flows' parameters: a form with choices, bounds and descriptions, mapped
onto config overrides, and bad values refused before a run starts."""

from __future__ import annotations

import pytest
from prefect.exceptions import ParameterTypeError
from prefect.utilities.callables import parameter_schema
from pydantic import ValidationError

from flows.deployments import finetune_deployed
from flows.params import RetrainParams
from flows.retrain import retrain
from karpa.config import (
    CONFIGS,
    STAGES,
    PretrainConfig,
    RunConfig,
    check_overrides,
    flatten,
    load_config,
    model_presets,
)
from karpa.errors import ConfigError, SourceError
from karpa.run_report import failure_sentence
from karpa_models.config import PRESET_DIR

DEMO = str(CONFIGS / "demo.yaml")


def _schema() -> dict:
    return parameter_schema(retrain).model_dump()["properties"]


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


def test_the_form_refuses_an_unknown_override_key_by_its_schema_alone():
    """The API checks parameters against this JSON schema before a flow run exists: the
    override pattern holds every key of the config schema and no other."""
    import jsonschema

    items = _schema()["overrides"]

    def accepted(override: str) -> bool:
        return jsonschema.Draft202012Validator(items).is_valid([override])

    settable = []
    for key, value in flatten(load_config(DEMO).model_dump(mode="json", by_alias=True)).items():
        try:
            check_overrides([f"{key}={value}"])
        except ConfigError:  # a mapping whose own keys hold a dot: set as a whole
            continue
        settable.append(f"{key}={value}")
    assert len(settable) > 100
    assert [o for o in settable if not accepted(o)] == []
    for whole in ("pretrain={steps: 3}", "finetune.intent={epochs: 2}", "data.root=/d"):
        assert accepted(whole)
    for unknown in ("pretrain.stepz=3", "finetune.intent.epochz=3", "pretrain.steps.x=1", "x=1"):
        assert not accepted(unknown), unknown


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
    cfg = RetrainParams(
        config=DEMO,
        application="sentiment",
        until="finetune",
        overrides=["finetune.foundation=champion"],
    ).resolve()
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


def test_form_bounds_and_choices_are_the_config_schemas():
    """The form repeats no number: its bounds and choices are the run config's, so the two
    cannot drift apart again."""
    props = _schema()
    config = PretrainConfig.model_json_schema()["properties"]
    for form_key, config_key in (("pretrain_steps", "steps"), ("pretrain_lr", "lr")):
        form = next(a for a in props[form_key]["anyOf"] if a.get("type") != "null")
        schema = next(a for a in config[config_key]["anyOf"] if a.get("type") != "null")
        bounds = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
        assert {b: form.get(b) for b in bounds} == {b: schema.get(b) for b in bounds}
        assert any(form.get(b) is not None for b in bounds) and form["type"] == schema["type"]
    preset = next(a for a in props["preset"]["anyOf"] if "enum" in a)["enum"]
    assert preset == list(model_presets())
    assert set(preset) == {p.stem for p in PRESET_DIR.glob("*.yaml")}
    apps = next(a for a in props["application"]["anyOf"] if "enum" in a)["enum"]
    assert apps == [
        "all",
        *RunConfig.model_json_schema()["$defs"]["FinetuneConfig"]["properties"]["applications"][
            "items"
        ]["enum"],
    ]


BAD_OVERRIDES = {
    "finetune.intent.epochz=3": (
        "unknown key 'finetune.intent.epochz'; did you mean 'finetune.intent.epochs'?"
    ),
    "finetune.sentiment.epochs=three": (
        "finetune.sentiment.epochs: Input should be a valid integer, unable to parse string "
        "as an integer (got 'three')"
    ),
    "pretrain.preset=tiniest": (
        "pretrain.preset: unknown model preset 'tiniest' (known: tiny, small, base, or a "
        "YAML file); did you mean 'tiny'?"
    ),
    "key": "'key': expected KEY=VALUE, for example ingest.batch_rows=50000",
}


@pytest.mark.parametrize("override", list(BAD_OVERRIDES))
def test_bad_overrides_are_refused_by_the_parameters_in_one_sentence(override):
    """RetrainParams and both deployed flows' parameter checks (which Prefect runs before a
    flow body starts) refuse an override that the config schema refuses, in its words."""
    with pytest.raises(ValidationError) as err:
        RetrainParams(overrides=[override])
    assert [e["msg"] for e in err.value.errors()] == [BAD_OVERRIDES[override]]
    for deployed in (retrain, finetune_deployed):
        with pytest.raises(ParameterTypeError) as err:
            deployed.validate_parameters({"overrides": [override]})
        assert str(err.value).splitlines()[1:] == [f" - overrides.0: {BAD_OVERRIDES[override]}"]


def test_unknown_preset_is_refused_by_the_form():
    with pytest.raises(ValidationError, match="Input should be 'tiny', 'small' or 'base'"):
        RetrainParams(preset="tiniest")
    with pytest.raises(ParameterTypeError, match="preset: Input should be 'tiny'"):
        retrain.validate_parameters({"preset": "tiniest"})

import pytest

from karpa.config import CONFIGS, check_overrides, flatten, load_config, run_params
from karpa.errors import ConfigError

DEMO = CONFIGS / "demo.yaml"


def test_demo_preset_loads_and_flattens():
    cfg = load_config(DEMO)
    flat = flatten(cfg)
    assert flat["data.sources.events.format"] == "parquet"
    assert flat["ingest.batch_rows"] == str(cfg.ingest.batch_rows)


def test_only_a_search_run_logs_the_search_section():
    cfg = load_config(DEMO, ["search.trials=7"])
    flat = flatten(cfg)
    searched = {k for k in flat if k.startswith("search.")}
    assert len(searched) > 10 and flat["search.trials"] == "7"
    assert run_params(cfg) == {k: v for k, v in flat.items() if k not in searched}
    assert run_params(cfg, search=True) == flat


def test_override_keeps_yaml_type():
    cfg = load_config(DEMO, ["ingest.batch_rows=50000"])
    assert cfg.ingest.batch_rows == 50000


def test_unknown_key_names_key_file_and_nearest(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("batch_rows:", "bach_rows:"))
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    message = str(err.value)
    assert str(bad) in message
    assert "'ingest.bach_rows'" in message
    assert "did you mean 'ingest.batch_rows'" in message


def test_unknown_nested_source_key_suggests():
    with pytest.raises(ConfigError, match=r"did you mean 'data.sources.items.format'"):
        load_config(DEMO, ["data.sources.items.formt=csv"])


def test_bad_value_is_one_sentence():
    with pytest.raises(ConfigError, match=r"ingest.batch_rows: .*greater than or equal"):
        load_config(DEMO, ["ingest.batch_rows=5"])


def test_unknown_table_refused():
    with pytest.raises(ConfigError, match="unknown table 'orders'"):
        load_config(DEMO, ["data.sources.orders={path: x.csv, format: csv}"])
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, ["data.sources.itmes={path: x.csv, format: csv}"])
    assert str(err.value) == (
        f"{DEMO} with --set: data.sources: unknown table 'itmes' (known tables: items, "
        "images, events, messages, news); did you mean 'items'?"
    )


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_data_root_override():
    assert load_config(DEMO, data_root="/data/x").data.root == "/data/x"


@pytest.mark.parametrize(
    ("override", "sentence"),
    [
        (
            "finetune.intent.epochz=3",
            "unknown key 'finetune.intent.epochz'; did you mean 'finetune.intent.epochs'?",
        ),
        (
            "finetune.intent.epocs=3",
            "unknown key 'finetune.intent.epocs'; did you mean 'finetune.intent.epochs'?",
        ),
        (
            "finetune.intnt.epochs=3",
            "unknown key 'finetune.intnt'; did you mean 'finetune.intent'?",
        ),
        (
            "finetune.sentiment.epochs=three",
            "finetune.sentiment.epochs: Input should be a valid integer, unable to parse string "
            "as an integer (got 'three')",
        ),
        (
            "pretrain.preset=tiniest",
            "pretrain.preset: unknown model preset 'tiniest' (known: tiny, small, base, or a "
            "YAML file); did you mean 'tiny'?",
        ),
        ("finetune.intent.epochs=0", "finetune.intent: epochs must be >= 1, got 0"),
        (
            "finetune.recommendation.loss=soft",
            "finetune.recommendation: loss must be one of ('full_softmax', 'sampled_softmax'), "
            "got 'soft'",
        ),
    ],
)
def test_nested_settings_and_presets_are_checked_at_load(override, sentence):
    """Per-application settings and the model preset are part of the one schema: refused
    when the run is loaded, naming the file, the key and the nearest valid key."""
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, [override])
    assert str(err.value) == f"{DEMO} with --set: {sentence}"


def test_set_without_equals_is_one_sentence():
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, ["pretrain.steps"])
    assert str(err.value) == (
        "--set 'pretrain.steps': expected KEY=VALUE, for example ingest.batch_rows=50000"
    )


def test_set_with_a_value_that_is_not_yaml_is_one_line():
    with pytest.raises(ConfigError) as err:
        load_config(DEMO, ["finetune.intent={k_shots: [5"])
    assert str(err.value) == (
        "--set 'finetune.intent={k_shots: [5': the value is not valid YAML "
        "(while parsing a flow sequence)"
    )


def test_bad_application_setting_in_the_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text() + "\nfinetune:\n  sentiment: {patiense: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert str(err.value) == (
        f"{bad}: unknown key 'finetune.sentiment.patiense'; did you mean "
        "'finetune.sentiment.patience'?"
    )


def test_a_preset_file_is_built_at_load(tmp_path):
    preset = tmp_path / "wide.yaml"
    preset.write_text("model:\n  text: {width: 130, heads: 4}\ntrain: {steps: 10}\n")
    with pytest.raises(
        ConfigError,
        match=r"pretrain: model preset '.*wide.yaml': "
        r"model.text.width 130 is not a multiple of heads 4",
    ):
        load_config(DEMO, [f"pretrain.preset={preset}"])
    with pytest.raises(ConfigError, match=r"pretrain.preset: model preset file .* not found"):
        load_config(DEMO, [f"pretrain.preset={tmp_path / 'none.yaml'}"])


def test_application_settings_build_the_dataclass_with_run_defaults():
    from karpa.applications.text_config import IntentConfig

    cfg = load_config(
        DEMO, ["finetune.intent={max_steps: null, k_shots: [5]}", "finetune.device=cpu"]
    )
    settings = cfg.finetune.intent.build(preset="small", device=cfg.finetune.device)
    assert isinstance(settings, IntentConfig)
    assert (settings.max_steps, settings.k_shots, settings.preset, settings.device) == (
        None,
        (5,),
        "small",
        "cpu",
    )
    assert flatten(cfg)["finetune.intent.epochs"] == str(IntentConfig().epochs)
    pinned = load_config(DEMO, ["finetune.intent.preset=tiny"]).finetune.intent
    assert pinned.build(preset="small", device="auto").preset == "tiny"


def test_typed_values_are_applied_as_values_before_the_overrides():
    cfg = load_config(
        DEMO,
        ["pretrain.steps=9"],
        values={"pretrain.steps": 7, "pretrain.lr": 1e-4, "finetune.applications": ["intent"]},
    )
    assert (cfg.pretrain.steps, cfg.pretrain.lr, cfg.finetune.applications) == (9, 1e-4, ["intent"])


def test_override_is_checked_without_its_file():
    check_overrides(["data.sources.items.path=x.csv", "pretrain.steps=5"])
    with pytest.raises(ConfigError, match=r"^overrides: unknown key 'pretrain.stepz'"):
        check_overrides(["pretrain.stepz=5"], option="overrides")
    with pytest.raises(ConfigError, match=r"data.sources.items.format: Field required"):
        check_overrides(["data.sources.items={path: x.csv}"])


def test_activation_checkpointing_reaches_training_and_keeps_the_foundations_key():
    from karpa.manifests import AlignManifest
    from karpa.pretraining.stage import pretrain_key

    views = AlignManifest(fingerprint="f" * 16, path="views", views={}, coverage={})
    plain = load_config(CONFIGS / "demo.yaml").pretrain
    on = load_config(CONFIGS / "demo.yaml", ["pretrain.activation_checkpointing=true"]).pretrain
    assert not plain.model_configs(0)[1].activation_checkpointing
    assert on.model_configs(0)[1].activation_checkpointing
    # The same updates, recomputed: a foundation trained either way is reused by the other.
    assert pretrain_key(views, on, 0) == pretrain_key(views, plain, 0)
    with pytest.raises(ConfigError, match="activation_checkpointing"):
        load_config(CONFIGS / "demo.yaml", ["pretrain.activation_checkpointing=maybe"])


@pytest.mark.parametrize(("preset", "app"), [("banking77", "intent"), ("phrasebank", "sentiment")])
def test_the_text_presets_checkpoint_their_fine_tunes_and_an_override_undoes_it(preset, app):
    def recipes(sets: list[str]):
        settings = getattr(load_config(preset, sets).finetune, app).build("small", "cpu")
        return settings.classifier(), settings.classifier(curve=True)

    assert all(r.activation_checkpointing for r in recipes([]))
    off = recipes([f"finetune.{app}.activation_checkpointing=false"])
    assert not any(r.activation_checkpointing for r in off)
    assert not load_config(CONFIGS / "demo.yaml").finetune.intent.activation_checkpointing

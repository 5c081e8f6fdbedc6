from pathlib import Path

import pytest

from karpa.config import flatten, load_config
from karpa.errors import ConfigError

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def test_demo_preset_loads_and_flattens():
    cfg = load_config(DEMO)
    flat = flatten(cfg)
    assert flat["data.sources.events.format"] == "parquet"
    assert flat["ingest.batch_rows"] == str(cfg.ingest.batch_rows)


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


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_data_root_override():
    assert load_config(DEMO, data_root="/data/x").data.root == "/data/x"

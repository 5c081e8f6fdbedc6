"""The validate stage on a generated demo world: every planted defect is caught, every row
is accounted for, personal data is scrubbed, and a re-run is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from karpa.config import CONFIGS, ValidateConfig, load_config
from karpa.demo import generate_world
from karpa.errors import StageStop
from karpa.ingest.stage import ingest_table
from karpa.manifests import raise_if_stopped
from karpa.store import Store
from karpa.validation.stage import validate

DEMO = CONFIGS / "demo.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate_world(out, scale=0.3, seed=5)
    return out


@pytest.fixture(scope="module")
def ingested(world, tmp_path_factory):
    cfg = load_config(DEMO, data_root=str(world))
    store = Store(tmp_path_factory.mktemp("store"))
    tables = {
        t: ingest_table(t, s, cfg.data.root, cfg.ingest, store) for t, s in cfg.data.sources.items()
    }
    return tables, store


@pytest.fixture(scope="module")
def validated(ingested):
    tables, store = ingested
    return validate(tables, ValidateConfig(), store)


def _quarantine(manifest, table: str) -> pd.DataFrame:
    return pd.read_parquet(Path(manifest.path) / "quarantine" / f"{table}.parquet")


@pytest.mark.slow
def test_every_planted_defect_is_caught_exactly(world, validated):
    defects = json.loads((world / "world.json").read_text())["defects"]
    untitled = set(defects["items_missing_title"]["item_ids"])

    items = _quarantine(validated, "items")
    assert set(items["_row"]) == set(defects["items_missing_title"]["rows"]) | set(
        defects["items_duplicate_id"]["rows"]
    )

    # Events and images of an item that was itself quarantined cannot be used either: they
    # are quarantined as unknown items, which is the only other reason allowed.
    raw_events = pd.read_parquet(world / "events.parquet")
    cascade = set((raw_events.index[raw_events["item_id"].isin(untitled)] + 1).tolist())
    events = _quarantine(validated, "events")
    planted = set(defects["events_unknown_item"]["rows"]) | set(
        defects["events_missing_user"]["rows"]
    )
    assert set(events["_row"]) == planted | cascade

    images = _quarantine(validated, "images")
    bad = set(defects["images_corrupt"]["image_ids"]) | set(defects["images_empty"]["image_ids"])
    image_ids = set(images["image_id"])
    assert bad <= image_ids
    assert all(i.split("__")[0] in untitled for i in image_ids - bad)
    reasons = dict(zip(images["image_id"], images["reasons"], strict=True))
    assert all("image" in reasons[i] for i in bad)

    messages = _quarantine(validated, "messages")
    assert set(messages["message_id"]) == set(defects["messages_empty_text"]["message_ids"])


@pytest.mark.slow
def test_rows_in_equal_accepted_plus_quarantined(validated):
    for table, counts in validated.counts.items():
        accepted = pd.read_parquet(validated.accepted[table].path)
        quarantined = _quarantine(validated, table)
        assert counts["rows_in"] == len(accepted) + len(quarantined), table
        assert counts["rows_accepted"] == len(accepted)


@pytest.mark.slow
def test_personal_data_scrubbed_before_anything_downstream(world, validated):
    planted = json.loads((world / "world.json").read_text())["defects"]["messages_pii"]
    text = " ".join(pd.read_parquet(validated.accepted["messages"].path)["text"].fillna(""))
    for kind in ("email", "phone", "card", "iban"):
        values = planted[kind]["values"]
        left = [v for v in values if v in text]
        assert len(left) <= 0.01 * len(values), (kind, left[:3])
        assert validated.pii["messages"][kind] >= 0.99 * planted[kind]["count"]
    assert "<EMAIL>" in text and "<CARD>" in text


@pytest.mark.slow
def test_report_summary_and_skip(ingested, validated):
    html = Path(validated.report).read_text()
    assert "item_id_known" in html and "http" not in html.replace("http-equiv", "")
    assert "events" in validated.summary_markdown
    tables, store = ingested
    again = validate(tables, ValidateConfig(), store)
    assert again.skipped and again.fingerprint == validated.fingerprint


@pytest.mark.slow
def test_stop_sentence_when_share_exceeds_threshold(ingested, tmp_path):
    tables, store = ingested
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    source = Path(__file__).resolve().parents[2] / "data_contracts"
    for path in source.glob("*.yaml"):
        text = path.read_text()
        if path.name == "events.yaml":
            text = text.replace(
                "max_quarantine_share:\n  table: 0.05", "max_quarantine_share:\n  table: 0.001"
            )
        (contracts / path.name).write_text(text)
    with pytest.raises(StageStop) as err:
        raise_if_stopped(validate(tables, ValidateConfig(contracts=str(contracts)), store))
    sentence = str(err.value)
    assert sentence.startswith("events: ")
    assert "threshold" in sentence and "quarantine" in sentence and "report:" in sentence
    assert "\n" not in sentence

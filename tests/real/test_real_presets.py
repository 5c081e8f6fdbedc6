"""Every real-data preset ingests and validates the shared public datasets in full: every
row accounted for, no stop, and the label sets and counts their SOURCE.txt states."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from karpa.config import CONFIGS, load_config
from karpa.datasets.registry import REGISTRY
from karpa.ingest.stage import ingest_table
from karpa.store import Store
from karpa.validation.stage import validate

ROOT = Path(__file__).resolve().parents[2]
PRESETS = CONFIGS / "real"
# preset -> the shared dataset folder it reads
SHARED_FOLDER = {
    "banking77": "banking77",
    "phrasebank": "financial_phrasebank",
    "phrasebank_allagree": "financial_phrasebank",
    "movielens": "movielens_latest_small",
    "mnist": "mnist_test",
}
_RESULTS: dict[str, tuple] = {}


def _validated(name: str, shared: Path, tmp_path_factory) -> tuple:
    """(config, ingested tables, validate manifest) of a preset on the full shared data,
    computed once per session: several tests look at the same run."""
    if name not in _RESULTS:
        cfg = load_config(PRESETS / f"{name}.yaml", data_root=str(shared / SHARED_FOLDER[name]))
        store = Store(tmp_path_factory.mktemp(f"store-{name}"))
        tables = {
            t: ingest_table(t, s, cfg.data.root, cfg.ingest, store)
            for t, s in cfg.data.sources.items()
        }
        _RESULTS[name] = cfg, tables, validate(tables, cfg.validate_, store)
    return _RESULTS[name]


def _table(manifest) -> pd.DataFrame:
    return pq.read_table(manifest.path).to_pandas()


def test_every_preset_loads():
    names = sorted(p.stem for p in PRESETS.glob("*.yaml"))
    assert names == [
        "banking77",
        "clinc150",
        "mnist",
        "movielens",
        "movielens_100k",
        "phrasebank",
        "phrasebank_allagree",
    ]
    for name in names:
        cfg = load_config(PRESETS / f"{name}.yaml")
        assert cfg.pretrain.preset == "small" and cfg.data.sources


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHARED_FOLDER))
def test_preset_ingests_and_validates_everything(name, shared_datasets, tmp_path_factory):
    _, tables, manifest = _validated(name, shared_datasets, tmp_path_factory)
    assert manifest.stop is None, manifest.stop
    for table, counts in manifest.counts.items():
        assert counts["rows_in"] == tables[table].rows
        assert counts["rows_in"] == counts["rows_accepted"] + counts["rows_quarantined"]
        assert counts["rows_quarantined"] == 0, (table, counts)


@pytest.mark.slow
def test_banking77_intents_and_official_split(shared_datasets, tmp_path_factory):
    cfg, tables, _ = _validated("banking77", shared_datasets, tmp_path_factory)
    messages = _table(tables["messages"])
    categories = json.loads((shared_datasets / "banking77" / "categories.json").read_text())
    assert set(messages["intent"]) == set(categories) and len(categories) == 77
    split = messages["message_id"].str.extract(cfg.data.sources["messages"].split_from_id)
    assert split["split"].value_counts().to_dict() == {"train": 10003, "test": 3080}
    per_class = messages[split["split"] == "test"]["intent"].value_counts()
    assert per_class.min() == per_class.max() == 40


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("phrasebank", {"neutral": 2879, "negative": 604, "positive": 1363}),
        ("phrasebank_allagree", {"neutral": 1391, "negative": 303, "positive": 570}),
    ],
)
def test_phrasebank_sentiments_match_source(name, expected, shared_datasets, tmp_path_factory):
    _, tables, _ = _validated(name, shared_datasets, tmp_path_factory)
    news = _table(tables["news"])
    assert news["sentiment"].value_counts().to_dict() == expected
    assert news["headline"].str.len().min() > 0 and not news["headline"].str.contains("@").any()


@pytest.mark.slow
def test_phrasebank_allagree_sentences_are_in_50agree(shared_datasets, tmp_path_factory):
    # SOURCE.txt: every AllAgree pair appears in 50Agree read as latin-1; this checks both
    # encodings are decoded as the presets declare.
    every = _table(_validated("phrasebank", shared_datasets, tmp_path_factory)[1]["news"])
    agreed = _table(_validated("phrasebank_allagree", shared_datasets, tmp_path_factory)[1]["news"])
    pairs = set(zip(every["headline"], every["sentiment"], strict=True))
    assert all(p in pairs for p in zip(agreed["headline"], agreed["sentiment"], strict=True))


@pytest.mark.slow
def test_movielens_counts_and_item_text(shared_datasets, tmp_path_factory):
    _, tables, _ = _validated("movielens", shared_datasets, tmp_path_factory)
    events = _table(tables["events"])
    items = _table(tables["items"]).set_index("item_id")
    assert len(events) == 100836 and events["user_id"].nunique() == 610
    assert events["item_id"].nunique() == 9724 and len(items) == 9742
    assert set(events["value"].unique()) <= {x / 2 for x in range(1, 11)}
    assert events["ts"].min().year == 1996 and events["ts"].max().year == 2018
    toy = items.loc["1"]
    assert toy["title"] == "Toy Story (1995)" and toy["category"] == "Adventure"
    assert toy["description"].startswith(
        "Genres: Adventure, Animation, Children, Comedy, Fantasy. Tags: "
    )
    assert "pixar" in toy["description"].lower()
    assert items["description"].str.contains("Tags: ").sum() > 1000


@pytest.mark.slow
def test_mnist_images_and_digit_items(shared_datasets, tmp_path_factory):
    _, tables, _ = _validated("mnist", shared_datasets, tmp_path_factory)
    images = _table(tables["images"])
    items = _table(tables["items"])
    assert len(images) == 10000 and set(images["width"]) == set(images["height"]) == {28}
    labels = images["item_id"].str.removeprefix("label-").astype(int)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert labels.value_counts().sort_index().tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert dict(zip(items["item_id"], items["title"], strict=True))["label-7"] == "seven"


def test_registry_pins_the_shared_files(shared_datasets):
    """The registry's checksums are those of the shared copies and agree with SOURCE.txt."""
    checked = 0
    for name, dataset in REGISTRY.items():
        folder = shared_datasets / name
        if not folder.is_dir():
            continue
        source = (folder / "SOURCE.txt").read_text()
        for remote in dataset.files:
            if remote.unpack:  # the shared copy holds the members, not the archive
                continue
            digest = hashlib.sha256((folder / remote.name).read_bytes()).hexdigest()
            assert remote.sha256 == digest, f"{name}/{remote.name}"
            prefix = re.search(rf"{re.escape(remote.name)}\s+\d+ bytes\s+sha256=(\w+)", source)
            assert prefix and digest.startswith(prefix.group(1)), f"{name}/{remote.name}"
            checked += 1
    assert checked == 13  # banking77 5, financial_phrasebank 6, mnist_test 2

"""The example configs a new user starts from (configs/examples/): each loads, and a few
hand-made rows in the layout its comments describe go through ingest and validation with
every row accounted for."""

from __future__ import annotations

from pathlib import Path

import pytest

from karpa.config import CONFIGS, load_config
from karpa.ingest.stage import ingest_table
from karpa.store import Store
from karpa.validation.stage import validate

EXAMPLES = CONFIGS / "examples"


def _ingest_and_validate(config: str, folder: Path):
    cfg = load_config(EXAMPLES / config, data_root=str(folder))
    store = Store(folder / "store")
    manifests = {
        table: ingest_table(table, spec, cfg.data.root, cfg.ingest, store)
        for table, spec in cfg.data.sources.items()
    }
    result = validate(manifests, cfg.validate_, store)
    for counts in result.counts.values():
        assert counts["rows_in"] == counts["rows_accepted"] + counts["rows_quarantined"]
    return cfg, result


@pytest.mark.parametrize("name", ["own_intents.yaml", "own_ratings.yaml"])
def test_example_config_loads(name):
    cfg = load_config(EXAMPLES / name)
    assert cfg.data.sources and len(cfg.finetune.applications) == 1


def test_own_intents_example_reads_a_csv_without_ids_or_times(tmp_path):
    (tmp_path / "train.csv").write_text(
        "utterance,label\n"
        "where is my new card,card_arrival\n"
        "I lost my card yesterday,card_lost\n"
        "please give me my money back,refund_request\n"
        "what is the weather like,oos\n"
        "my card still has not come,\n"  # unlabeled: accepted, no intent
        "i want a refund,refund_reqest\n"  # a typo of a label: quarantined
    )
    cfg, result = _ingest_and_validate("own_intents.yaml", tmp_path)
    assert cfg.finetune.applications == ["intent"]
    assert result.counts["messages"] == {"rows_in": 6, "rows_accepted": 5, "rows_quarantined": 1}


def test_own_ratings_example_reads_ratings_with_unix_times_and_items(tmp_path):
    (tmp_path / "items.csv").write_text(
        "id,name,genre\ni1,Blue Lagoon,drama\ni2,Red Planet,sci-fi\ni3,Green Mile,drama\n"
    )
    (tmp_path / "ratings.csv").write_text(
        "user,item,rating,rated_at\n"
        "u1,i1,4,1767225600\n"
        "u1,i2,5,1767312000\n"
        "u2,i2,3,1767398400\n"
        "u2,i3,4.5,1767484800\n"
        "u3,i9,2,1767571200\n"  # an item that is not in items.csv: quarantined
    )
    cfg, result = _ingest_and_validate("own_ratings.yaml", tmp_path)
    assert cfg.finetune.applications == ["recommendation"]
    assert result.counts["items"] == {"rows_in": 3, "rows_accepted": 3, "rows_quarantined": 0}
    assert result.counts["events"] == {"rows_in": 5, "rows_accepted": 4, "rows_quarantined": 1}

"""The dataset-layout readers on tiny hand-made files (no shared data needed)."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from karpa.config import CONFIGS, IngestConfig, SourceSpec, load_config
from karpa.errors import ConfigError, SourceError
from karpa.ingest.stage import ingest_table
from karpa.store import Store
from karpa.validation.stage import validate

CFG = IngestConfig(batch_rows=1000)
PRESETS = CONFIGS / "real"


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


def _read(manifest) -> pd.DataFrame:
    return pq.read_table(manifest.path).to_pandas()


def _ingest_preset(preset: str, root: Path, store: Store):
    cfg = load_config(PRESETS / preset, data_root=str(root))
    tables = {
        t: ingest_table(t, s, cfg.data.root, cfg.ingest, store) for t, s in cfg.data.sources.items()
    }
    return cfg, tables


def test_clinc_json_keeps_split_in_id_and_bad_pairs_as_rows(tmp_path, store, real_files):
    path = real_files["clinc"](tmp_path)
    data = json.loads(path.read_text())
    data["train"].append(["only text"])
    path.write_text(json.dumps(data))
    spec = SourceSpec(
        path="data_full.json", format="clinc_json", constants={"ts": "2019-11-01T00:00:00Z"}
    )
    df = _read(ingest_table("messages", spec, str(tmp_path), CFG, store))
    assert len(df) == sum(len(v) for v in data.values())
    assert df["message_id"].is_unique
    assert {"train-1", "val-1", "test-9", "oos_test-2"} <= set(df["message_id"])
    assert set(df["intent"].dropna()) == {"balance", "transfer", "pin_change", "oos"}
    bad = df[df["_ingest_error"].notna()]
    assert list(bad["message_id"]) == ["train-19"]
    assert "entry train[18] is not a [text, intent] pair" in bad["_ingest_error"].iloc[0]
    assert list(df["_row"]) == list(range(1, len(df) + 1))


def test_clinc_json_that_is_not_an_object_is_one_sentence(tmp_path, store):
    (tmp_path / "data_full.json").write_text("[1, 2]")
    spec = SourceSpec(path="data_full.json", format="clinc_json")
    with pytest.raises(SourceError, match=r"data_full\.json: expected a JSON object of splits"):
        ingest_table("messages", spec, str(tmp_path), CFG, store)


def test_clinc150_preset_validates_and_its_split_hint_reads_the_ids(tmp_path, store, real_files):
    real_files["clinc"](tmp_path)
    cfg, tables = _ingest_preset("clinc150.yaml", tmp_path, store)
    manifest = validate(tables, cfg.validate_, store)
    counts = manifest.counts["messages"]
    assert counts["rows_in"] == counts["rows_accepted"] + counts["rows_quarantined"] == 39
    assert manifest.stop is None
    ids = _read(tables["messages"])["message_id"]
    found = ids.str.extract(cfg.data.sources["messages"].split_from_id)["split"]
    assert found.notna().all()
    assert (found[ids.str.startswith("oos_val")] == "val").all()


def test_at_label_splits_on_the_last_at(tmp_path, store):
    lines = [
        "Mail ir@acme.fi for the report , said the CEO .@neutral",
        "Profit rose to EUR 5 mn @ Q3 .@positive",
        "",
        "A line without a label",
        "Sales fell .@",
        "Caf\xe9 chain Ab expands .@positive",
    ]
    (tmp_path / "s.txt").write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    spec = SourceSpec(
        path="s.txt",
        format="at_label",
        encoding="latin-1",
        columns={"headline": "text", "sentiment": "label"},
        row_id="news_id",
    )
    df = _read(ingest_table("news", spec, str(tmp_path), CFG, store))
    # The e-mail address is scrubbed at ingestion; its '@' did not split the line.
    assert list(df["headline"][:2]) == [
        "Mail <EMAIL> for the report , said the CEO .",
        "Profit rose to EUR 5 mn @ Q3 .",
    ]
    assert list(df["sentiment"][:2]) == ["neutral", "positive"]
    assert list(df["_row"]) == [1, 2, 4, 5, 6]  # line numbers survive the blank line
    assert list(df["news_id"]) == ["s-1", "s-2", "s-4", "s-5", "s-6"]
    assert "line 4 has no '@'" in df["_ingest_error"].iloc[2]
    assert "line 5 has an empty label" in df["_ingest_error"].iloc[3]
    assert df["headline"].iloc[4] == "Caf\xe9 chain Ab expands ."


def test_at_label_bad_utf8_byte_costs_one_row(tmp_path, store):
    (tmp_path / "s.txt").write_bytes(b"Good .@positive\nCaf\xe9 .@neutral\n")
    spec = SourceSpec(
        path="s.txt", format="at_label", columns={"headline": "text"}, row_id="news_id"
    )
    df = _read(ingest_table("news", spec, str(tmp_path), CFG, store))
    assert len(df) == 2 and pd.isna(df["_ingest_error"].iloc[0])
    assert "line 2 is not valid utf-8" in df["_ingest_error"].iloc[1]


def _digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def test_idx_images_become_png_rows_and_label_items(tmp_path, store, real_files):
    images, labels = _digits(23)
    real_files["idx"](tmp_path / "imgs-idx3-ubyte.gz", images)
    real_files["idx"](tmp_path / "lbls-idx1-ubyte", labels)  # plain, not gzipped
    spec = SourceSpec(
        path="imgs-idx3-ubyte.gz",
        format="idx_images",
        with_files={"labels": "lbls-idx1-ubyte"},
        constants={"category": "digit"},
    )
    out = _read(ingest_table("images", spec, str(tmp_path), IngestConfig(batch_rows=1000), store))
    assert len(out) == 23 and out["image_id"].is_unique
    assert out["item_id"].iloc[7] == "label-7" and out["_row"].iloc[-1] == 23
    with Image.open(io.BytesIO(out["bytes"].iloc[5])) as img:
        assert img.format == "PNG" and img.mode == "L" and img.size == (28, 28)
        assert np.array_equal(np.asarray(img), images[5])
    items = _read(ingest_table("items", spec, str(tmp_path), CFG, store))
    assert list(items["title"]) == [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
    ]
    assert set(items["item_id"]) == set(out["item_id"])
    assert items["_source"].str.endswith("lbls-idx1-ubyte").all()


def test_idx_images_pass_the_images_contract(tmp_path, store, real_files):
    images, labels = _digits(30)
    real_files["idx"](tmp_path / "t10k-images-idx3-ubyte.gz", images)
    real_files["idx"](tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    cfg, tables = _ingest_preset("mnist.yaml", tmp_path, store)
    manifest = validate(tables, cfg.validate_, store)
    assert manifest.counts["images"] == {"rows_in": 30, "rows_accepted": 30, "rows_quarantined": 0}
    assert manifest.counts["items"]["rows_accepted"] == 10 and manifest.stop is None


def test_idx_label_without_a_name_is_quarantined_not_lost(tmp_path, store, real_files):
    images, _ = _digits(3)
    real_files["idx"](tmp_path / "i.gz", images)
    real_files["idx"](tmp_path / "l.gz", np.array([0, 1, 2]))
    spec = SourceSpec(
        path="i.gz",
        format="idx_images",
        with_files={"labels": "l.gz"},
        label_names=["shirt", "shoe"],
        constants={"category": "clothing"},
    )
    items = _read(ingest_table("items", spec, str(tmp_path), CFG, store))
    assert list(items["title"][:2]) == ["shirt", "shoe"] and pd.isna(items["title"].iloc[2])
    assert "label 2 has no name" in items["_ingest_error"].iloc[2]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("count", r"i\.gz: 4 images but l\.gz has 3 labels"),
        ("truncated", r"i\.gz: truncated IDX images: header says 4, file holds 2"),
        ("not_idx", r"i\.gz: not an IDX file"),
        ("labels_as_images", r"i\.gz: IDX file has 1 dimensions, expected 3"),
    ],
)
def test_bad_idx_files_give_one_sentence(tmp_path, store, real_files, case, expected):
    images, _ = _digits(4)
    real_files["idx"](tmp_path / "i.gz", images)
    real_files["idx"](tmp_path / "l.gz", np.arange(4 if case != "count" else 3))
    if case == "truncated":
        raw = gzip.decompress((tmp_path / "i.gz").read_bytes())
        (tmp_path / "i.gz").write_bytes(gzip.compress(raw[: 16 + 2 * 784 + 100]))
    elif case == "not_idx":
        (tmp_path / "i.gz").write_bytes(gzip.compress(b"hello, not an idx file"))
    elif case == "labels_as_images":
        real_files["idx"](tmp_path / "i.gz", np.arange(4))
    spec = SourceSpec(path="i.gz", format="idx_images", with_files={"labels": "l.gz"})
    with pytest.raises(SourceError, match=expected) as err:
        ingest_table("images", spec, str(tmp_path), CFG, store)
    assert "\n" not in str(err.value)


def test_movielens_items_join_movies_and_tags(tmp_path, store):
    (tmp_path / "movies.csv").write_text(
        "movieId,title,genres\n"
        '1,"American President, The (1995)",Comedy|Drama|Romance\n'
        "2,Nothing Known (2001),(no genres listed)\n"
        "3,Heat (1995),Action|Crime\n"
    )
    (tmp_path / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n"
        '1,1,politics,1\n2,1,Politics,2\n3,1,"romance, light",3\n4,1,politics,4\n'
        "5,3,De Niro,5\n"
    )
    spec = SourceSpec(path="movies.csv", format="movielens_items", with_files={"tags": "tags.csv"})
    df = _read(ingest_table("items", spec, str(tmp_path), CFG, store)).set_index("item_id")
    assert df.loc["1", "title"] == "American President, The (1995)"
    assert df.loc["1", "description"] == (
        "Genres: Comedy, Drama, Romance. Tags: politics, romance, light."
    )
    assert df.loc["1", "category"] == "Comedy"
    assert json.loads(df.loc["1", "attributes"]) == {
        "genres": ["Comedy", "Drama", "Romance"],
        "year": 1995,
    }
    assert df.loc["2", "category"] == "unknown"
    assert df.loc["2", "description"] == "Genres: none listed."
    assert df.loc["3", "description"] == "Genres: Action, Crime. Tags: De Niro."
    assert df["_ingest_error"].isna().all() and list(df["_row"]) == [1, 2, 3]


def test_movielens_items_without_tags_file(tmp_path, store):
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,Heat (1995),Action|Crime\n")
    df = _read(
        ingest_table(
            "items",
            SourceSpec(path="movies.csv", format="movielens_items"),
            str(tmp_path),
            CFG,
            store,
        )
    )
    assert df["description"].iloc[0] == "Genres: Action, Crime."


def test_movielens_100k_preset_validates(tmp_path, store, real_files):
    real_files["ml100k"](tmp_path)
    cfg, tables = _ingest_preset("movielens_100k.yaml", tmp_path, store)
    items = _read(tables["items"]).set_index("item_id")
    assert items.loc["3", "title"] == "Café Society (1995)"  # latin-1 decoded
    assert items.loc["1", "category"] == "Adventure"
    assert items.loc["1", "description"] == "Genres: Adventure, Drama."
    assert json.loads(items.loc["1", "attributes"])["release_date"] == "01-Jan-1995"
    events = _read(tables["events"])
    assert len(events) == 60 and set(events["event_type"]) == {"rating"}
    assert events["ts"].min() > pd.Timestamp("1998-01-01", tz="UTC")
    manifest = validate(tables, cfg.validate_, store)
    assert manifest.counts["items"]["rows_accepted"] == 8
    assert manifest.counts["events"]["rows_accepted"] == 60 and manifest.stop is None


def test_movielens_100k_short_line_is_quarantined_with_its_line(tmp_path, store, real_files):
    real_files["ml100k"](tmp_path)
    with (tmp_path / "u.item").open("ab") as f:
        f.write(b"99|Short line|01-Jan-1995\n")
    cfg, tables = _ingest_preset("movielens_100k.yaml", tmp_path, store)
    items = _read(tables["items"]).set_index("item_id")
    assert "line 9 has 3 '|'-separated fields, expected 24" in items.loc["99", "_ingest_error"]
    manifest = validate(tables, cfg.validate_, store)
    assert manifest.counts["items"] == {"rows_in": 9, "rows_accepted": 8, "rows_quarantined": 1}
    # One bad movie in nine is above the contract's 5%: the run stops, naming file and row.
    assert manifest.stop.startswith("items: rule ingest_error")
    assert "u.item row 9" in manifest.stop


def test_headerless_csv_takes_names_from_config(tmp_path, store):
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\n2\t20\t3\t891717742\n")
    spec = SourceSpec(
        path="u.data",
        format="csv",
        delimiter="\t",
        header=["user_id", "item_id", "value", "ts"],
        timestamp_unit="s",
        constants={"event_type": "rating"},
    )
    df = _read(ingest_table("events", spec, str(tmp_path), CFG, store))
    assert list(df["user_id"]) == ["1", "2"] and list(df["value"]) == [4.0, 3.0]
    assert df["ts"].iloc[0] == pd.Timestamp(881250949, unit="s", tz="UTC")
    assert list(df["_row"]) == [1, 2]


@pytest.mark.parametrize(
    ("table", "spec", "expected"),
    [
        (
            "images",
            dict(path="i.gz", format="idx_images"),
            r"with_files: 'idx_images' needs a 'labels' file",
        ),
        (
            "images",
            dict(path="i.gz", format="idx_images", with_files={"labels": "l.gz", "x": "y"}),
            r"with_files: 'idx_images' reads no 'x' file \(roles: labels\)",
        ),
        (
            "events",
            dict(path="i.gz", format="idx_images", with_files={"labels": "l.gz"}),
            r"data.sources.events: format 'idx_images' provides images, items, not events",
        ),
        (
            "items",
            dict(path="i.gz", format="csv", with_files={"tags": "t.csv"}),
            r"with_files: format 'csv' reads one file at a time",
        ),
        ("news", dict(path="sub", format="at_label"), r"path: format 'at_label' reads named files"),
        (
            "images",
            dict(path="i.gz", format="idx_images", with_files={"labels": "*.gz"}),
            r"with_files.labels: '\*.gz' matches 2 files; name exactly one",
        ),
    ],
)
def test_format_misuse_is_one_sentence(tmp_path, store, real_files, table, spec, expected):
    (tmp_path / "sub").mkdir()
    real_files["idx"](tmp_path / "i.gz", np.zeros((1, 28, 28)))
    real_files["idx"](tmp_path / "l.gz", np.zeros(1))
    with pytest.raises(SourceError, match=expected):
        ingest_table(table, SourceSpec(**spec), str(tmp_path), CFG, store)


def test_split_hint_must_be_a_regex_with_a_split_group():
    path = PRESETS / "banking77.yaml"
    with pytest.raises(ConfigError, match=r"split_from_id: .*named group `split`"):
        load_config(path, ["data.sources.messages.split_from_id=^(train|test)-"])
    with pytest.raises(ConfigError, match=r"split_from_id: .*not a valid regular expression"):
        load_config(path, ["data.sources.messages.split_from_id=(?P<split>"])

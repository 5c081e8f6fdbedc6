"""world.json["defects"] lists exactly what was planted in the files, no more, no less."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from karpa.demo import generate_world
from karpa.demo.pii import iban_valid, luhn_valid

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
CARD = re.compile(r"\b\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,}(?: ?[A-Z0-9]{1,4})?\b")
PHONE = re.compile(r"\+\d{1,2} [\d ()]{9,}\d|\(\d{3}\) \d{3}-\d{4}|\b07700 \d{6}\b")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("world")
    return out, generate_world(out, scale=0.2, seed=7)["defects"]


def test_item_defects_match_items_csv(world: tuple[Path, dict]) -> None:
    out, defects = world
    items = pd.read_csv(out / "items.csv", keep_default_na=False)
    items.index += 1  # 1-based data rows
    assert list(items.index[items.title == ""]) == defects["items_missing_title"]["rows"]
    assert list(items.item_id[items.title == ""]) == defects["items_missing_title"]["item_ids"]
    missing_desc = items.description == ""
    assert list(items.index[missing_desc]) == defects["items_missing_description"]["rows"]
    dup = defects["items_duplicate_id"]
    repeated = items[items.item_id.duplicated(keep="first")]
    assert sorted(repeated.index) == sorted(dup["rows"])
    assert sorted(repeated.item_id) == sorted(dup["item_ids"])
    for item_id, first, row in zip(dup["item_ids"], dup["first_rows"], dup["rows"], strict=True):
        assert items.item_id[first] == items.item_id[row] == item_id
        assert first < row
        assert items.created_at[row] > items.created_at[first]


def test_image_defects_match_the_folder(world: tuple[Path, dict]) -> None:
    out, defects = world
    unreadable, empty = set(), set()
    for path in (out / "images").iterdir():
        data = path.read_bytes()
        if not data:
            empty.add(f"images/{path.name}")
            continue
        try:
            Image.open(io.BytesIO(data)).load()
        except Exception:  # any decoder failure marks the file as corrupt
            unreadable.add(f"images/{path.name}")
    assert unreadable == set(defects["images_corrupt"]["files"])
    assert empty == set(defects["images_empty"]["files"])
    assert defects["images_corrupt"]["count"] == len(unreadable)


def test_event_defects_match_events_parquet(world: tuple[Path, dict]) -> None:
    out, defects = world
    events = pd.read_parquet(out / "events.parquet")
    events.index += 1
    known = set(pd.read_csv(out / "items.csv").item_id)
    unknown = events[~events.item_id.isin(known)]
    assert list(unknown.index) == defects["events_unknown_item"]["rows"]
    assert list(unknown.item_id) == defects["events_unknown_item"]["item_ids"]
    assert list(events.index[events.user_id.isna()]) == defects["events_missing_user"]["rows"]


def test_message_defects_match_messages_jsonl(world: tuple[Path, dict]) -> None:
    out, defects = world
    messages = pd.read_json(out / "messages.jsonl", lines=True, dtype=False)
    messages.index += 1
    empty = messages[messages.text == ""]
    assert list(empty.message_id) == defects["messages_empty_text"]["message_ids"]
    assert list(empty.index) == defects["messages_empty_text"]["rows"]
    assert empty.intent.isna().all()

    pii = defects["messages_pii"]
    assert set(pii) == {"email", "phone", "card", "iban"}
    text = messages.set_index("message_id").text
    for kind, entry in pii.items():
        assert entry["count"] == len(entry["message_ids"]) == len(entry["values"]) > 0
        for message_id, value in zip(entry["message_ids"], entry["values"], strict=True):
            assert value in text[message_id], (kind, message_id)
    assert all(luhn_valid(re.sub(r"\D", "", v)) for v in pii["card"]["values"])
    assert all(iban_valid(v) for v in pii["iban"]["values"])
    # Each pattern finds exactly the planted messages: nothing else looks like PII. IBANs
    # go first: a German one holds sixteen digits in groups of four, just like a card.
    without_ibans = messages.text.str.replace(IBAN, "", regex=True)
    for kind, pattern in (("email", EMAIL), ("card", CARD), ("iban", IBAN), ("phone", PHONE)):
        texts = without_ibans if kind == "card" else messages.text
        found = set(messages.message_id[texts.map(lambda t, p=pattern: bool(p.search(t)))])
        assert found == set(pii[kind]["message_ids"]), kind


def test_label_noise_is_recorded(tmp_path: Path) -> None:
    manifest = generate_world(tmp_path, scale=0.1, seed=2)
    noise = manifest["noise"]["messages_label_noise"]
    messages = pd.read_json(tmp_path / "messages.jsonl", lines=True, dtype=False)
    labels = messages.set_index("message_id").intent
    assert noise["message_ids"]
    for message_id, truth in zip(noise["message_ids"], noise["true_intents"], strict=True):
        assert labels[message_id] not in (None, truth)
    news = json.loads((tmp_path / "world.json").read_text())["noise"]["news_label_noise"]
    assert len(news["news_ids"]) == len(news["true_sentiments"]) > 0

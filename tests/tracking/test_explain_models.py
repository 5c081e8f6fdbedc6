"""Explanations through the registered pyfunc models and `karpa predict --explain`: the
`explain` predict param (MLflow 3 params schema), and one sentence for a version that
cannot explain."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from karpa.tracking.models import (
    APP_PARAMS,
    CANNOT_EXPLAIN,
    RecommenderModel,
    TextClassifierModel,
    log_pyfunc,
)
from karpa.tracking.registry import Registry, explaining_predictor, load_predictor
from karpa.tracking.runs import Tracker
from karpa_cli.main import main
from karpa_models.explain.neighbours import build_index
from karpa_models.finetune.saved import save_classifier, save_recommender

EXAMPLE = pd.DataFrame({"text": ["my refund please", "the courier is late"]})


@pytest.fixture(scope="module")
def model_dirs(keyword_classifier, tmp_path_factory):
    """A classifier saved with its nearest-example index, and the same one without."""
    clf, train_x, train_y = keyword_classifier
    out = tmp_path_factory.mktemp("models")
    old = save_classifier(clf, out / "old")
    clf.neighbours = build_index(
        clf.model,
        clf.tokenizer,
        train_x,
        [clf.classes.index(y) for y in train_y],
        clf.max_len,
        clf.runtime,
    )
    try:
        new = save_classifier(clf, out / "new")
    finally:
        clf.neighbours = None
    return new, old


def _register(home, folder, params, alias: str) -> str:
    tracker = Tracker(home, "explain-test")
    run_id = tracker.start_run("finetune-intent", {})
    uri = log_pyfunc(
        home.tracking_uri,
        run_id,
        "intent",
        TextClassifierModel(),
        {"model": str(folder)},
        EXAMPLE,
        params=params,
    )
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    version = registry.register("karpa-intent", uri, run_id, {})
    registry.move("karpa-intent", alias, version, "test")
    return uri


def test_the_logged_model_explains_through_its_predict_param(home, model_dirs):
    new, _ = model_dirs
    uri = _register(home, new, APP_PARAMS, "champion")
    plain = load_predictor(home.tracking_uri, uri)(EXAMPLE)
    assert "explanation" not in plain  # explanations cost time: only when asked
    predict = explaining_predictor(home.tracking_uri, uri)
    assert predict is not None
    out = predict(EXAMPLE)
    assert list(out["label"]) == list(plain["label"]) == ["refund", "delivery"]
    first = out["explanation"][0]
    assert first["words"][0]["word"] == "refund" and first["words"][0]["attribution"] > 0
    assert [n["label"] for n in first["nearest"]] == ["refund"] * 3


def test_cli_explain_prints_words_and_nearest_examples(home, model_dirs, capsys):
    new, _ = model_dirs
    _register(home, new, APP_PARAMS, "champion")
    code = main(["predict", "intent", "please reimburse my order", "--explain"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["label"] == "refund"
    words = result["explanation"]["words"]
    assert words[0]["word"] == "reimburse" and words[0]["attribution"] > 0
    assert result["explanation"]["nearest"][0]["label"] == "refund"
    assert result["model"] == "karpa-intent v1 (@champion)"


def test_an_old_version_says_in_one_sentence_that_it_cannot_explain(home, model_dirs, capsys):
    new, old = model_dirs
    _register(home, new, None, "champion")  # logged before the explain param existed
    code = main(["predict", "intent", "please reimburse my order", "--explain"])
    # The last line of stderr (earlier ones are this process's MLflow logging).
    err = capsys.readouterr().err.strip().splitlines()[-1:]
    assert code != 0
    assert err == [
        "karpa: error: karpa-intent v1 (@champion) cannot explain its predictions: it was "
        "registered before karpa's models could; retrain to register one that can"
    ]
    # A version whose folder lacks the training examples answers with the sentence.
    model = TextClassifierModel()
    model.load_context(type("Ctx", (), {"artifacts": {"model": str(old)}})())
    out = model.predict(None, EXAMPLE, params={"explain": True})
    assert list(out["explanation"]) == [CANNOT_EXPLAIN] * 2


def test_the_recommender_explains_each_item_by_history_and_parts(walk_recommender, tmp_path):
    folder = save_recommender(walk_recommender, tmp_path / "rec")
    model = RecommenderModel()
    model.load_context(type("Ctx", (), {"artifacts": {"model": str(folder)}})())
    frame = pd.DataFrame({"history": [["I010", "I011", "I012"]], "k": [3]})
    assert "explanation" not in model.predict(None, frame)
    out = model.predict(None, frame, params={"explain": True})
    items = out["items"][0]
    explained = out["explanation"][0]
    assert [e["item"] for e in explained] == items and items[0] == "I013"
    assert explained[0]["history"][0]["item"] == "I012"
    assert set(explained[0]["parts"]) == {"content", "behaviour", "popularity"}


def test_cli_explains_recommendations_with_history_and_content_features(
    home, walk_recommender, tmp_path, capsys
):
    views = home.store / "views" / "v1"
    views.mkdir(parents=True)
    (views / "manifest.json").write_text("{}")
    ids = walk_recommender.item_ids
    pd.DataFrame(
        {
            "item_idx": range(len(ids)),
            "item_id": ids,
            "title": [f"thing {i}" for i in range(len(ids))],
            "category": [f"group{i // 5}" for i in range(len(ids))],
            "attributes": [json.dumps({"colour": ["red", "blue"][i % 2]}) for i in range(len(ids))],
        }
    ).to_parquet(views / "items.parquet", index=False)
    pd.DataFrame({"user_id": ["U1"], "items": [[10, 11, 12]]}).to_parquet(
        views / "sequences.parquet", index=False
    )
    folder = save_recommender(walk_recommender, tmp_path / "rec")
    run_id = Tracker(home, "explain-test").start_run("finetune-recommendation", {})
    frame = pd.DataFrame({"history": [["I001", "I002"]], "k": [3]})
    uri = log_pyfunc(
        home.tracking_uri, run_id, "recommendation", RecommenderModel(), {"model": str(folder)},
        frame, params=APP_PARAMS,
    )  # fmt: skip
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    version = registry.register("karpa-recommender", uri, run_id, {})
    registry.move("karpa-recommender", "champion", version, "test")
    assert main(["predict", "recommend", "U1", "-k", "2", "--explain"]) == 0
    result = json.loads(capsys.readouterr().out)
    first = result["explanation"][0]
    assert first["item"] == result["items"][0] == "I013"
    assert first["history"][0] == {**first["history"][0], "item": "I012", "title": "thing 12"}
    assert first["features"] == {"title": "thing 13", "category": "group2", "colour": "blue"}
    assert first["shared_features"]["category"] == "group2"
    assert set(first["parts"]) == {"content", "behaviour", "popularity"}

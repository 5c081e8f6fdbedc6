"""Saved folders: self-contained, weights_only-loadable, predicting exactly as before."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from karpa.evaluation.ranking import validation_metrics
from karpa_models.finetune.catalogue import ItemCatalogue
from karpa_models.finetune.classifier import train_classifier
from karpa_models.finetune.config import ClassifierConfig, RecommenderConfig
from karpa_models.finetune.next_item import train_recommender
from karpa_models.finetune.saved import (
    load_classifier,
    load_recommender,
    save_classifier,
    save_recommender,
)
from karpa_models.finetune.scratch import scratch_foundation


def test_classifier_round_trip(tmp_path, model_cfg, make_texts):
    train_x, train_y = make_texts(30, seed=0)
    val_x, val_y = make_texts(12, seed=1)
    model, tok = scratch_foundation(model_cfg, train_x * 3, seed=0)
    cfg = ClassifierConfig(epochs=1, batch_size=16, device="cpu")
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    clf.with_oos_threshold(0.5)
    folder = save_classifier(clf, tmp_path / "intent")
    names = {p.name for p in folder.iterdir()}
    assert names == {
        "meta.json",
        "weights.pt",
        "model_config.json",
        "tokenizer.json",
        "classes.json",
        "thresholds.json",
    }
    state = torch.load(folder / "weights.pt", weights_only=True)
    assert any(k.startswith("head.") for k in state)
    loaded = load_classifier(folder)
    texts = ["hello my refund please", "where is the courier", ""]
    np.testing.assert_allclose(loaded.predict_proba(texts), clf.predict_proba(texts), atol=1e-6)
    assert loaded.classes == clf.classes and loaded.oos_threshold == 0.5
    assert loaded.predict(texts).tolist() == clf.predict(texts).tolist()
    # Saving again replaces the folder whole, leaving no temporary behind.
    save_classifier(clf, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intent"]


@pytest.mark.parametrize("attention", ["bidirectional", "causal"])
def test_recommender_round_trip(tmp_path, model_cfg, make_sequences, attention):
    n = model_cfg.behaviour.n_items
    seqs = make_sequences(40, n, seed=0, cold=set())
    texts = [f"item {i}" for i in range(n)]
    catalogue = ItemCatalogue([f"I{i}" for i in range(n)], texts)
    model, tok = scratch_foundation(model_cfg, texts * 3, seed=0)
    rec = train_recommender(
        model,
        tok,
        catalogue,
        seqs,
        [s[:-1] for s in seqs[:8]],
        [s[-1] for s in seqs[:8]],
        RecommenderConfig(epochs=1, batch_size=20, device="cpu", attention=attention),
        val_metrics=validation_metrics,
    )
    folder = save_recommender(rec, tmp_path / "rec")
    assert json.loads((folder / "meta.json").read_text())["causal"] == (attention == "causal")
    assert json.loads((folder / "items.json").read_text())["item_ids"][:2] == ["I0", "I1"]
    loaded = load_recommender(folder)
    histories = [[1, 2], ["I3", "I4", "unknown"], []]
    np.testing.assert_allclose(loaded.score(histories), rec.score(histories), atol=1e-5)
    assert loaded.recommend(["I3"], k=3)[0].tolist() == rec.recommend(["I3"], k=3)[0].tolist()
    assert loaded.model.causal == (attention == "causal")
    with pytest.raises(ValueError, match="karpa-recommender"):
        load_classifier(folder)
    with pytest.raises(FileNotFoundError):
        load_recommender(tmp_path / "nothing")


def test_normalised_probe_round_trip(tmp_path, model_cfg, make_texts):
    # A probe fitted on L2-normalised vectors: the saved head must normalise as well.
    train_x, train_y = make_texts(30, seed=0)
    val_x, val_y = make_texts(12, seed=1)
    model, tok = scratch_foundation(model_cfg, train_x * 3, seed=0)
    cfg = ClassifierConfig(mode="linear_probe", probe_normalize=True, device="cpu")
    clf = train_classifier(model, tok, train_x, train_y, val_x, val_y, cfg)
    assert clf.model.normalize
    texts = ["hello my refund please", "where is the courier", ""]
    fast = clf.predict_proba(texts)  # through the memoised features
    loaded = load_classifier(save_classifier(clf, tmp_path / "probe"))
    assert loaded.model.normalize
    np.testing.assert_allclose(loaded.predict_proba(texts), fast, atol=1e-5)

"""Recommendation end to end: both protocols, slices, baselines, the hybrid (sequence model +
EASE, blended on validation), the saved and served model, signal."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from karpa.applications.recommendation import RecommendationConfig, run_recommendation
from karpa_models.finetune.hybrid import FALLBACK_SOURCE, HybridRecommender
from karpa_models.finetune.saved import load_hybrid


@pytest.fixture(scope="module")
def report(views_dir, foundation_ckpt, tmp_path_factory):
    cfg = RecommendationConfig(
        epochs=40,
        batch_size=32,
        lr=3e-3,
        patience=40,
        n_negatives=20,
        n_resamples=200,
        device="cpu",
        content_ablation=True,
    )
    seen = []
    rep = run_recommendation(
        views_dir,
        foundation_ckpt,
        cfg,
        tmp_path_factory.mktemp("rec"),
        on_metrics=lambda m, s: seen.append(m),
    )
    rep.streamed = seen
    return rep


def test_report_has_both_protocols_and_every_comparison(report):
    h = report.headline
    assert h["metric"] == "ndcg@10" and h["low"] <= h["estimate"] <= h["high"]
    assert report.protocol["full"]["candidates"] == "full"
    assert report.protocol["sampled"]["candidates"] == "sampled"
    assert report.protocol["sampled"]["n_negatives"] == 20
    assert {"hr@10", "ndcg@10", "mrr", "sampled20/hr@10", "sampled20/ndcg@10"} <= set(
        report.metrics
    )
    assert report.model_name == "recommendation-karpa"
    assert set(report.comparisons) == {
        "pretrained",
        "pretrained_ids_only",
        "scratch",
        "popularity",
        "item_knn",
        "ease",
    }
    assert report.comparisons["pretrained_ids_only"]["kind"] == "ablation"
    for comp in report.comparisons.values():
        d = comp["delta"]
        assert d["low"] <= d["estimate"] <= d["high"]
    # the gain of pretraining is the sequence models' difference, not the hybrid's
    gain = report.pretraining_gain
    pre, scr = (report.comparisons[m]["metrics"]["ndcg@10"] for m in ("pretrained", "scratch"))
    assert gain["estimate"] == pytest.approx(pre - scr)
    blend = report.protocol["blend"]
    assert len(blend["weights"]) == len(blend["history_edges"]) + 1
    assert blend["cold_rule"] in ("blend", "sequence")
    for name in ("hr@10", "mrr"):
        ci = report.intervals[name]
        assert ci["low"] <= ci["estimate"] <= ci["high"]


def test_slices_cover_cold_start_popularity_and_history(report, views_dir):
    seqs = pd.read_parquet(views_dir / "sequences.parquet").dropna(subset=["test_item"])
    mine = [r for r in report.slices if r["metric"] == "ndcg@10" and r["slice"] != "robustness"]
    assert {r["slice"] for r in mine} == {
        "cold_start",
        "cold_items",
        "item_popularity",
        "short_history",
        "history_length",
    }
    cold = next(r for r in mine if r["slice"] == "cold_start" and r["bucket"] == "cold")
    assert cold["n"] == report.data["cold_test_targets"] > 0
    others = ("popularity", "scratch", "ease", "pretrained")
    names = [f"ndcg@10/{m}" for m in others] + ["sampled20/ndcg@10"]
    names += [f"sampled20/ndcg@10/{m}" for m in others]  # against the sampled negatives
    for name in names:
        theirs = {(r["slice"], r["bucket"]): r["n"] for r in report.slices if r["metric"] == name}
        assert theirs == {(r["slice"], r["bucket"]): r["n"] for r in mine}  # same users
    # The sampled slice of the main model averages its per-user sampled NDCG@10.
    sampled = [r for r in report.slices if r["metric"] == "sampled20/ndcg@10"]
    by_users = sum(r["value"] * r["n"] for r in sampled if r["slice"] == "cold_start")
    assert by_users / len(seqs) == pytest.approx(report.metrics["sampled20/ndcg@10"])
    assert sum(r["n"] for r in mine if r["slice"] == "cold_start") == len(seqs)


def test_the_recommender_learns_the_sequence_that_popularity_cannot(report):
    ours = report.metrics["ndcg@10"]
    pop = report.comparisons["popularity"]["metrics"]["ndcg@10"]
    assert ours > pop + 0.2, (ours, pop)
    assert report.comparisons["popularity"]["delta"]["low"] > 0


def test_saved_recommender_recommends_from_item_ids(report):
    rec = load_hybrid(report.artifacts["model_dir"])
    assert rec.n_items == 30
    items, scores, source = rec.recommend(["I003", "I004", "I005"], k=5)
    assert len(items) == 5 and np.all(np.diff(scores) <= 0) and source == "model"
    assert "I006" in items[:3]  # the walk goes on (I003, I004, I005, then I006)
    all_scores = rec.score([[1, 2], []])
    assert all_scores.shape == (2, 30) and np.isfinite(all_scores).all()
    assert Path(report.artifacts["plots"]["comparison"]).read_bytes()[:4] == b"\x89PNG"
    assert "cold_start" in Path(report.artifacts["model_card"]["markdown"]).read_text()


def test_the_saved_model_scores_what_the_report_says(report, views_dir):
    """The headline is what the served model achieves: its own top-10 (history items never
    recommended) on the report's test users gives the same NDCG@10."""
    from karpa.applications.data import load_recommendation

    rec = load_hybrid(report.artifacts["model_dir"])
    data = load_recommendation(views_dir, None, 0)
    gains = []
    for history, target in zip(data.test_histories, data.test_targets, strict=True):
        top = list(rec.recommend(history, k=10)[0])
        truth = rec.item_ids[target]
        gains.append(1 / np.log2(top.index(truth) + 2) if truth in top else 0.0)
    assert float(np.mean(gains)) == pytest.approx(report.headline["estimate"], abs=1e-9)


def test_a_test_item_repeating_history_is_a_miss_as_when_served():
    """Served top-k never holds a history item; the evaluation must agree even when the
    held-out item repeats one (real logs have repeats)."""
    from types import SimpleNamespace

    from karpa.applications.recommendation import rank

    scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.1, 0.9, 0.8, 0.0]])
    data = SimpleNamespace(
        catalogue=["a", "b", "c", "d"], test_histories=[[0], [2]], test_targets=np.array([0, 1])
    )  # user 0's target is in history
    ranked = rank("m", "model", scores, data, RecommendationConfig(n_negatives=2))
    # served: user 0 gets [b, c, d] (a is history: a miss); user 1 gets [b, a, d] (a hit)
    assert ranked.full.metrics["ndcg@10"] == pytest.approx(0.5)
    assert ranked.full.protocol["users_target_in_history_missed"] == 1
    # The headline's protocol says how many of the users that was, not "1 users" alone.
    from karpa.applications.rec_report import _protocol_line

    assert "a history item is a miss: 1 of 2 users" in _protocol_line(ranked)


def test_metric_names_suit_a_tracker(report):
    names = set(report.flat_metrics()) | set().union(*report.streamed)
    assert "test/ndcg_at_10" in names and "recommendation/pretrained/val_ndcg_at_10" in names
    assert all(re.match(r"^[/\w.\- :]*$", k) for k in names)


def test_sampled_protocol_takes_every_other_item_of_a_small_catalogue(caplog):
    from karpa.applications.recommendation import sampled_negatives

    assert sampled_negatives(100, 500) == 100
    assert sampled_negatives(100, 101) == 100
    assert not caplog.records
    assert sampled_negatives(100, 99) == 98
    assert "all 98 other items" in caplog.text


def _served(model_dir):
    from types import SimpleNamespace

    from karpa.tracking.models import RecommenderModel

    model = RecommenderModel()
    model.load_context(SimpleNamespace(artifacts={"model": str(model_dir)}))
    return model


def test_served_answers_with_the_scores_the_evaluation_ranked(report, views_dir):
    """The registered pyfunc answers each user with the hybrid's evaluation scores: the same
    top-k (history items never, ties to the lower index) and the same score values."""
    from karpa.applications.data import load_recommendation
    from karpa.applications.recommendation import rank
    from karpa_models.finetune.hybrid import top_k

    rec = load_hybrid(report.artifacts["model_dir"])
    data = load_recommendation(views_dir, None, 0)
    evaluated = rec.score(data.test_histories)  # all users at once, as the evaluation did
    again = rank("karpa", "model", evaluated, data, RecommendationConfig(n_negatives=20))
    assert again.full.metrics["ndcg@10"] == pytest.approx(report.headline["estimate"], abs=1e-12)
    served = _served(report.artifacts["model_dir"])
    for user in range(8):
        history = data.test_histories[user]
        out = served.predict(
            None, pd.DataFrame({"history": [[rec.item_ids[i] for i in history]], "k": [10]})
        )
        expected = top_k(evaluated[user], 10, history)
        assert list(out["items"][0]) == [rec.item_ids[i] for i in expected]
        np.testing.assert_allclose(out["scores"][0], evaluated[user][expected], atol=1e-5)
        assert out["source"][0] == "model"
        assert not set(out["items"][0]) & {rec.item_ids[i] for i in history}


def test_a_new_item_is_scored_by_its_content(report):
    """An item with no training interaction has no learned id: its score comes from its
    text and image content (changing its id embedding changes nothing; its content does)."""
    import torch

    rec = load_hybrid(report.artifacts["model_dir"])
    new = np.flatnonzero(rec.item_counts == 0)
    assert new.size >= 2
    history = [int(i) for i in np.flatnonzero(rec.item_counts > 0)[:3]]
    before = rec.score([history])[0]
    assert np.isfinite(before[new]).all() and np.ptp(before[new]) > 0  # content tells them apart
    behaviour = rec.sequence.model.behaviour
    with torch.no_grad():
        behaviour.id_emb.weight[torch.from_numpy(new)] += 3.0
    np.testing.assert_allclose(rec.score([history])[0], before, atol=1e-6)
    with torch.no_grad():
        behaviour.content[new[0]] = behaviour.content[new[1]]
    after = rec.score([history])[0]
    assert after[new[0]] == pytest.approx(after[new[1]], abs=1e-5)
    assert after[new[0]] != pytest.approx(before[new[0]], abs=1e-5)


def test_an_unknown_user_gets_the_popularity_fallback_and_is_told(report):
    served = _served(report.artifacts["model_dir"])
    rec = served.rec
    out = served.predict(None, pd.DataFrame({"history": [["no-such-item"], []], "k": [3, 3]}))
    assert list(out["source"]) == [FALLBACK_SOURCE, FALLBACK_SOURCE]
    assert FALLBACK_SOURCE == "popularity fallback: unknown user"
    popular = np.lexsort((np.arange(rec.n_items), -rec.item_counts))[:3]
    assert list(out["items"][0]) == [rec.item_ids[i] for i in popular] == list(out["items"][1])
    assert isinstance(rec, HybridRecommender)


def test_slices_reach_the_tracker_for_karpa_and_every_baseline(report):
    flat = report.flat_metrics()
    for model in ("", "/ease", "/item_knn", "/popularity", "/pretrained"):
        for key in ("cold_items/cold", "short_history/short", "item_popularity/head"):
            name = f"slice/{key}/ndcg_at_10{model}"
            assert name in flat, name


def test_slices_carry_karpa_minus_each_baseline_paired(report):
    """Per slice, the served model minus each baseline (never an ablation) on the same
    users, under both protocols: the difference of the two models' slice means, with a
    paired interval around it."""
    by = {(r["slice"], r["bucket"], r["metric"]): r for r in report.slices}
    deltas = [r for r in report.slices if r["metric"].startswith("delta/")]
    assert {r["metric"].rsplit("/", 1)[1] for r in deltas} == {"popularity", "item_knn", "ease"}
    for r in deltas:
        name = r["metric"].removeprefix("delta/")
        metric, model = name.rsplit("/", 1)
        mine = by[(r["slice"], r["bucket"], metric)]["value"]
        theirs = by[(r["slice"], r["bucket"], f"{metric}/{model}")]["value"]
        assert r["value"] == pytest.approx(mine - theirs)
        assert r["low"] <= r["value"] <= r["high"]
    assert {r["metric"] for r in deltas} >= {"delta/ndcg@10/ease", "delta/sampled20/ndcg@10/ease"}
    assert "slice/short_history/short/delta/ndcg_at_10/ease" in report.flat_metrics()


def test_the_content_ablation_is_reported_on_the_same_users(report):
    """ids only (content zeroed) against ids + content: the same seed, the same test users,
    every slice."""
    ablation = report.comparisons["pretrained_ids_only"]
    assert ablation["kind"] == "ablation" and "ndcg@10" in ablation["metrics"]
    mine = {
        (r["slice"], r["bucket"]): r["n"]
        for r in report.slices
        if r["metric"] == "ndcg@10" and r["slice"] != "robustness"  # the main model alone
    }
    theirs = {
        (r["slice"], r["bucket"]): r["n"]
        for r in report.slices
        if r["metric"] == "ndcg@10/pretrained_ids_only"
    }
    assert theirs == mine
    assert "recommendation/pretrained_ids_only" in str(report.training) or (
        "pretrained_ids_only" in report.training
    )


def test_the_hybrid_sees_new_items_where_ease_is_blind(report):
    """Targets with no training interaction: EASE has nothing to score them by, the hybrid
    has their content (through the sequence part)."""
    cold = {
        r["metric"]: r["value"]
        for r in report.slices
        if r["slice"] == "cold_start" and r["bucket"] == "cold"
    }
    assert cold["ndcg@10"] > cold["ndcg@10/ease"], cold


def test_robustness_slices_drop_one_and_shuffle(report):
    robust = [r for r in report.slices if r["slice"] == "robustness"]
    by = {(r["bucket"], r["metric"]): r for r in robust}
    assert list(dict.fromkeys(r["bucket"] for r in robust)) == ["clean", "drop_one", "shuffle"]
    # Clean is the main model on the same users: the headline, when no user is sampled out.
    assert by[("clean", "ndcg@10")]["n"] == report.data["test_users"]
    assert abs(by[("clean", "ndcg@10")]["value"] - report.headline["estimate"]) < 1e-9
    for bucket in ("clean", "drop_one", "shuffle"):
        r = by[(bucket, "ndcg@10")]
        assert r["low"] <= r["value"] <= r["high"]
        assert f"slice/robustness/{bucket}/ndcg_at_10" in report.flat_metrics()
    assert by[("shuffle", "changed")]["value"] > 0.5
    # The walk in the synthetic data is ordered: shuffling the history costs the model.
    assert by[("shuffle", "ndcg@10")]["value"] < by[("clean", "ndcg@10")]["value"]
    plot = Path(report.artifacts["plots"]["robustness"])
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert plot.name in Path(report.artifacts["model_card"]["markdown"]).read_text()

"""Paired evidence for the gate: the challenger and the champion answer the same test
requests through their serving interface, so what is compared is what would be served.

Each application turns its test split into requests, per-example scores (correctness,
per-user NDCG@10), slices, and a p95 single-request latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from karpa.applications.data import held_out_users, text_test_rows
from karpa.manifests import HeldOutSample

Predict = Callable[[pd.DataFrame], pd.DataFrame]
K = 10


@dataclass
class Evidence:
    """Per-example values (or predictions, for sentiment) on one fixed test set."""

    values: np.ndarray
    slices: dict[str, tuple[float, int]] = field(default_factory=dict)
    labels: np.ndarray | None = None


@dataclass(frozen=True)
class TestSet:
    requests: pd.DataFrame
    truth: np.ndarray
    buckets: np.ndarray  # slice name per example


def _length_bucket(n_words: int) -> str:
    for edge in (5, 10, 20, 40):
        if n_words <= edge:
            return f"length<={edge}"
    return "length>40"


def test_set(app: str, views: Path, sample: HeldOutSample) -> TestSet:
    """The test requests of one application: the very examples its evaluation scored
    (the same selection function, cap and seed), so report and gate agree."""
    if app == "recommendation":
        seq = held_out_users(
            pd.read_parquet(views / "sequences.parquet"), sample.max_examples, sample.seed
        )
        items = pd.read_parquet(views / "items.parquet", columns=["item_idx", "item_id"])
        ids = items.sort_values("item_idx")["item_id"].to_numpy()
        history = [
            [*ids[list(h)], ids[int(v)]]
            for h, v in zip(seq["train_items"], seq["val_item"], strict=True)
        ]
        lengths = np.array([len(h) for h in history])
        buckets = np.where(
            lengths <= 5, "history<=5", np.where(lengths <= 20, "history<=20", "history>20")
        )
        requests = pd.DataFrame({"history": history, "k": K})
        return TestSet(requests, ids[seq["test_item"].astype(int).to_numpy()], buckets)
    table, label = ("messages", "intent") if app == "intent" else ("news", "sentiment")
    frame = pd.read_parquet(views / f"{table}.parquet")
    frame = text_test_rows(frame[frame[label].notna()], label, sample.max_examples, sample.seed)
    if app == "intent":
        buckets = np.array([_length_bucket(len(str(t).split())) for t in frame["text"]])
    else:
        buckets = frame[label].astype(str).map(lambda c: f"class={c}").to_numpy()
    return TestSet(
        pd.DataFrame({"text": frame["text"].tolist()}), frame[label].astype(str).to_numpy(), buckets
    )


def gather(app: str, predict: Predict, tests: TestSet) -> Evidence:
    out = predict(tests.requests)
    if app == "recommendation":
        values = np.array(
            [
                1.0 / np.log2(list(top).index(t) + 2) if t in list(top)[:K] else 0.0
                for top, t in zip(out["items"], tests.truth, strict=True)
            ]
        )
    else:
        predicted = out["label"].astype(str).to_numpy()
        values = (predicted == tests.truth).astype(float)
    slices = {
        b: (float(values[tests.buckets == b].mean()), int((tests.buckets == b).sum()))
        for b in np.unique(tests.buckets)
    }
    if app == "sentiment":
        # macro-F1 is not a mean of per-example values: the gate scores predictions.
        return Evidence(out["label"].astype(str).to_numpy(), slices, tests.truth)
    return Evidence(values, slices)


def latency_p95_ms(predict: Predict, tests: TestSet, n: int = 30) -> float:
    """p95 of single-request prediction time over the first `n` requests."""
    times = []
    for i in range(min(n, len(tests.requests))):
        started = time.perf_counter()
        predict(tests.requests.iloc[[i]])
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 95)) if times else 0.0


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20

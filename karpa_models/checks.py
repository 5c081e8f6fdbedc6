"""Cheap downstream checks of a foundation while it pretrains: is it getting better at what
it is for?

Three kinds, each a score in [0, 1] where higher is better:
- `probe/<task>`: a k-shot linear probe (scikit-learn logistic regression) on frozen,
  mean-pooled, L2-normalised sentence vectors (the vector every fine-tune reads), fitted
  on k labeled examples per class and scored by accuracy on the validation texts; the mean
  over `repeats` fixed draws of the k examples, so two checkpoints see the same draws.
- `retrieval`: zero-shot image<->text recall@5 (both directions, averaged) on held-out pairs.
- `next_item`: recall@10 of each user's validation item from their training history,
  through the masked-item head pretraining trains.

The caller decides what data they see (karpa/pretraining/checks_data.py gives them the
validation split and nothing of test); this module only scores a model on it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from karpa_models.corpus import RetrievalSet
from karpa_models.finetune.sequences import history_batch
from karpa_models.finetune.text import encode, encode_pooled
from karpa_models.model import FoundationModel
from karpa_models.retrieval import ranks_of_diagonal
from karpa_models.runtime import Runtime

logger = logging.getLogger(__name__)

COMBINE_RULES = ("mean", "worst_gain")
PROBE_C = 10.0  # inverse L2 strength of the probe; unit-norm features need a weak penalty
RETRIEVAL_K = 5
NEXT_ITEM_K = 10


@dataclass(frozen=True)
class ChecksConfig:
    """When and how pretraining checks itself, and how the checks combine into one score.

    every: steps between checks (0: no checks; the last step is then the foundation).
    combine: "mean" (the weighted mean of the check scores) or "worst_gain" (the smallest
    weighted change of any check from step 0: a checkpoint is only as good as the
    application it helps least). min_gain: a checkpoint replaces the start only when its
    combined score beats step 0's by more than this.
    """

    every: int = 0
    k: int = 10
    repeats: int = 3
    max_val: int = 400
    combine: str = "mean"
    weights: dict[str, float] = field(default_factory=dict)  # check name -> weight (else 1)
    min_gain: float = 0.0

    def __post_init__(self) -> None:
        if self.every < 0 or self.k < 1 or self.repeats < 1 or self.max_val < 1:
            raise ValueError(
                f"checks: every >= 0, k >= 1, repeats >= 1 and max_val >= 1 are required, got "
                f"every={self.every}, k={self.k}, repeats={self.repeats}, max_val={self.max_val}"
            )
        if self.combine not in COMBINE_RULES:
            raise ValueError(f"checks.combine must be one of {COMBINE_RULES}, got {self.combine!r}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError(f"checks.weights must be >= 0, got {self.weights}")
        if self.min_gain < 0:
            raise ValueError(f"checks.min_gain must be >= 0, got {self.min_gain}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def weight(self, name: str) -> float:
        return float(self.weights.get(name, 1.0))


@dataclass
class ProbeData:
    """One labeled text table: a pool of labeled training texts to draw the k-shot
    examples from, and the validation texts the probe is scored on."""

    train_texts: list[str]
    train_labels: list[str]
    val_texts: list[str]
    val_labels: list[str]

    def draws(self, k: int, repeats: int) -> list[np.ndarray]:
        """`repeats` fixed k-per-class draws of row indices into the training pool."""
        labels = np.asarray(self.train_labels, dtype=object)
        out = []
        for r in range(repeats):
            rng = np.random.default_rng(r)
            rows = [
                rng.choice(
                    np.flatnonzero(labels == c),
                    size=min(k, int((labels == c).sum())),
                    replace=False,
                )
                for c in sorted(set(self.train_labels))
            ]
            out.append(np.sort(np.concatenate(rows)))
        return out


@dataclass
class ChecksData:
    """Everything the checks read; any part may be empty, and its check is then skipped."""

    probes: dict[str, ProbeData] = field(default_factory=dict)
    retrieval: RetrievalSet | None = None
    histories: list[np.ndarray] = field(default_factory=list)  # item indices, oldest first
    targets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def names(self, has_behaviour: bool = True) -> list[str]:
        out = [f"probe/{t}" for t in sorted(self.probes)]
        if self.retrieval is not None and len(self.retrieval.captions) > 1:
            out.append("retrieval")
        if has_behaviour and len(self.targets):
            out.append("next_item")
        return out


def probe_score(
    model: FoundationModel, data: ProbeData, k: int, repeats: int, runtime: Runtime
) -> float:
    """Mean validation accuracy of `repeats` k-shot logistic-regression probes."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    classes = sorted(set(data.train_labels))
    keep = [i for i, y in enumerate(data.val_labels) if y in classes]
    if len(classes) < 2 or not keep:
        return float("nan")
    draws = data.draws(k, repeats)
    used = np.unique(np.concatenate(draws))  # every pool row any draw needs, encoded once
    texts = [data.train_texts[i] for i in used] + [data.val_texts[i] for i in keep]
    vectors = _pooled(model, texts, runtime)  # (U + V, C), unit norm
    where = {int(row): j for j, row in enumerate(used)}
    val_x, val_y = vectors[len(used) :], np.asarray([data.val_labels[i] for i in keep])
    labels = np.asarray(data.train_labels, dtype=object)
    scores = []
    for rows in draws:
        x = vectors[[where[int(r)] for r in rows]]
        y = labels[rows].astype(str)
        if len(set(y)) < 2:
            continue
        clf = LogisticRegression(C=PROBE_C, max_iter=1000)
        # One BLAS thread: a fit this small only loses to thread start-up and, on busy
        # cores, to oversubscription (measured 4.1 s of L-BFGS for three fits, see README).
        with threadpool_limits(limits=1):
            clf.fit(x, y)
        scores.append(float(np.mean(clf.predict(val_x) == val_y)))
    return float(np.mean(scores)) if scores else float("nan")


def _pooled(model: FoundationModel, texts: Sequence[str], runtime: Runtime) -> np.ndarray:
    """texts -> (N, C) float32 mean-pooled text-tower states, L2-normalised."""
    assert model.tokenizer is not None, "the model needs its tokenizer attached"
    vectors = encode_pooled(model.text, encode(model.tokenizer, texts, model.text.max_len), runtime)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def retrieval_score(model: FoundationModel, held: RetrievalSet) -> float:
    """Image->text and text->image recall@5 over the pairs, averaged."""
    txt = model.embed_text(held.captions)  # (N, D)
    img = model.embed_images(held.images)  # (N, D)
    scores = img @ txt.T  # (N images, N texts)
    recalls = [float((ranks_of_diagonal(s) <= RETRIEVAL_K).mean()) for s in (scores, scores.T)]
    return float(np.mean(recalls))


@torch.no_grad()
def next_item_score(
    model: FoundationModel,
    decoder: torch.nn.Module,
    histories: Sequence[np.ndarray],
    targets: np.ndarray,
    runtime: Runtime,
    batch_size: int = 256,
) -> float:
    """Recall@10 of targets[u] among every catalogue item, from histories[u] + MASK.
    Ties count against the model (rank = 1 + #higher + #equal)."""
    beh = model.behaviour
    if beh is None or not len(targets):
        return float("nan")
    was_training = model.training
    model.eval()
    hits = 0
    try:
        table = beh.item_table()[: beh.n_items]  # (n, C)
        for start in range(0, len(targets), batch_size):
            chunk = list(histories[start : start + batch_size])
            items, mask, query = history_batch(chunk, beh.max_len, beh.n_items)
            with runtime.autocast():
                hidden = model.encode_behaviour(
                    torch.from_numpy(items).to(runtime.device),
                    torch.from_numpy(mask).to(runtime.device),
                )  # (B, L, C)
                h = hidden[torch.arange(len(chunk)), torch.from_numpy(query)]  # (B, C)
                scores = decoder(h, table).float()  # (B, n)
            true = torch.from_numpy(targets[start : start + len(chunk)]).to(scores.device)
            t = scores.gather(1, true[:, None])  # (B, 1)
            rank = 1 + (scores > t).sum(1) + (scores == t).sum(1) - 1
            hits += int((rank <= NEXT_ITEM_K).sum())
    finally:
        model.train(was_training)
    return hits / len(targets)


def run_checks(
    model: FoundationModel,
    objectives: torch.nn.ModuleDict,
    data: ChecksData,
    cfg: ChecksConfig,
    runtime: Runtime,
) -> dict[str, float]:
    """Every check the data allows -> {name: score}; `objectives` are pretraining's heads
    (the masked-item decoder scores next items)."""
    started = time.perf_counter()
    out: dict[str, float] = {}
    for task, probe in sorted(data.probes.items()):
        out[f"probe/{task}"] = probe_score(model, probe, cfg.k, cfg.repeats, runtime)
    if data.retrieval is not None and len(data.retrieval.captions) > 1:
        out["retrieval"] = retrieval_score(model, data.retrieval)
    if model.behaviour is not None and len(data.targets) and "masked_item" in objectives:
        decoder = objectives["masked_item"].decoder
        out["next_item"] = next_item_score(model, decoder, data.histories, data.targets, runtime)
    out = {k: v for k, v in out.items() if np.isfinite(v)}
    logger.debug("checks in %.2f s: %s", time.perf_counter() - started, out)
    return out


def combined(scores: dict[str, float], start: dict[str, float], cfg: ChecksConfig) -> float:
    """One number per checkpoint under cfg.combine (see ChecksConfig); `start` is step 0's."""
    names = [n for n in scores if cfg.weight(n) > 0]
    if not names:
        return float("nan")
    if cfg.combine == "worst_gain":
        return min(cfg.weight(n) * (scores[n] - start.get(n, scores[n])) for n in names)
    total = sum(cfg.weight(n) for n in names)
    return sum(cfg.weight(n) * scores[n] for n in names) / total

"""Explanations of a text application's model at evaluation time.

Three things, each bounded so evaluation time barely grows: the nearest-example index
(the labeled training texts, at most `neighbour_examples`, in the fine-tuned model's
embedding space, saved with the model), the deletion test on a sample of
`explain_examples` test texts (karpa/evaluation/faithfulness.py), and explanations of a
few correct and wrong test predictions for the model card.

The index stores training texts. They come from the validated views, which validation has
scrubbed of personal data; they are scrubbed once more here (the same rules), so a run
configured without scrubbing still never stores a card number or an email in a model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_contracts.pii import scrub_text
from karpa.applications.data import TextTask
from karpa.applications.text_app import TextEvaluation
from karpa.applications.text_config import TextAppConfig
from karpa.evaluation.faithfulness import deletion_plot, deletion_summary
from karpa_models.explain.deletion import deletion_curves
from karpa_models.explain.neighbours import NeighbourIndex, build_index
from karpa_models.explain.text import explain_texts
from karpa_models.explain.tokens import attribute_tokens

logger = logging.getLogger(__name__)


@dataclass
class TextExplanations:
    """What evaluation adds: the index to save, the deletion test, the card's examples."""

    index: NeighbourIndex
    deletion: dict[str, Any]
    figure: Path
    examples: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def metrics(self) -> dict[str, float]:
        area = self.deletion["area"]
        return {"deletion_area": float(area["estimate"])}


def explain_text_app(
    app: str, task: TextTask, ev: TextEvaluation, cfg: TextAppConfig, out_dir: Path
) -> TextExplanations | None:
    """Index, deletion test and card examples of the main model; None when it is not a
    fine-tuned network (a baseline) or cfg.explain_examples is 0."""
    clf = ev.main_run.classifier
    if clf is None or cfg.explain_examples == 0:
        return None
    started = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    position = {c: i for i, c in enumerate(clf.classes)}
    train = [
        (scrub_text(t)[0], position[str(y)])
        for t, y in zip(task.train.texts, task.train.labels, strict=True)
        if str(y) in position
    ]
    if len(train) > cfg.neighbour_examples:
        train = [train[i] for i in sorted(rng.choice(len(train), cfg.neighbour_examples, False))]
    index = build_index(
        clf.model,
        clf.tokenizer,
        [t for t, _ in train],
        [y for _, y in train],
        clf.max_len,
        clf.runtime,
    )
    n = min(cfg.explain_examples, len(task.test))
    rows = np.sort(rng.choice(len(task.test), n, replace=False))
    texts = [task.test.texts[r] for r in rows]
    attributions = attribute_tokens(
        clf.model, clf.tokenizer, texts, clf.max_len, n_steps=cfg.explain_steps
    )
    curves = deletion_curves(
        clf.model, clf.tokenizer, attributions, max_k=cfg.deletion_max_k, seed=cfg.seed
    )
    summary = deletion_summary(curves.top, curves.random, cfg.n_resamples, cfg.confidence, cfg.seed)
    figure = deletion_plot(summary, out_dir / "deletion_test.png", f"{app}: deletion test")
    examples = card_examples(clf, index, task, ev, rows, cfg)
    seconds = time.perf_counter() - started
    area = summary["area"]
    logger.info(
        "%s: deletion-test area %.3f [%.3f, %.3f] over %d texts; explanations took %.1fs",
        app,
        area["estimate"],
        area["low"],
        area["high"],
        n,
        seconds,
    )
    return TextExplanations(index, summary, figure, examples, seconds)


def card_examples(
    clf, index: NeighbourIndex, task: TextTask, ev: TextEvaluation, rows: np.ndarray, cfg
) -> list[dict[str, Any]]:
    """Up to cfg.card_explanations correct and as many wrong predictions among `rows`."""
    y, pred = task.test.labels, ev.scored[ev.main].pred
    correct = [int(r) for r in rows if pred[r] == y[r]][: cfg.card_explanations]
    wrong = [int(r) for r in rows if pred[r] != y[r]][: cfg.card_explanations]
    chosen = correct + wrong
    if not chosen:
        return []
    texts = [task.test.texts[r] for r in chosen]
    explained = explain_texts(clf, texts, index, n_steps=cfg.explain_steps, n_neighbours=1)
    return [
        {
            "text": scrub_text(text)[0],
            "true": str(y[r]),
            "predicted": str(pred[r]),
            "correct": bool(pred[r] == y[r]),
            **e,
        }
        for r, text, e in zip(chosen, texts, explained, strict=True)
    ]

"""Robustness evidence for the gate: the challenger and the champion answer the same
perturbed requests through their serving interface, on a seeded sample of the test set.

Text: accuracy under each perturbation of karpa/evaluation/perturb.py (entities from the
data itself); recommendation: NDCG@10 with one history item dropped and with the history
shuffled. Each becomes a slice "robust:<perturbation>" beside the gate's other slices, so
the same rule holds: no slice may drop past its bound against the champion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from karpa.evaluation.perturb import (
    HISTORY_PERTURBATIONS,
    TEXT_PERTURBATIONS,
    perturb_histories,
    perturb_texts,
)
from karpa.evaluation.robustness import sample_rows
from karpa.promotion.evidence import K, Predict, TestSet


def robustness_evidence(
    app: str,
    predict: Predict,
    tests: TestSet,
    lexicon: dict[str, list[str]] | None,
    sample: int,
    seed: int,
) -> dict[str, tuple[float, int]]:
    """ "robust:<perturbation>" -> (metric on the perturbed sample, examples); {} when
    sample is 0."""
    if sample <= 0 or len(tests.requests) == 0:
        return {}
    rows = sample_rows(len(tests.requests), sample, seed)
    truth = tests.truth[rows]
    out: dict[str, tuple[float, int]] = {}
    if app == "recommendation":
        histories = [list(h) for h in tests.requests["history"].iloc[rows]]
        for kind in HISTORY_PERTURBATIONS:
            perturbed, _ = perturb_histories(histories, kind, seed)
            answer = predict(pd.DataFrame({"history": perturbed, "k": K}))
            gains = [
                1.0 / np.log2(list(top)[:K].index(t) + 2) if t in list(top)[:K] else 0.0
                for top, t in zip(answer["items"], truth, strict=True)
            ]
            out[f"robust:{kind}"] = (float(np.mean(gains)), len(rows))
        return out
    texts = [str(t) for t in tests.requests["text"].iloc[rows]]
    for kind in TEXT_PERTURBATIONS:
        perturbed = perturb_texts(texts, kind, seed, lexicon)
        answer = predict(pd.DataFrame({"text": perturbed.texts}))
        correct = answer["label"].astype(str).to_numpy() == truth
        out[f"robust:{kind}"] = (float(correct.mean()), len(rows))
    return out

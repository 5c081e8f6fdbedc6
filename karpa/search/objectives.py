"""What a trial is scored on: validation quality, CPU latency of one request, size.

Latency is measured on the object the registered pyfunc model calls
(karpa/tracking/models.py): the fine-tuned model is saved in its serving folder, loaded
back on the CPU the way `load_context` does (`load_classifier` / `load_recommender`, one
torch thread), and asked one request at a time (`predict_proba([text])`,
`recommend(history, 10)`). The pyfunc's own DataFrame handling around it is left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from karpa.config_search import OBJECTIVES

WARMUP_REQUESTS = 3


@contextmanager
def one_cpu_thread() -> Iterator[None]:
    """One torch thread while timing, as a served model runs (`torch.set_num_threads(1)`
    in load_context); the caller's setting comes back afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_requests(answer: Callable[[Any], Any], requests: Sequence[Any], n: int) -> list[float]:
    """Milliseconds of each of `n` calls of `answer` (cycling through `requests`), after a
    few untimed warm-up calls."""
    if not requests:
        raise ValueError("no request to time")
    for i in range(WARMUP_REQUESTS):
        answer(requests[i % len(requests)])
    out = []
    for i in range(n):
        started = time.perf_counter()
        answer(requests[i % len(requests)])
        out.append((time.perf_counter() - started) * 1000.0)
    return out


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    """{"latency_p50": ..., "latency_p95": ...} in ms."""
    return {
        "latency_p50": float(np.percentile(ms, 50)),
        "latency_p95": float(np.percentile(ms, 95)),
    }


def classifier_latency(model_dir: Path, texts: Sequence[str], n: int) -> dict[str, float]:
    """One text per request through a saved classifier, loaded as serving loads it."""
    from karpa_models.finetune.saved import load_classifier

    with one_cpu_thread():
        clf = load_classifier(model_dir, "cpu")
        return percentiles(time_requests(lambda t: clf.predict_proba([t]), texts, n))


def recommender_latency(
    model_dir: Path, histories: Sequence[list[str]], n: int
) -> dict[str, float]:
    """One user's history per request (top 10) through a saved recommender."""
    from karpa_models.finetune.saved import load_recommender

    with one_cpu_thread():
        rec = load_recommender(model_dir, "cpu")
        return percentiles(time_requests(lambda h: rec.recommend(h, 10), histories, n))


def parameter_count(model: Any) -> int:
    """Parameters of a torch module (the foundation: what the architecture decides)."""
    return int(sum(p.numel() for p in model.parameters()))


def objective_values(
    objectives: Sequence[str],
    quality: dict[str, float],
    latency: dict[str, dict[str, float]],
    params: int,
) -> list[float]:
    """The trial's value of each objective, in order. quality: application -> validation
    metric; latency: application -> percentiles. A trial's latency is its slowest
    application's (each request goes to one application, the slowest sets the bound)."""
    out = []
    for name in objectives:
        if name == "quality":
            out.append(float(np.mean(list(quality.values()))))
        elif name in quality:
            out.append(float(quality[name]))
        elif name in ("latency_p50", "latency_p95"):
            out.append(max(p[name] for p in latency.values()))
        elif name == "params":
            out.append(float(params))
        else:
            raise ValueError(f"unknown objective {name!r} (known: {', '.join(OBJECTIVES)})")
    return out

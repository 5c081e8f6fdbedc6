"""The Pareto front, its knee, the table and the plot, on hand-made trials."""

from __future__ import annotations

import itertools

import numpy as np

from karpa.search.front import dominates, front_table, pareto_front, plot_front
from karpa.search.preset import knee
from karpa.search.study import TrialRecord

OBJ = ["quality", "latency_p95"]
DIR = ["maximize", "minimize"]


def _trial(n: int, quality: float | None, latency: float | None, state="complete"):
    values = None if quality is None else {"quality": quality, "latency_p95": latency}
    params = {"width": 32, "layers": 1, "heads": 2, "lr": 1e-3, "finetune_lr": 1e-3}
    return TrialRecord(number=n, state=state, params=params, values=values)


def _oriented(r):
    return [-r.values["quality"], r.values["latency_p95"]]


def test_the_front_is_exactly_the_non_dominated_trials():
    rng = np.random.default_rng(0)
    trials = [_trial(i, float(q), float(t)) for i, (q, t) in enumerate(rng.random((40, 2)))]
    trials += [_trial(40, None, None, "pruned"), _trial(41, None, None, "failed")]
    front = pareto_front(trials, OBJ, DIR)
    numbers = {r.number for r in front}
    assert numbers and not numbers & {40, 41}
    for a, b in itertools.permutations(front, 2):
        assert not dominates(_oriented(a), _oriented(b))
    for r in trials[:40]:
        if r.number not in numbers:
            assert any(dominates(_oriented(f), _oriented(r)) for f in front)


def test_knee_is_the_balanced_trial_and_table_and_plot_show_the_front(tmp_path):
    trials = [
        _trial(0, 0.90, 40.0),  # best quality, slow
        _trial(1, 0.85, 12.0),  # nearly as good, much faster: the knee
        _trial(2, 0.50, 10.0),  # fastest, poor
        _trial(3, 0.80, 30.0),  # dominated by 1
        _trial(4, None, None, "pruned"),
    ]
    assert [r.number for r in pareto_front(trials, OBJ, DIR)] == [0, 1, 2]
    assert knee(trials, OBJ, DIR).number == 1
    table = front_table(trials, OBJ, DIR, knee=1)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "trial" not in line]
    assert [row.split("|")[1].strip() for row in rows] == ["0", "1 (knee)", "2"]
    assert "3 trials on the front; 4 complete, 1 pruned, 0 failed." in table
    png = plot_front(trials, OBJ, DIR, tmp_path / "front.png", knee=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

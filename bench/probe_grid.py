"""The linear probe's L2 grid: which strengths validation chooses for a strong pretrained
encoder at few labels, and what that costs or buys on test.

The learning curve's linear_probe (karpa_models/finetune/probe.py) fits a multinomial
logistic regression on L2-normalised sentence vectors once per L2 strength of a grid and
keeps the one with the best validation accuracy. This bench runs it on frozen
all-MiniLM-L6-v2 vectors of Banking77's 10-shot subsets (the splits and subsets
`bench/quality.py --tasks banking77` uses), once per grid, beside scikit-learn's logistic
regression with C chosen on validation (the bench's frozen-MiniLM row). Per subset seed it
prints the strength each grid chose, its validation accuracy (what chose it) and its test
accuracy (reported, never used to choose).

    .venv/bin/python bench/probe_grid.py
    .venv/bin/python bench/probe_grid.py --grid old 1e-4 1e-3 3e-3 1e-2 3e-2 --grid new 1e-6 1e-4
    .venv/bin/python bench/probe_grid.py --start mpnet   # all-mpnet-base-v2 (make bench-mpnet)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _quality_rows as rows
from _common import SHARED_DATASETS, direct_views, header
from _starts import add_start_argument
from quality import SHOTS, banking77_sets

from karpa.config import CONFIGS, load_config
from karpa.home import activate

BEFORE = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # the applications' grid until 2026-12-04


def main() -> None:
    from karpa.applications.text_config import IntentConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--grid",
        nargs="+",
        action="append",
        metavar=("NAME", "L2"),
        help="a named grid of L2 strengths (default: the grid before 2026-12-04 and today's)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    add_start_argument(parser)
    parser.add_argument("--datasets", type=Path, default=SHARED_DATASETS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    embedder = rows.frozen_encoder(args.start)
    grids = (
        {g[0]: tuple(float(v) for v in g[1:]) for g in args.grid}
        if args.grid
        else {"before": BEFORE, "now": IntentConfig().probe_l2}
    )
    command = "python bench/probe_grid.py " + " ".join(sys.argv[1:])
    title = f"linear probe L2 grid on frozen {embedder.name}, Banking77 10-shot"
    print(header(title, command.strip()))
    for name, grid in grids.items():
        print(f"# grid {name}: {', '.join(f'{v:g}' for v in grid)}")

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="karpa-bench-probe-") as tmp:
        activate(Path(tmp) / "home")
        task = banking77_task(args.datasets / "banking77", Path(tmp) / "store", args.seeds)
        table = probe_table(task, grids, embedder)
    print(table, flush=True)


def banking77_task(data: Path, store: Path, seeds: list[int]):
    """Banking77's views as bench/quality.py builds them (official split, validation carved
    from train, `SHOTS`-shot subsets per seed) -> TextTask."""
    from karpa.applications.data import load_text_task
    from karpa.store import Store

    cfg = load_config(CONFIGS / "real" / "banking77.yaml", banking77_sets(seeds), str(data))
    views = direct_views(cfg, Store(store))
    return load_text_task(Path(views.path), "intent", ["oos"], None, [SHOTS], seeds)


def probe_table(task, grids: dict[str, tuple[float, ...]], embedder: rows.SentenceEncoder) -> str:
    """One row per subset seed and a mean row: each grid's chosen L2, validation and test
    accuracy, and scikit-learn's logistic regression (C and test accuracy)."""
    import torch

    from karpa_models.finetune.probe import fit_linear_probe, l2_normalize

    position = {c: i for i, c in enumerate(task.classes)}

    def encoded(split) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array([position[str(y)] for y in split.labels], dtype=np.int64)
        return embedder.embed(split.texts), labels

    def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
        return float(np.mean(y == pred))

    x_val, y_val = encoded(task.val)
    x_test, y_test = encoded(task.test)
    body, sums = [], np.zeros(2 * len(grids) + 1)
    subsets = sorted((s, split) for (k, s), split in task.shots.items() if k == SHOTS)
    for seed, split in subsets:
        x, y = encoded(split)
        cells, figures = [str(seed)], []
        for grid in grids.values():
            W, b, chosen = fit_linear_probe(
                x, y, x_val, y_val, len(task.classes), accuracy, grid, normalize=True
            )
            logits = torch.from_numpy(l2_normalize(x_test)) @ W.T + b  # (N, K)
            test = accuracy(y_test, logits.argmax(-1).numpy())
            cells += [f"{chosen['l2']:g}", f"{chosen['val']:.3f}", f"{test:.3f}"]
            figures += [chosen["val"], test]
        pred, c = rows.probe(embedder, split, task.val, task.test, seed)
        sk = accuracy(np.array(task.test.labels), pred)
        body.append([*cells, f"{c:g}", f"{sk:.3f}"])
        sums += np.array([*figures, sk])
    mean = sums / len(subsets)
    mean_cells = ["mean"]
    for i in range(len(grids)):
        mean_cells += ["", f"{mean[2 * i]:.3f}", f"{mean[2 * i + 1]:.3f}"]
    body.append([*mean_cells, "", f"{mean[-1]:.3f}"])
    columns = ["subset seed"]
    for name in grids:
        columns += [f"{name}: L2", f"{name}: val", f"{name}: test"]
    return rows.table([*columns, "sklearn LR: C", "sklearn LR: test"], body)


if __name__ == "__main__":
    main()

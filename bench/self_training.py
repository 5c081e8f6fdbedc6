"""Self-training the few-label probe on unlabeled messages: Banking77 at 10 labels per intent.

The learning curve's probes can self-train on the application's unlabeled training texts
(`finetune.<app>.self_training_rounds`, karpa_models/finetune/self_training.py): fit on the
k labeled messages per intent, label a sample of the other training messages (their labels
are never read), refit with the most confident ones of each predicted intent, and keep the
round that is best on validation, the plain probe included. This bench runs exactly those
functions (the pool as `self_training_pool` draws it, the probe `fit_linear_probe` with the
applications' L2 grid) on frozen all-MiniLM-L6-v2 vectors of Banking77's 10-shot subsets
(the splits and subsets of `bench/quality.py --tasks banking77`), once per share added per
round (round r adds the most confident r x share of the messages predicted for each
intent). Per subset seed it prints the round each share kept, its validation accuracy
(what chose it) and its test accuracy (reported, never used to choose).

    .venv/bin/python bench/self_training.py
    .venv/bin/python bench/self_training.py --share 0.1 0.5 --rounds 5 --seeds 0 1
    .venv/bin/python bench/self_training.py --start mpnet   # all-mpnet-base-v2 (make bench-mpnet)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _quality_rows as rows
from _common import SHARED_DATASETS, header
from _starts import add_start_argument
from probe_grid import banking77_task
from quality import SHOTS

from karpa.home import activate


def main() -> None:
    from karpa.applications.text_config import IntentConfig

    defaults = IntentConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, nargs="+", default=[0.1, 0.2, 0.33])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=defaults.self_training_pool)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    add_start_argument(parser)
    parser.add_argument("--datasets", type=Path, default=SHARED_DATASETS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    embedder = rows.frozen_encoder(args.start)
    command = "python bench/self_training.py " + " ".join(sys.argv[1:])
    title = f"self-trained probe on frozen {embedder.name}, Banking77 10-shot"
    print(header(title, command.strip()))
    print(
        f"# {args.rounds} rounds, up to {args.pool} unlabeled training messages, L2 grid "
        f"{', '.join(f'{v:g}' for v in defaults.probe_l2)}"
    )

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="karpa-bench-selftrain-") as tmp:
        activate(Path(tmp) / "home")
        task = banking77_task(args.datasets / "banking77", Path(tmp) / "store", args.seeds)
        table = self_training_table(
            task, args.share, args.rounds, args.pool, defaults.probe_l2, embedder
        )
    print(table, flush=True)


def self_training_table(
    task,
    shares: list[float],
    rounds: int,
    pool_size: int,
    grid: tuple[float, ...],
    embedder: rows.SentenceEncoder,
) -> str:
    """One row per subset seed and a mean row: the plain probe's validation and test
    accuracy, then per setting the round kept, its validation and test accuracy."""
    from karpa_models.finetune.classifier import self_training_pool
    from karpa_models.finetune.config import ClassifierConfig
    from karpa_models.finetune.probe import fit_linear_probe
    from karpa_models.finetune.self_training import probe_probs, self_train_probe

    position = {c: i for i, c in enumerate(task.classes)}

    def labels(split) -> np.ndarray:
        return np.array([position[str(y)] for y in split.labels], dtype=np.int64)

    def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
        return float(np.mean(y == pred))

    x_val, y_val = embedder.embed(task.val.texts), labels(task.val)
    x_test, y_test = embedder.embed(task.test.texts), labels(task.test)
    body, figures = [], []
    cfg = ClassifierConfig(
        mode="linear_probe",
        self_training_rounds=rounds,
        self_training_pool=pool_size,
        seed=0,  # the applications' default: the same pool sample for every subset
    )
    subsets = sorted((s, split) for (k, s), split in task.shots.items() if k == SHOTS)
    for seed, split in subsets:
        x, y = embedder.embed(split.texts), labels(split)
        pool = self_training_pool(task.unlabeled, [*split.texts, *task.val.texts], cfg)
        x_pool = embedder.embed(pool)

        def fit(xs: np.ndarray, ys: np.ndarray):
            return fit_linear_probe(
                xs, ys, x_val, y_val, len(task.classes), accuracy, grid, normalize=True
            )

        started = time.perf_counter()
        W, b, chosen = fit(x, y)
        plain = accuracy(y_test, probe_probs(x_test, W, b, True).argmax(1))
        cells, row = [str(seed), f"{chosen['val']:.3f}", f"{plain:.3f}"], [chosen["val"], plain]
        for share in shares:
            W, b, kept, _ = self_train_probe(fit, x, y, x_pool, rounds, share, True)
            test = accuracy(y_test, probe_probs(x_test, W, b, True).argmax(1))
            cells += [str(kept["round"]), f"{kept['val']:.3f}", f"{test:.3f}"]
            row += [kept["val"], test]
        body.append([*cells, f"{len(pool):,}", f"{time.perf_counter() - started:.0f}"])
        figures.append(row)
    mean = np.mean(figures, axis=0)
    mean_cells = ["mean", f"{mean[0]:.3f}", f"{mean[1]:.3f}"]
    for i in range(len(shares)):
        mean_cells += ["", f"{mean[2 + 2 * i]:.3f}", f"{mean[3 + 2 * i]:.3f}"]
    body.append([*mean_cells, "", ""])
    columns = ["subset seed", "plain: val", "plain: test"]
    for share in shares:
        columns += [f"share {share:g}: round kept", "val", "test"]
    return rows.table([*columns, "pool", "s"], body)


if __name__ == "__main__":
    main()

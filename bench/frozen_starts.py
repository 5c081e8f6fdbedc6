"""What each pretrained start knows before any tuning: its frozen sentence vectors with a
logistic regression, on Banking77 and Financial PhraseBank 50Agree, beside its size and cost.

For each start of --starts (all-MiniLM-L6-v2 from its package; all-mpnet-base-v2 once
`make bench-mpnet` has unpacked it) on the splits of `bench/quality.py`: Banking77's
official split (995 training messages held out by hash for validation, all 3,080 test
messages; every label, and the 10-shot subsets at --seeds) and PhraseBank 50Agree's
stratified 70/10/20 splits at --pb-seeds. The vectors are mean-pooled and L2-normalised, as
each model's own sentence-transformers modules make them; the regression's C is chosen on
validation accuracy (C in 0.1, 1, 10, 100), the test split only reports. Per start it
prints its parameters, the size of its weights, its embedding rate on this machine (texts a
second at --threads, the texts of both datasets sorted by length in batches of 64) and the
accuracies: Banking77 with a 95% bootstrap interval over test messages, its 10-shot mean ±
std over subsets, PhraseBank's mean ± std over splits.

    .venv/bin/python bench/frozen_starts.py
    .venv/bin/python bench/frozen_starts.py --starts minilm --seeds 0 1 --pb-seeds 0
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _quality_rows as rows
from _common import SHARED_DATASETS, header
from _starts import STARTS_BY_NAME, chosen_start
from lp_ft import phrasebank_task
from probe_grid import banking77_task
from quality import SHOTS

from karpa.home import activate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--starts", nargs="+", choices=sorted(STARTS_BY_NAME), default=["minilm", "mpnet"]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--pb-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--datasets", type=Path, default=SHARED_DATASETS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    starts = [chosen_start(name) for name in args.starts]  # every folder there, before work
    command = "python bench/frozen_starts.py " + " ".join(sys.argv[1:])
    print(header("frozen pretrained starts + logistic regression", command.strip()))

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="karpa-bench-frozen-") as tmp:
        activate(Path(tmp) / "home")
        banking = banking77_task(args.datasets / "banking77", Path(tmp) / "b77", args.seeds)
        phrasebank = {
            s: phrasebank_task(args.datasets / "financial_phrasebank", Path(tmp) / "pb", s, [])
            for s in args.pb_seeds
        }
        body = []
        for start, folder in starts:
            embedder = rows.SentenceEncoder(folder, name=start.model)
            body.append(start_row(start, folder, embedder, banking, phrasebank))
            print(f"# {start.model}: {', '.join(body[-1][1:])}", flush=True)
    columns = [
        "start",
        "parameters",
        "weights MB",
        "texts/s",
        "Banking77",
        "95% CI",
        f"Banking77 {SHOTS}-shot",
        "PhraseBank 50Agree",
    ]
    print(rows.table(columns, body), flush=True)


def start_row(start, folder: Path, embedder: rows.SentenceEncoder, banking, phrasebank) -> list:
    """One start's cells: its size, embedding rate and the three accuracies. phrasebank:
    split seed -> TextTask."""
    tasks = (banking, *phrasebank.values())
    texts = {
        t for task in tasks for split in (task.train, task.val, task.test) for t in split.texts
    }
    embedder.embed(sorted(texts))  # every text once, timed; the fits below reuse the vectors
    rate = len(texts) / embedder.seconds
    from karpa.applications.text_config import IntentConfig

    resamples = IntentConfig().n_resamples  # the intervals the applications report
    labels = [*banking.classes, "oos"]  # as the intent application scores them
    b77 = rows.frozen_row(embedder, banking, labels, SHOTS, resamples, 0)
    pb = [
        rows.frozen_row(embedder, t, t.classes, None, resamples, s) for s, t in phrasebank.items()
    ]
    shots, shots_sd = rows.mean_std(b77["shots_per_seed"])
    pb_mean, pb_sd = rows.mean_std([r["accuracy"] for r in pb])
    weights = (folder / "model.safetensors").stat().st_size / 1e6
    return [
        start.model,
        f"{start.parameters}, {start.shape}",
        f"{weights:.0f}",
        f"{rate:.0f}",
        f"{b77['accuracy']:.4f}",
        f"[{b77['low']:.3f}, {b77['high']:.3f}]",
        f"{shots:.3f} ± {shots_sd:.3f}",
        f"{pb_mean:.3f} ± {pb_sd:.3f}",
    ]


if __name__ == "__main__":
    main()

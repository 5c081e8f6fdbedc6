"""Benchmark: karpa's quality on the public datasets, next to the baselines, with protocols.

Runs the real-data presets in configs/real (Banking77, Financial PhraseBank 50Agree and
AllAgree, MovieLens latest-small) with a model preset (default `small`) on CPU, calling the
pipeline's stage functions directly (as bench/overhead.py does), each task in its own
scratch store, and prints one table per task with its protocol and the reference targets.
Every figure also goes to a JSON file.

    .venv/bin/python bench/quality.py                          # everything: days on 2 cores
    .venv/bin/python bench/quality.py --quick --threads 1      # smoke run, a few minutes
    .venv/bin/python bench/quality.py --tasks banking77 --pretrain-steps 2000
    .venv/bin/python bench/quality.py --tasks movielens --pretrain-seeds 0 1 --rec-seeds 0 1 2
    .venv/bin/python bench/quality.py --merge a.json b.json --out ab.json  # join splits
    .venv/bin/python bench/quality.py --tasks banking77 --inits start --device cuda
    .venv/bin/python bench/quality.py --tasks banking77 --inits start --start mpnet

--inits start runs only the pretrained start's pipeline of each text split (and the frozen
start's row beside it); --start picks that start: all-MiniLM-L6-v2 (minilm, the default) or
all-mpnet-base-v2 (mpnet, once `make bench-mpnet` has unpacked it); --device cuda
pretrains and fine-tunes on a GPU (bf16 autocast).

The full run pretrains the `small` preset (5000 steps) twice per text split: from random
weights and from the pretrained start; on a 2-core CPU that is days of work, so
--pretrain-steps (or a GPU machine) is the practical way to run it. MovieLens runs the
recommender over pretraining seeds x fine-tune seeds (one pretraining per pretraining
seed, reused by its fine-tunes) and prints mean ± std over the runs, paired differences,
slices and the content ablation (bench/_quality_rec.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _quality_rows as rows
import _quality_trust as trust
from _common import SHARED_DATASETS, add_overrides, header
from _quality_merge import SEED_TASKS, SPLIT_TASKS, MergeError, merge_seeds, merge_task
from _quality_rec import RecRun
from _quality_rec_tables import rec_tables
from _quality_runs import PipelineRun, run_pipeline, setup_logging, subsample
from _starts import MINILM, STARTS_BY_NAME, Start, add_start_argument, chosen_start

from karpa.applications.text_config import PRETRAINED_START

logger = logging.getLogger("bench.quality")
REPO = Path(__file__).resolve().parents[1]
TASKS = ("banking77", "phrasebank", "phrasebank_allagree", "movielens")
FOLDER = {
    "banking77": "banking77",
    "phrasebank": "financial_phrasebank",
    "phrasebank_allagree": "financial_phrasebank",
    "movielens": "movielens_latest_small",
}
SHOTS = 10  # Banking77's few-shot protocol: labelled examples per class
INITS = ("own", "start")  # a text split's pipelines: own pretraining, a pretrained start
# A pretrained start's fine-tuning rates: the settings a run with pretrain.text_init gets
# (karpa/config_start.py), named for the benches that start an encoder without one.
START_ENCODER_LR_SCALE = PRETRAINED_START["intent"]["encoder_lr_scale"]
START_CONTRASTIVE_LR = PRETRAINED_START["intent"]["contrastive_lr"]
# --quick: a few steps of everything, on a sample of each dataset (see `subsample`).
QUICK_STEPS = 1
QUICK_SEEDS = [0, 1]
QUICK_TEXT = (
    "{max_steps: 6, min_steps: 2, curve_epochs: 1, curve_min_steps: 2, "
    "n_resamples: 50, curve_resamples: 20}"
)
QUICK_SETS = [
    f"finetune.intent={QUICK_TEXT}",
    f"finetune.sentiment={QUICK_TEXT}",
    "finetune.recommendation={epochs: 1, max_steps: 4, n_resamples: 50}",
]


@dataclass
class Options:
    """What every task run shares (from the command line)."""

    scratch: Path
    preset: str
    seeds: list[int]
    sets: list[str]  # --quick and --pretrain-steps
    user_sets: list[str]  # --set, applied last so that they win
    log_since: float  # when the bench started: each pipeline's process times its lines from it
    device: str = "cpu"  # where pretraining and fine-tuning run (cpu or cuda)
    inits: tuple[str, ...] = INITS  # which pipelines of a text split run: own, start or both
    start: Start = MINILM  # the pretrained start (its pipeline and the frozen row)
    start_folder: Path | None = None  # another copy of its model folder
    frozen: rows.SentenceEncoder | None = None
    # MovieLens: each pretraining seed's foundation fine-tuned with each fine-tune seed.
    pretrain_seeds: list[int] = field(default_factory=lambda: [0, 1])
    rec_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])

    def base_sets(self) -> list[str]:
        return [
            f"pretrain.preset={self.preset}",
            f"pretrain.device={self.device}",
            f"finetune.device={self.device}",
            # The text presets bound a CPU machine's memory for some speed; a GPU
            # machine has the memory.
            *(
                [
                    "pretrain.activation_checkpointing=false",
                    "finetune.intent.activation_checkpointing=false",
                    "finetune.sentiment.activation_checkpointing=false",
                    "mmap_threshold_mb=null",
                ]
                if self.device == "cuda"
                else []
            ),
            *self.sets,
        ]

    def embedder(self) -> rows.SentenceEncoder:
        """The frozen start, loaded on first use (MovieLens alone never needs it)."""
        if self.frozen is None:
            self.frozen = rows.SentenceEncoder(self.start_path(), name=self.start.model)
        return self.frozen

    def start_path(self) -> Path:
        return self.start_folder or chosen_start(self.start.name)[1]

    @property
    def started_row(self) -> str:
        return rows.started_row(self.start.short)

    @property
    def frozen_row(self) -> str:
        return rows.frozen_row_name(self.start.short)


@dataclass
class TaskResult:
    """One task's table, the protocol and targets printed beside it, and its runs."""

    task: str
    protocol: list[str]
    table: str
    targets: list[str]
    figures: dict[str, Any]
    runs: list[PipelineRun]
    extra: list[str] = field(default_factory=list)  # further tables, each with its heading

    def text(self) -> str:
        lines = [
            f"\n## {self.task}",
            *(f"protocol: {p}" for p in self.protocol),
            "",
            self.table,
            "",
            *(f"target: {t}" for t in self.targets),
            *self.extra,
            "timings:",
            *(f"  {r.timing()}" for r in self.runs),
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The table's figures, and each run's timings and application report (less its
        artifact paths, which point into the scratch folder)."""
        runs = [
            {
                "label": r.label,
                "seconds": r.seconds,
                "pretrain_steps": r.pretrain_steps,
                "pretrain_samples_per_s": r.samples_per_s,
                "pretrain_reused": r.pretrain_reused,
                "peak_mb": r.peak_mb,
                "pretrain_verdict": r.pretrain_verdict,
                "report": {k: v for k, v in r.report.items() if k != "artifacts"},
            }
            for r in self.runs
        ]
        return {
            "protocol": self.protocol,
            "targets": self.targets,
            "figures": self.figures,
            "runs": runs,
        }


def text_runs(
    task: str, data: Path, opts: Options, store: Path, sets: list[str], tag: str
) -> tuple[PipelineRun | None, PipelineRun | None]:
    """karpa from its own pretraining (with the ablation and TF-IDF in its report), then
    karpa from the pretrained start's text tower (only its own model: the others would
    repeat); each only if opts.inits names it."""
    app = "intent" if task == "banking77" else "sentiment"
    own = started = None
    if "own" in opts.inits:
        own = run_pipeline(
            task,
            data,
            store,
            [*opts.base_sets(), *sets, *opts.user_sets],
            f"{task}{tag} own-init",
            opts.log_since,
        )
    if "start" not in opts.inits:
        return own, None
    # The start's own fine-tune settings (encoder at 0.025 x the head's rate; intent's
    # curve tries LP-FT after contrastive tuning at 3e-5) are what the run config gives a
    # run with pretrain.text_init (karpa/config_start.py): the bench measures those.
    from_start = [
        f"pretrain.text_init={opts.start_path()}",
        f"finetune.{app}.run_scratch=false",
        f"finetune.{app}.run_baselines=false",
    ]
    started = run_pipeline(
        task,
        data,
        store,
        [*opts.base_sets(), *sets, *from_start, *opts.user_sets],
        f"{task}{tag} {opts.start.short}-init",
        opts.log_since,
    )
    return own, started


def banking77_sets(seeds: list[int]) -> list[str]:
    """Banking77's protocol as config: `SHOTS`-shot subsets at each seed (align and the
    learning curve), and the whole official test split."""
    return [
        f"align.k_shots=[{SHOTS}]",
        f"align.fewshot_seeds={seeds}",
        f"finetune.intent.k_shots=[{SHOTS}]",
        f"finetune.intent.seeds={seeds}",
        "finetune.intent.max_test_examples=null",
    ]


def banking77(data: Path, opts: Options) -> TaskResult:
    from karpa.applications.data import load_text_task

    seeds = opts.seeds
    sets = banking77_sets(seeds)
    own, started = text_runs("banking77", data, opts, opts.scratch / "banking77", sets, "")
    ran = [r for r in (own, started) if r is not None]
    first = ran[0]  # both pipelines share the views, the protocol and the recipe
    task = load_text_task(first.views, "intent", ["oos"], None, [SHOTS], seeds)
    logger.info("banking77: %s", opts.frozen_row)
    n_boot = first.report["headline"]["n_resamples"]
    labels = [*task.classes, "oos"]  # as the intent application scores them
    frozen = rows.frozen_row(opts.embedder(), task, labels, SHOTS, n_boot, 0)
    figures = banking77_figures(
        own.report if own else None,
        started.report if started else None,
        frozen,
        opts.start.short,
    )
    short, model = opts.start.short, opts.start.model
    protocol = [
        f"official Banking77 train/test split (ids train-*/test-*); validation = "
        f"{len(task.val)} of the official training messages, chosen by hash (align.val_share) "
        f"for early stopping and the {short} C; every model trains on the other "
        f"{len(task.train)} and is tested on all {len(task.test)} official test messages "
        f"({len(task.classes)} intents)",
        "accuracy with a 95% bootstrap interval over test messages; macro-F1 over the "
        f"{len(task.classes)} intents (out-of-scope is never predicted: no out-of-scope "
        "example)",
        f"{SHOTS}-shot: {SHOTS} labelled training messages per intent (align.k_shots, subset "
        f"seeds {seeds}), accuracy mean ± std over seeds; karpa rows: "
        f"{first.report['protocol']['learning_curve']} (the application's learning curve, "
        f"per_seed); TF-IDF and {short}: logistic regression on the subset",
        f"karpa: preset {opts.preset}, pretraining steps: {first.pretrain_steps} (on the "
        f"training texts), fine-tuned ({first.report['protocol']['mode']}) on the training "
        f"messages, on {opts.device}; "
        f"{short} start: pretrain.text_init = {model}, then the same pretraining; "
        f"its encoder fine-tunes at {START_ENCODER_LR_SCALE} x the head's learning rate; "
        f"its LP-FT (probe_full) after contrastive tuning at {START_CONTRASTIVE_LR:g}",
        f"frozen {short}: mean-pooled L2-normalised {model} vectors, logistic "
        f"regression, C from {list(rows.C_GRID)} by validation accuracy (chose {frozen['C']})",
    ]
    return TaskResult(
        "banking77",
        protocol,
        banking77_table(figures),
        banking77_targets(figures),
        figures,
        ran,
        banking77_extra(
            [
                (name, run.report)
                for name, run in ((rows.OWN, own), (opts.started_row, started))
                if run is not None
            ]
        ),
    )


def banking77_figures(
    own: dict[str, Any] | None,
    started: dict[str, Any] | None,
    frozen: dict[str, Any] | None,
    short: str = MINILM.short,
) -> dict[str, dict[str, Any]]:
    """Row -> {accuracy, macro_f1, low, high, <k>shot_accuracy_per_seed}, in print order,
    from the own-init run's report (karpa, its ablation and TF-IDF), the report of the run
    from the pretrained start `short` and that start's frozen baseline (any may be missing:
    a partial run, --inits)."""
    figures: dict[str, dict[str, Any]] = {}
    shots: dict[str, list[float]] = {}
    found = rows.report_text_rows(own) if own is not None else {}
    if own is not None:
        figures[rows.OWN] = found["pretrained"]
        shots[rows.OWN] = rows.curve_per_seed(own, "pretrained", SHOTS)
    if started is not None:
        figures[rows.started_row(short)] = rows.report_text_rows(started)["pretrained"]
        shots[rows.started_row(short)] = rows.curve_per_seed(started, "pretrained", SHOTS)
    if own is not None:
        figures[rows.SCRATCH], figures[rows.TFIDF] = found["scratch"], found["tfidf_lr"]
        shots[rows.SCRATCH] = rows.curve_per_seed(own, "scratch", SHOTS)
        shots[rows.TFIDF] = rows.curve_per_seed(own, "tfidf_lr", SHOTS)
    if frozen is not None:  # a copy: the caller's dict keeps its per-seed list
        name = rows.frozen_row_name(short)
        figures[name] = {k: v for k, v in frozen.items() if k != "shots_per_seed"}
        shots[name] = frozen["shots_per_seed"]
    for name, per_seed in shots.items():
        figures[name][f"{SHOTS}shot_accuracy_per_seed"] = per_seed
    return figures


def banking77_table(figures: dict[str, dict[str, Any]]) -> str:
    columns = ["model", "accuracy", "95% CI", "macro-F1", f"{SHOTS}-shot accuracy"]
    body = [
        [
            name,
            f"{f['accuracy']:.4f}",
            f"[{f['low']:.3f}, {f['high']:.3f}]",
            f"{f['macro_f1']:.4f}",
            rows.pm(f[f"{SHOTS}shot_accuracy_per_seed"]),
        ]
        for name, f in figures.items()
    ]
    return rows.table(columns, body)


def start_in(row_names: Iterable[str]) -> Start:
    """The pretrained start whose rows a table has (MiniLM where it has none)."""
    names = set(row_names)
    for start in STARTS_BY_NAME.values():
        if {rows.started_row(start.short), rows.frozen_row_name(start.short)} & names:
            return start
    return MINILM


def _reached(ok: bool) -> str:
    return "reached" if ok else "not reached"


def banking77_targets(figures: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 22's Banking77 targets, judged on the figures of one run (those of the rows
    it has; the pretrained start's rows are found by their names, whichever start ran)."""
    shots = f"{SHOTS}shot_accuracy_per_seed"
    targets = []
    short = start_in(figures).short
    started = figures.get(rows.started_row(short))
    if started is not None:
        few = rows.mean_std(started[shots])[0] if started[shots] else float("nan")
        frozen = figures.get(rows.frozen_row_name(short))
        measured = (
            f", frozen {short} + LR {rows.mean_std(frozen[shots])[0]:.3f} (measured here)"
            if frozen
            else ""
        )
        targets += [
            f"{SHOTS}-shot accuracy >= 0.88 with the pretrained start: {few:.3f} "
            f"({_reached(few >= 0.88)}); references: CPFT 0.872 (published){measured}",
            f"accuracy >= 0.94 with the pretrained start: {started['accuracy']:.4f} "
            f"({_reached(started['accuracy'] >= 0.94)}); references: frozen MiniLM + LR "
            "0.930, fine-tuned BERT-large 0.937",
        ]
    if rows.OWN not in figures:  # --inits start
        return targets
    own, scratch = figures[rows.OWN][shots], figures[rows.SCRATCH][shots]
    gain, low, high = rows.paired_over_seeds(own, scratch)
    return [
        *targets,
        f"own pretraining above its ablation at {SHOTS} shots, paired over the "
        f"{len(own)} subset seeds (t-interval): {gain:+.3f} [{low:+.3f}, {high:+.3f}] "
        f"({_reached(low > 0)})",
    ]


def banking77_extra(named: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The few-shot recipes chosen on validation and the trust table of the karpa rows
    (row name, report)."""
    chosen = [
        f"  {name}: "
        + ", ".join(
            f"{r['model']} {r.get('mode', '-')}"
            for r in report["learning_curve"]
            if r["k"] == SHOTS and r["model"] in ("pretrained", "scratch")
        )
        for name, report in named
    ]
    return [
        "",
        f"{SHOTS}-shot recipe of each karpa encoder (curve_mode, chosen on validation):",
        *chosen,
        "",
        f"trust (issue 25): accuracy on the robustness sample "
        f"({trust.sample_size(named, 'accuracy')} test messages, seeded), clean and under each "
        "perturbation, 95% intervals; deletion test's area between the curves:",
        trust.trust_table(named, "accuracy"),
    ]


def phrasebank_sets(seed: int) -> list[str]:
    """A PhraseBank task's protocol as config: a stratified 70/10/20 split per seed (the run
    seed too), every test sentence; no learning curve (no few-shot protocol)."""
    return [
        f"seed={seed}",
        "align.stratify=true",
        f"align.salt=quality-split-{seed}",
        "align.test_share=0.2",
        "align.val_share=0.1",
        "align.k_shots=[]",
        "finetune.sentiment.k_shots=[]",
        "finetune.sentiment.max_test_examples=null",
    ]


def phrasebank(name: str, data: Path, opts: Options) -> TaskResult:
    from karpa.applications.data import load_text_task

    per_split: dict[str, list[dict[str, float]]] = {r: [] for r in rows.text_rows(opts.start.short)}
    runs: list[PipelineRun] = []
    for seed in opts.seeds:
        sets = phrasebank_sets(seed)
        own, started = text_runs(name, data, opts, opts.scratch / name, sets, f" split {seed}")
        ran = [r for r in (own, started) if r is not None]
        runs += ran
        task = load_text_task(ran[0].views, "sentiment")
        logger.info("%s split %d: %s", name, seed, opts.frozen_row)
        frozen = rows.frozen_row(
            opts.embedder(),
            task,
            task.classes,
            None,
            ran[0].report["headline"]["n_resamples"],
            seed,
        )
        split_rows = {opts.frozen_row: frozen}
        if own is not None:
            found = rows.report_text_rows(own.report)
            split_rows |= {
                rows.OWN: found["pretrained"],
                rows.SCRATCH: found["scratch"],
                rows.TFIDF: found["tfidf_lr"],
            }
        if started is not None:
            split_rows[opts.started_row] = rows.report_text_rows(started.report)["pretrained"]
        for row, figures in split_rows.items():
            per_split[row].append(figures)
    per_split = {row: found for row, found in per_split.items() if found}  # --inits
    return phrasebank_result(name, opts.seeds, per_split, runs, opts.preset)


def phrasebank_result(
    name: str,
    seeds: list[int],
    per_split: dict[str, list[dict[str, Any]]],
    runs: list[PipelineRun],
    preset: str,
) -> TaskResult:
    """A PhraseBank task's protocol, table and target from its per-split figures (table
    row -> one entry per split; rows --inits left out are absent) and its runs (one or
    two per split, in seed order)."""
    sizes = runs[0].report["data"]
    steps, mode = runs[0].pretrain_steps, runs[0].report["protocol"]["mode"]
    start = start_in(per_split)
    short, model = start.short, start.model
    body = [
        [row, rows.pm([f["accuracy"] for f in found]), rows.pm([f["macro_f1"] for f in found])]
        for row, found in per_split.items()
    ]
    source = "50Agree" if name == "phrasebank" else "AllAgree"
    protocol = [
        f"Financial PhraseBank {source}: {len(seeds)} stratified splits (seeds "
        f"{seeds}; align.stratify=true, align.salt=quality-split-<seed>, run seed = "
        "split seed): per sentiment class 20% test and 80% training pool, of which 10% of "
        f"the class (1/8 of the pool) is validation (early stopping, the {short} C) and 70% is "
        f"what every model trains on (split {seeds[0]}: {sizes['train']} train, "
        f"{sizes['val']} val, {sizes['test']} test)",
        f"accuracy and macro-F1 over the {sizes['classes']} classes, mean ± std over splits",
        f"karpa: preset {preset}, pretraining steps: {steps} (on each "
        f"split's training texts), fine-tuned ({mode}, "
        f"class-weighted); {short} start: pretrain.text_init = {model}, then the same, "
        f"its encoder at {START_ENCODER_LR_SCALE} x the head's learning rate",
        f"frozen {short}: mean-pooled L2-normalised {model} vectors, logistic "
        f"regression, C from {list(rows.C_GRID)} by validation accuracy",
    ]
    targets = []
    if name == "phrasebank":
        best = max(
            rows.mean_std([f["accuracy"] for f in per_split[r]])[0]
            for r in (rows.OWN, rows.started_row(short))
            if r in per_split
        )
        targets.append(
            f"accuracy >= 0.87 (issue 22; FinBERT 0.86): best karpa {best:.4f} "
            f"({'reached' if best >= 0.87 else 'not reached'})"
        )
    columns = ["model", "accuracy (mean ± std)", "macro-F1 (mean ± std)"]
    return TaskResult(name, protocol, rows.table(columns, body), targets, per_split, runs)


def movielens(data: Path, opts: Options) -> TaskResult:
    """The recommender over pretraining seeds x fine-tune seeds, in one store: the first
    run of a pretraining seed pretrains, its other fine-tune seeds find the checkpoint
    there (same views, same pretraining config) and reuse it. Every run also fine-tunes
    the ids-only twin (the content ablation) and the scratch ablation."""
    runs: list[PipelineRun] = []
    found: list[RecRun] = []
    for pre in opts.pretrain_seeds:
        for fine in opts.rec_seeds:
            sets = [
                f"seed={pre}",
                f"finetune.recommendation.seed={fine}",
                "finetune.recommendation.content_ablation=true",
            ]
            run = run_pipeline(
                "movielens",
                data,
                opts.scratch / "movielens",
                [*opts.base_sets(), *sets, *opts.user_sets],
                f"movielens pretrain {pre} finetune {fine}",
                opts.log_since,
            )
            runs.append(run)
            found.append(RecRun(pre, fine, run.report))
    foundations = {(r.pretrain_seed, r.report["protocol"]["foundation"]) for r in found}
    if len(foundations) != len(opts.pretrain_seeds):
        raise RuntimeError(
            f"movielens: {len(foundations)} foundations for {len(opts.pretrain_seeds)} "
            "pretraining seeds: a fine-tune seed did not reuse its seed's checkpoint, or "
            "two seeds share one"
        )
    return movielens_result(runs, found, opts.preset, sum(r.pretrain_reused for r in runs))


def movielens_result(
    runs: list[PipelineRun], found: list[RecRun], preset: str, reused: int
) -> TaskResult:
    """The MovieLens task's tables from its runs (one call or several files merged);
    `reused`: how many fine-tunes found their seed's foundation already pretrained."""
    tables = rec_tables(found, preset, runs[0].pretrain_steps, reused)
    return TaskResult(
        "movielens",
        tables.protocol,
        tables.table,
        tables.targets,
        tables.figures,
        runs,
        tables.extra,
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument(
        "--pretrain-steps",
        type=int,
        default=None,
        help=f"pretraining steps (default: the preset's; --quick: {QUICK_STEPS})",
    )
    parser.add_argument("--preset", default="small", help="model preset (default small)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="where pretraining and fine-tuning run (default cpu; cuda: bf16 autocast)",
    )
    parser.add_argument(
        "--inits",
        nargs="+",
        choices=[*INITS, "minilm"],
        default=list(INITS),
        help="the text tasks' pipelines: own pretraining, the pretrained start or both "
        "(default; minilm: the older name of start)",
    )
    add_start_argument(parser)
    parser.add_argument(
        "--start-folder",
        "--minilm",
        type=Path,
        help="another copy of the start's model folder (default: its package's, or the "
        "folder `make bench-mpnet` unpacked)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="PhraseBank split seeds and Banking77 few-shot subset seeds "
        f"(default 0 1 2 3 4; --quick: {' '.join(map(str, QUICK_SEEDS))})",
    )
    parser.add_argument(
        "--pretrain-seeds",
        type=int,
        nargs="+",
        default=[0, 1],
        help="MovieLens: pretraining seeds, one foundation each (default 0 1)",
    )
    parser.add_argument(
        "--rec-seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="MovieLens: fine-tune seeds, each from every foundation (default 0 1 2)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a sample of each dataset and a few steps: a smoke run"
    )
    add_overrides(parser, "pretrain.lr=3e-4", "every run")
    parser.add_argument("--out", type=Path, default=Path(".karpa/bench/quality.json"))
    parser.add_argument(
        "--datasets",
        type=Path,
        default=SHARED_DATASETS,
        help="folder holding banking77/, financial_phrasebank/, movielens_latest_small/",
    )
    parser.add_argument("--home", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument(
        "--tables-from",
        type=Path,
        metavar="JSON",
        help="print a Banking77 result file's targets, few-shot recipes and trust table "
        "again from its figures and reports, or the own-init rows from one pipeline's "
        "file (<scratch>/pipeline-runs/banking77_own-init.json); runs nothing",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="run nothing: join result files that ran different splits of "
        "the PhraseBank tasks (--seeds), or different MovieLens seeds (--pretrain-seeds x "
        "--rec-seeds), into one table each, written to --out",
    )
    args = parser.parse_args()
    args.inits = list(dict.fromkeys("start" if i == "minilm" else i for i in args.inits))
    return args


def merge(paths: list[Path], out: Path, command: str) -> None:
    """Print and write the tables of the split and seed tasks in `paths`, their splits or
    seeds joined."""
    parts = []
    for path in paths:
        try:
            results = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise SystemExit(f"{path}: not a bench/quality.py result file ({err})") from err
        missing = [k for k in ("command", "seeds", "preset", "tasks") if k not in results]
        if missing:
            raise SystemExit(f"{path}: not a bench/quality.py result file (no {missing[0]!r})")
        parts.append((path, results))
    tasks = [t for t in parts[0][1]["tasks"] if t in SPLIT_TASKS + SEED_TASKS]
    if not tasks:
        raise SystemExit(f"{paths[0]}: no task that merges ({', '.join(SPLIT_TASKS + SEED_TASKS)})")
    print(header("karpa on public datasets: splits or seeds of several runs joined", command))
    for path, results in parts:
        print(f"# merged: {path}: {results['command']}")
    merged: dict[str, Any] = {
        "command": command,
        "merged_from": [
            {"file": str(path), "command": r["command"], "seeds": r["seeds"]} for path, r in parts
        ],
        "quick": False,
        "tasks": {},
    }
    for name in tasks:
        try:
            if name in SEED_TASKS:
                by_seed = merge_seeds(name, parts)
                runs = [PipelineRun.from_json(r) for r in by_seed.runs]
                found = [
                    RecRun(p, f, r.report) for (p, f), r in zip(by_seed.seeds, runs, strict=True)
                ]
                # Files may share a store: each foundation counts as pretrained once.
                pretrained = len({p for p, _ in by_seed.seeds})
                result = movielens_result(runs, found, by_seed.preset, len(runs) - pretrained)
                merged.update(
                    pretrain_seeds=sorted({p for p, _ in by_seed.seeds}),
                    rec_seeds=sorted({f for _, f in by_seed.seeds}),
                    preset=by_seed.preset,
                )
            else:
                split = merge_task(name, parts)
                runs = [PipelineRun.from_json(r) for r in split.runs]
                result = phrasebank_result(name, split.seeds, split.figures, runs, split.preset)
                merged.update(seeds=split.seeds, preset=split.preset)
        except MergeError as err:
            raise SystemExit(str(err)) from err
        seconds = sum(r["tasks"][name]["seconds"] for _, r in parts)
        print(result.text() + f"\n  task total {seconds:.0f} s (the runs' sum)", flush=True)
        merged["tasks"][name] = {**result.to_json(), "seconds": seconds}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=2, default=str))
    logger.info("figures written to %s", out)


def reprint_banking77(path: Path, command: str) -> None:
    """Banking77's targets and extra tables as a run prints them, from a result file
    (figures and reports), or the own-init rows alone from one pipeline's file (the
    scratch folder's pipeline-runs/banking77_own-init.json, written when that pipeline
    ends: a run stopped before the pretrained start's still has them)."""
    results = json.loads(path.read_text())
    print(header("karpa on Banking77: targets and trust, from a result file", command))
    if "report" in results:  # one pipeline's file
        print(f"# from: {path}: the pipeline {results['label']!r} alone", flush=True)
        figures = banking77_figures(results["report"], None, None)
        lines = [banking77_table(figures), ""]
        named = [(rows.OWN, results["report"])]
    else:
        task = results.get("tasks", {}).get("banking77")
        if task is None:
            raise SystemExit(f"{path}: no banking77 task in this result file")
        print(f"# from: {path}: {results['command']}", flush=True)
        reports = {r["label"].split()[-1]: r["report"] for r in task["runs"]}
        figures, lines = task["figures"], []
        short = start_in(figures).short
        named = [
            (name, reports[start])
            for name, start in ((rows.OWN, "own-init"), (rows.started_row(short), f"{short}-init"))
            if start in reports  # a file of one pipeline (--inits)
        ]
    lines += [*(f"target: {t}" for t in banking77_targets(figures)), *banking77_extra(named)]
    print("\n".join(lines), flush=True)


def main() -> None:
    args = parse_args()
    command = "python bench/quality.py " + " ".join(sys.argv[1:])
    if args.merge:
        setup_logging()
        merge(args.merge, args.out, command.strip())
        return
    if args.tables_from:
        reprint_banking77(args.tables_from, command.strip())
        return
    folder = args.start_folder
    if folder is not None and not (folder / "config.json").is_file():
        raise SystemExit(f"--start-folder {folder}: not a model folder (no config.json in it)")
    start = STARTS_BY_NAME[args.start]
    if folder is None and "start" in args.inits:
        chosen_start(start.name)  # the folder is there, or one line saying how to make it
    # `kill` unwinds like Ctrl-C: the running pipeline's process is stopped with the bench
    # (run_pipeline) and the scratch folder is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    since = setup_logging()
    # transformers draws a progress bar each time it loads the start's weights.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    # numpy's BLAS (bootstrap, EASE, item-kNN, sklearn) keeps to the same thread budget.
    blas = threadpool_limits(limits=args.threads)
    seeds = args.seeds or (QUICK_SEEDS if args.quick else [0, 1, 2, 3, 4])
    steps = args.pretrain_steps or (QUICK_STEPS if args.quick else None)
    sets = ([f"pretrain.steps={steps}"] if steps else []) + (QUICK_SETS if args.quick else [])
    print(header("karpa on public datasets: pretrained vs ablation vs baselines", command.strip()))
    print(
        f"# preset {args.preset}, {args.device}, {torch.get_num_threads()} torch threads, seeds "
        f"{seeds}"
        + (
            f", MovieLens pretraining seeds {args.pretrain_seeds} x fine-tune seeds "
            f"{args.rec_seeds}"
            if "movielens" in args.tasks
            else ""
        )
        + (
            ", QUICK: a sample of each dataset and a few steps (smoke run, the "
            "figures mean nothing)"
            if args.quick
            else ""
        ),
        flush=True,
    )
    from karpa.home import activate

    with tempfile.TemporaryDirectory(prefix="karpa-bench-quality-") as tmp:
        scratch = (args.home or Path(tmp)).resolve()
        activate(scratch / "home")  # sets HF_HUB_OFFLINE=1 among the quiet settings
        opts = Options(
            scratch,
            args.preset,
            seeds,
            sets,
            args.set,
            since,
            device=args.device,
            inits=tuple(args.inits),
            start=start,
            start_folder=folder.resolve() if folder else None,
            pretrain_seeds=args.pretrain_seeds,
            rec_seeds=args.rec_seeds,
        )
        runners = {
            "banking77": banking77,
            "movielens": movielens,
            "phrasebank": lambda d, o: phrasebank("phrasebank", d, o),
            "phrasebank_allagree": lambda d, o: phrasebank("phrasebank_allagree", d, o),
        }
        results: dict[str, Any] = {
            "command": command,
            "seeds": seeds,
            "pretrain_seeds": args.pretrain_seeds,
            "rec_seeds": args.rec_seeds,
            "preset": args.preset,
            "threads": args.threads,
            "quick": args.quick,
            "tasks": {},
        }
        for name in args.tasks:
            started = time.perf_counter()
            data = args.datasets / FOLDER[name]
            if args.quick:
                data = subsample(name, data, scratch / "data" / name)
            result = runners[name](data, opts)
            seconds = time.perf_counter() - started
            # Each pipeline runs in a child process (its peaks are in its timing line);
            # the bench's own process holds the baselines' rows and the frozen start.
            own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                result.text() + f"\n  task total {seconds:.0f} s; the bench process's own "
                f"peak resident memory so far {own_peak:,.0f} MB",
                flush=True,
            )
            results["tasks"][name] = {
                **result.to_json(),
                "seconds": seconds,
                "bench_peak_mb": own_peak,
            }
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2, default=str))
        logger.info("figures written to %s", args.out)
    blas.restore_original_limits()


if __name__ == "__main__":
    main()

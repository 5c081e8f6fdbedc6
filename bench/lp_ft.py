"""Few labels from a pretrained start: the self-trained probe against LP-FT, Banking77 10-shot.

The learning curve's candidates at k labels per class (curve_modes.py) include a linear
probe on the frozen start, self-trained on the table's unlabeled training texts, and
"probe_full" (LP-FT, Kumar et al. 2022): that same probe becomes the head's start, then the
whole encoder fine-tunes on the labeled texts, validated first as step 0 so early stopping
can keep the probe. This bench runs both through the applications' own `train_classifier`
and the Banking77 preset's curve recipe (`finetune.intent`, the candidate's learning-curve
settings), from the all-MiniLM-L6-v2 start (`--start mpnet`: all-mpnet-base-v2) with no
in-domain pretraining, on the 10-shot subsets of `bench/quality.py --tasks banking77`
(official split, 995 validation messages, all 3,080 test messages). `--lr` tries several
probe_full learning rates (the head's; the encoder's is `probe_full_encoder_lr`). Per
subset seed it prints each recipe's validation accuracy (what chooses) and test accuracy
(reported, never used to choose), and the recipe validation picks among them. `--full`
compares instead, on the whole training set (9,008 messages), the headline recipe of
bench/quality.py's MiniLM-started pipeline ("full": a fresh head, the encoder at
START_ENCODER_LR_SCALE x its learning rate) with probe_full at the headline's settings
(the probe then has no unlabeled texts left to self-train on). `--task phrasebank` runs
that comparison on Financial PhraseBank 50Agree's stratified splits (`bench/quality.py
--tasks phrasebank`, one per --seeds), the sentiment preset's recipe; the fine-tunes' seed
is the preset's on every split. `--wise` adds LP-FT at the first learning rate with a
weight-space ensemble of the fine-tune and its probe-started start (WiSE-FT,
`probe_full_wise`), the mixing weight chosen on validation. `--pseudo` adds LP-FT at the
first learning rate whose fine-tune also trains on the unlabeled training texts the chosen
probe labels most confidently, that share of each predicted class (`probe_full_pseudo`).
`--ensemble K…` adds the average of the predicted probabilities of K LP-FT fine-tunes at
the first learning rate, the preset's seed and the K-1 after it (each seed also draws its
probe's self-training pool), the first being the LP-FT row's own; and, for the largest K,
two model soups of those fine-tunes (Wortsman et al. 2022: one model, its weights
averaged): uniform, and greedy (members in order of validation accuracy, each kept only if
the soup's validation accuracy does not drop). `--contrastive` adds the
supervised-contrastive probe (SetFit-style, `contrastive_probe`) and LP-FT at the first
learning rate after that same contrastive tuning of the encoder (`probe_full_contrastive`:
CPFT's contrastive stage, then LP-FT). `--no-first` leaves out the first recipe (the
probe, or with `--full` the full fine-tune), `--no-lp-ft` the LP-FT rows at `--lr`.

    .venv/bin/python bench/lp_ft.py
    .venv/bin/python bench/lp_ft.py --seeds 0 1 --lr 1e-4 3e-4
    .venv/bin/python bench/lp_ft.py --full
    .venv/bin/python bench/lp_ft.py --lr 1e-4 --set finetune.intent.curve_epochs=20
    .venv/bin/python bench/lp_ft.py --task phrasebank --seeds 0 1 2
    .venv/bin/python bench/lp_ft.py --wise 0.25 0.5 0.75
    .venv/bin/python bench/lp_ft.py --pseudo 0.33
    .venv/bin/python bench/lp_ft.py --ensemble 2 3 4
    .venv/bin/python bench/lp_ft.py --contrastive --set finetune.intent.contrastive_lr=3e-5
    .venv/bin/python bench/lp_ft.py --start mpnet   # all-mpnet-base-v2 (make bench-mpnet)
    .venv/bin/python bench/lp_ft.py --merge seed0.log seed1.log   # runs of one seed each
    .venv/bin/python bench/lp_ft.py --full --start mpnet --device cuda
    .venv/bin/python bench/lp_ft.py --full --start mpnet --no-first   # LP-FT alone
    .venv/bin/python bench/lp_ft.py --task phrasebank --start mpnet --no-lp-ft   # full alone
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _quality_rows as rows
from _common import SHARED_DATASETS, add_overrides, direct_views, header, show_progress
from _starts import add_start_argument, chosen_start
from probe_grid import banking77_task
from quality import SHOTS, START_ENCODER_LR_SCALE, banking77_sets, phrasebank_sets

from karpa.allocators import bound_heap
from karpa.config import CONFIGS, load_config
from karpa.home import activate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, nargs="+", help="probe_full_lr values to try")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--full", action="store_true", help="the whole training set: headline full vs probe_full"
    )
    parser.add_argument(
        "--no-first",
        action="store_true",
        help="leave out the first recipe (the probe, or with --full the full fine-tune): "
        "LP-FT validates its probe as step 0 anyway, and a larger start's full fine-tune "
        "costs hours on a CPU",
    )
    parser.add_argument(
        "--no-lp-ft",
        action="store_true",
        help="leave out the LP-FT rows at --lr (the recipes --wise, --pseudo, --contrastive "
        "and --ensemble add stay)",
    )
    parser.add_argument(
        "--wise",
        type=float,
        nargs="+",
        help="also LP-FT at the first --lr with these WiSE-FT mixing weights (probe_full_wise)",
    )
    parser.add_argument(
        "--pseudo",
        type=float,
        nargs="+",
        help="also LP-FT at the first --lr training on these shares of pseudo-labeled "
        "unlabeled texts per class too (probe_full_pseudo)",
    )
    parser.add_argument(
        "--ensemble",
        type=int,
        nargs="+",
        metavar="K",
        help="also the mean predicted probabilities of K LP-FT fine-tunes at the first --lr "
        "(the preset's seed and the K-1 after it), one row per K",
    )
    parser.add_argument(
        "--contrastive",
        action="store_true",
        help="also the contrastive probe and LP-FT at the first --lr after the same "
        "contrastive tuning (probe_full_contrastive, CPFT-style)",
    )
    parser.add_argument(
        "--task",
        choices=["banking77", "phrasebank"],
        default="banking77",
        help="phrasebank: 50Agree's splits at --seeds, every label (implies --full)",
    )
    add_overrides(parser, "finetune.intent.curve_epochs=20")
    add_start_argument(parser)
    parser.add_argument("--datasets", type=Path, default=SHARED_DATASETS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="where the encoders embed and fine-tune (cuda: bf16 autocast, no activation "
        "checkpointing)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="LOG",
        help="print one table from the printed output of runs of this command at different "
        "--seeds (bench/_lp_ft_merge.py); nothing trains",
    )
    args = parser.parse_args()
    if (
        args.no_first
        and args.no_lp_ft
        and not (args.wise or args.pseudo or args.ensemble or args.contrastive)
    ):
        parser.error("--no-first with --no-lp-ft leaves no recipe to run")
    if args.merge:
        print_merged(args.merge)
        return
    start, folder = chosen_start(args.start)
    full = args.full or args.task == "phrasebank"
    command = "python bench/lp_ft.py " + " ".join(sys.argv[1:])
    what = "every label: full vs LP-FT" if full else "10-shot: self-trained probe vs LP-FT"
    if args.no_first:
        what = "every label: LP-FT" if full else "10-shot: LP-FT"
    elif args.no_lp_ft:
        what = "every label: full fine-tune" if full else "10-shot: self-trained probe"
    name = "Banking77" if args.task == "banking77" else "Financial PhraseBank 50Agree"
    print(header(f"{what} from {start.model}, {name}", command.strip()))

    # The fine-tunes' own progress lines (rate, ETA, validation figures); only warnings
    # from everything else.
    show_progress(logging.Formatter("%(asctime)s %(message)s", datefmt="%X"))
    import torch

    torch.set_num_threads(args.threads)
    app_name = "intent" if args.task == "banking77" else "sentiment"
    # A pretrained start's encoder scale for full fine-tuning, as a run with
    # pretrain.text_init gets it (karpa/config_start.py); this bench builds the start itself
    # and sets no text_init, so it names the scale alone, keeping the preset's other
    # settings the recipes below vary (probe_full has an encoder learning rate of its own).
    scale = f"finetune.{app_name}.encoder_lr_scale={START_ENCODER_LR_SCALE}"
    # The text presets bound a CPU machine's memory for some speed; a GPU has the memory.
    device = (
        [f"finetune.{app_name}.activation_checkpointing=false", "mmap_threshold_mb=null"]
        if args.device == "cuda"
        else []
    )
    if args.task == "banking77":
        data = args.datasets / "banking77"
        sets = [*banking77_sets(args.seeds), scale, *device, *args.set]
    else:
        data = args.datasets / "financial_phrasebank"
        sets = [scale, *device, *args.set]
    cfg = load_config(CONFIGS / "real" / f"{args.task}.yaml", sets, str(data))
    bound_heap(cfg)  # the preset's mmap threshold, as the pipeline sets it where it starts
    app = getattr(cfg.finetune, app_name).build(preset="small", device=args.device)
    lrs = args.lr or [app.probe_full_lr]
    recipe = (
        f"headline recipe: {app.epochs} epochs, {app.evals_per_epoch} validations an epoch, "
        f"full at head lr {app.lr:g}, encoder x {app.encoder_lr_scale:g}"
        if full
        else f"curve recipe: {app.curve_epochs} epochs, at least {app.curve_min_steps} steps"
    )
    per_class = app.contrastive_per_class
    batches = f"{per_class} per class" if per_class else "uniform"
    print(
        f"# {recipe}, patience {app.patience}, batch {app.batch_size}, class weighting "
        f"{app.class_weighting}; LP-FT encoder lr {app.probe_full_encoder_lr:g}; probes "
        f"self-train ({app.self_training_rounds} rounds, share {app.self_training_share:g}, "
        f"pool {app.self_training_pool}); contrastive tuning {app.contrastive_steps} steps at "
        f"{app.contrastive_lr:g}, {batches} batches"
        f"{', before LP-FT' if app.probe_full_contrastive else ''}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="karpa-bench-lpft-") as tmp:
        activate(Path(tmp) / "home")
        store = Path(tmp) / "store"
        if args.task == "phrasebank":
            tasks = [(str(s), phrasebank_task(data, store, s, sets)) for s in args.seeds]
        else:
            task = banking77_task(data, store, args.seeds)
            tasks = (
                [("all", task)]
                if full
                else [
                    (str(s), dataclasses.replace(task, train=split))
                    for (k, s), split in sorted(task.shots.items())
                    if k == SHOTS
                ]
            )
        first = ("full", "full", None) if full else ("probe", "linear_probe", None)
        recipes = [] if args.no_first else [first]
        if not args.no_lp_ft:
            recipes += [(f"LP-FT {lr:g}", "probe_full", {"probe_full_lr": lr}) for lr in lrs]
        if args.wise:
            # WiSE-FT on top of the first learning rate: the fine-tune is repeated (the
            # same seed, so the same weights at alpha 1), then mixed with its start.
            wise = {"probe_full_lr": lrs[0], "probe_full_wise": tuple(args.wise)}
            recipes.append((f"LP-FT {lrs[0]:g} + WiSE", "probe_full", wise))
        for share in args.pseudo or []:
            # Self-training the whole model: the fine-tune also reads the chosen probe's
            # most confident pseudo-labeled pool texts (none where --full leaves no pool).
            pseudo = {"probe_full_lr": lrs[0], "probe_full_pseudo": share}
            recipes.append((f"LP-FT {lrs[0]:g} + pseudo {share:g}", "probe_full", pseudo))
        if args.contrastive:
            # The SetFit-style tuning (contrastive_steps at contrastive_lr) under the probe
            # alone, and before LP-FT: the same tuning, the same seed, both times.
            recipes.append(("contrastive probe", "contrastive_probe", None))
            tuned = {"probe_full_lr": lrs[0], "probe_full_contrastive": True}
            recipes.append((f"contrastive + LP-FT {lrs[0]:g}", "probe_full", tuned))
        for k in args.ensemble or []:
            # The first seed is the LP-FT row's own fine-tune, and each K reuses the
            # fine-tunes of the smaller ones (none trained twice).
            seeds = tuple(range(app.seed, app.seed + k))
            members = {"probe_full_lr": lrs[0], "seed": seeds}
            recipes.append((f"LP-FT {lrs[0]:g} x {k}", "probe_full", members))
        if args.ensemble:
            # Weight-space averages of the largest ensemble's fine-tunes: one model to serve.
            seeds = tuple(range(app.seed, app.seed + max(args.ensemble)))
            for kind in ("uniform", "greedy"):
                members = {"probe_full_lr": lrs[0], "seed": seeds, "soup": kind}
                recipes.append((f"{kind} soup x {len(seeds)}", "probe_full", members))
        label = (
            "split seed" if args.task == "phrasebank" else "train set" if full else "subset seed"
        )
        table = lp_ft_table(tasks, label, app, recipes, not full, folder)
    print(table, flush=True)


def print_merged(logs: list[Path]) -> None:
    """The table of the runs `logs` printed, as one run of all their seeds would print it."""
    from _lp_ft_merge import MergeError, merge_runs, read_run

    try:
        runs = [read_run(log) for log in logs]
        merged, mean = merge_runs(runs)
    except (MergeError, OSError) as err:
        raise SystemExit(f"--merge: {err}") from err
    print(header(merged.title, "python bench/lp_ft.py " + " ".join(sys.argv[1:])))
    print(f"# merged: {merged.command} --seeds {' '.join(merged.seeds)}, one run per log:")
    for run in runs:
        print(f"#   {run.path.name}: --seeds {' '.join(run.seeds)}, {run.date}, {run.machine}")
    print(merged.recipe)
    print("# mean: of the printed figures (three decimals)")
    print(rows.table(merged.columns, [*merged.rows, mean]), flush=True)


def phrasebank_task(data: Path, store: Path, seed: int, sets: list[str]):
    """Financial PhraseBank 50Agree's stratified split `seed` as bench/quality.py builds it
    (70/10/20 per class, every test sentence) -> TextTask."""
    from karpa.applications.data import load_text_task
    from karpa.store import Store

    cfg = load_config(
        CONFIGS / "real" / "phrasebank.yaml", [*phrasebank_sets(seed), *sets], str(data)
    )
    views = direct_views(cfg, Store(store / f"split-{seed}"))
    return load_text_task(Path(views.path), "sentiment")


def pretrained_start(folder: Path):
    """A pretrained start as the pipeline builds it (the small preset's towers, the text
    tower from the folder's weights) -> (FoundationModel, its tokenizer)."""
    from karpa_models.config import load_preset
    from karpa_models.hf_text import pretrained_tokenizer
    from karpa_models.model import build_model

    cfg, _ = load_preset("small")
    cfg = dataclasses.replace(cfg, text_init=str(folder))
    return build_model(cfg).eval(), pretrained_tokenizer(str(folder))


def lp_ft_table(tasks, label: str, app, recipes, curve: bool, folder: Path) -> str:
    """One row per (name, TextTask: what trains is its train split), and a mean row when
    there are several; `label` heads the name column. Each row: each recipe's (name, mode,
    the application settings it changes, or None) validation and test accuracy, and the test
    accuracy of the recipe with the best validation accuracy (ties: the earlier one). curve:
    the learning curve's settings of each mode, else the headline's."""
    from karpa_models.finetune.text import TextFeatures
    from karpa_models.runtime import init_runtime

    runtime = init_runtime(app.device)
    model, tokenizer = pretrained_start(folder)
    model.to(runtime.device)  # the probes' frozen features embed where the fine-tunes run
    max_len = model.text.max_len if app.max_len is None else min(app.max_len, model.text.max_len)
    features = TextFeatures(model.text, tokenizer, max_len, runtime)  # shared by the probes
    body, figures = [], []
    for seed, task in tasks:
        started = time.perf_counter()
        y_test = np.asarray(task.test.labels, dtype=str)
        y_val = np.asarray(task.val.labels, dtype=str)
        cells, row, chosen = [seed], [], (-1.0, 0.0)
        fitted: dict = {}  # (mode, repr of the settings) -> Member
        template = None  # a fine-tuned classifier whose weights soups are loaded into
        for name, mode, changes in recipes:
            changes = dict(changes or {})
            seeds, soup = changes.pop("seed", None), changes.pop("soup", None)
            members = []
            for member_seed in seeds or (app.seed,):
                settings = dataclasses.replace(app, **changes, seed=member_seed)
                key = (mode, repr(settings))
                if key not in fitted:
                    clf = fit(model, tokenizer, task, settings, mode, curve, features, seed, name)
                    fitted[key] = Member.of(clf, task)
                    if mode == "probe_full" and template is None:
                        template = clf
                    del clf
                members.append(fitted[key])
            classes = np.asarray(members[0].classes)
            step = ""
            if soup is not None:
                val_p, test_p = soup_probas(template, members, soup, task, y_val, classes)
            elif seeds is not None:
                val_p = np.mean([m.val for m in members], axis=0)  # (n_val, C)
                test_p = np.mean([m.test for m in members], axis=0)  # (n_test, C)
            else:
                val_p, test_p, info = members[0].val, members[0].test, members[0].info
                step = f" (step {info['best_step']})" if mode != "linear_probe" else ""
                if "wise" in info:
                    step = f" (alpha {info['wise']['alpha']:g})"
            val = accuracy(val_p, classes, y_val)
            test = accuracy(test_p, classes, y_test)
            cells += [f"{val:.3f}{step}", f"{test:.3f}"]
            row += [val, test]
            if val > chosen[0]:
                chosen = (val, test)
        del template, fitted
        body.append([*cells, f"{chosen[1]:.3f}", f"{time.perf_counter() - started:.0f}"])
        figures.append([*row, chosen[1]])
        print(f"# {seed}: {', '.join(body[-1][1:])}", flush=True)
    if len(figures) > 1:
        body.append(["mean", *(f"{v:.3f}" for v in np.mean(figures, axis=0)), ""])
    columns = [label]
    for name, _, _ in recipes:
        columns += [f"{name}: val", "test"]
    return rows.table([*columns, "chosen on val: test", "s"], body)


@dataclasses.dataclass
class Member:
    """One fitted classifier's figures: validation and test probabilities (n, C), its
    train_info, class order and (fine-tunes) a CPU copy of its weights."""

    val: np.ndarray
    test: np.ndarray
    info: dict
    classes: list[str]
    state: dict | None

    @classmethod
    def of(cls, clf, task) -> Member:
        from karpa_models.finetune.wise import snapshot

        state = None if clf.features is not None else snapshot(clf.model.cpu())
        clf.model.to(clf.runtime.device)
        return cls(
            clf.predict_proba(task.val.texts),
            clf.predict_proba(task.test.texts),
            clf.train_info,
            list(clf.classes),
            state,
        )


def accuracy(probas: np.ndarray, classes: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(classes[probas.argmax(1)] == labels))


def soup_probas(template, members: list[Member], kind: str, task, y_val, classes):
    """A model soup of the members' weights, loaded into `template` -> (validation, test)
    probabilities. uniform: every member's weights averaged; greedy: as probe_full_soup
    makes it (karpa_models/finetune/soup.py, on validation accuracy)."""
    from karpa_models.finetune.soup import average, greedy_soup

    states = [m.state for m in members]
    if kind == "uniform":
        template.model.load_state_dict(average(states))
    else:

        def score() -> float:
            return accuracy(template.predict_proba(task.val.texts), classes, y_val)

        vals = [accuracy(m.val, classes, y_val) for m in members]
        kept = greedy_soup(template.model, states, vals, score)["kept"]
        print(f"# greedy soup: fine-tunes {kept} of {len(members)}", flush=True)
    return template.predict_proba(task.val.texts), template.predict_proba(task.test.texts)


def fit(model, tokenizer, task, settings, mode: str, curve: bool, features, seed, name: str):
    """One recipe's classifier on `task`'s train split, validated (accuracy) on its val."""
    from karpa.applications.text_finetune import finetune_on_task

    cfg = dataclasses.replace(settings.classifier(curve=curve, mode=mode), metric="accuracy")
    member = f"seed {seed} {name} (fine-tune seed {settings.seed})"
    return finetune_on_task(task, model, tokenizer, cfg, name=member, features=features)


if __name__ == "__main__":
    main()

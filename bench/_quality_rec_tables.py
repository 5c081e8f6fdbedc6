"""bench/quality.py's MovieLens task as printed: the protocol, the main table over runs,
the paired differences, the slice table, the content ablation and the targets, from the
aggregates of _quality_rec (all of it also goes to the --out JSON as `figures`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import _quality_rec as rec
from _quality_rows import table

PRESET_FILE = "karpa/configs/real/movielens.yaml"


@dataclass
class RecTables:
    """What TaskResult takes: protocol lines, the main table, target lines, the further
    tables (each with its heading) and the figures for the JSON file."""

    protocol: list[str]
    table: str
    targets: list[str]
    extra: list[str]
    figures: dict[str, Any]


def pm(found: dict[str, Any]) -> str:
    """`mean ± std` at the recommendation metrics' scale (a few hundredths)."""
    return f"{found['mean']:.4f} ± {found['std']:.4f}"


def interval(found: dict[str, Any]) -> str:
    return f"{found['mean']:+.4f} [{found['low']:+.4f}, {found['high']:+.4f}]"


def _reached(ok: bool | None) -> str:
    return "no such users" if ok is None else "reached" if ok else "not reached"


def main_table(rows: dict[str, dict[str, Any]], n_negatives: int) -> str:
    names = [*rec.METRICS, *(f"sampled{n_negatives}/{m}" for m in rec.METRICS)]
    columns = [
        "model",
        "HR@10",
        "NDCG@10",
        "MRR",
        f"HR@10 ({n_negatives} neg)",
        f"NDCG@10 ({n_negatives} neg)",
        f"MRR ({n_negatives} neg)",
    ]
    body = [[rec.ROWS.get(m, m), *(pm(found[n]) for n in names)] for m, found in rows.items()]
    return table(columns, body)


def paired_table(pairs: dict[str, dict[str, Any]], served: str) -> list[str]:
    """Served minus each model on NDCG@10: the t-interval over runs, the mean of each
    pretraining seed's runs, and how the runs' own bootstrap intervals fall."""
    body = []
    for model, p in pairs.items():
        boot = p["per_run_bootstrap"]
        above = sum(b["low"] > 0 for b in boot)
        below = sum(b["high"] < 0 for b in boot)
        body.append(
            [
                f"{rec.SHORT.get(served, served)} - {rec.SHORT.get(model, model)}",
                interval(p),
                str(p["n"]),
                ", ".join(f"{s}: {v:+.4f}" for s, v in p["by_pretrain_seed"].items()),
                f"{above} / {len(boot) - above - below} / {below}" if boot else "-",
            ]
        )
    columns = [
        "paired difference (NDCG@10)",
        "mean [95% t-interval over runs]",
        "runs",
        "mean by pretraining seed",
        "runs' bootstrap: above 0 / holding 0 / below 0",
    ]
    lines = [table(columns, body), "  each run's paired bootstrap over its test users:"]
    lines += [
        f"    - {rec.SHORT.get(model, model)}: "
        + ", ".join(
            f"{b['estimate']:+.4f} [{b['low']:+.4f}, {b['high']:+.4f}]"
            for b in p["per_run_bootstrap"]
        )
        for model, p in pairs.items()
        if p["per_run_bootstrap"]
    ]
    return lines


def slice_table(slices: Sequence[dict[str, Any]], served: str, sampled: bool = False) -> str:
    """The slice rows under full ranking, or (`sampled`) against the sampled negatives,
    where the table has no HR@10 column (the report keeps NDCG@10 alone there)."""
    models = list(dict.fromkeys([served, rec.CONTENT, *rec.BASELINES]))
    values, pairs = ("sampled", "paired_sampled") if sampled else (rec.HEADLINE, "paired")
    name = rec.SHORT.get(served, served)
    columns = [
        "slice",
        "users",
        *(f"NDCG@10 {rec.SHORT.get(m, m)}" for m in models),
        *([] if sampled else [f"HR@10 {name}"]),
        f"{name} - EASE (NDCG@10, paired)",
    ]
    body = [
        [
            s["label"],
            "/".join(map(str, s["n"])),
            *(pm(s[values][m]) if m in s[values] else "-" for m in models),
            *([] if sampled else [pm(s["hr@10"][served]) if served in s["hr@10"] else "-"]),
            interval(s[pairs]["ease"]) if "ease" in s[pairs] else "-",
        ]
        for s in slices
        if not sampled or s["sampled"]
    ]
    return table(columns, body)


def content_table(content: Sequence[dict[str, Any]]) -> str:
    columns = ["where", "with content", "ids only", "content - ids only [95% t, over runs]"]
    body = [
        [c["what"], pm(c["content"]), pm(c["ids_only"]), interval(c["paired"])] for c in content
    ]
    return table(columns, body)


def target_lines(targets: dict[str, dict[str, Any]]) -> list[str]:
    h = targets["headline"]
    lines = [
        f"mean NDCG@10 >= EASE x 1.10 with the paired interval over runs above zero: karpa "
        f"{h['karpa']:.4f} vs {h['needed']:.4f} (EASE {h['ease']:.4f} x 1.10), karpa - EASE "
        f"{interval(h['paired'])} ({_reached(h['reached'])})"
    ]
    for key, what in (("cold_items", "cold items"), ("short_history", "short histories")):
        t = targets[key]
        if t["reached"] is None:
            lines.append(f"karpa >= EASE on {what}: ({_reached(None)})")
            continue
        # >= lets a tie pass (EASE scores 0 on never-seen items); the issue asks for a
        # clear win there, which only an interval above zero shows.
        clear = (
            "clearly: the interval is above zero"
            if t["paired"]["low"] > 0
            else "not clearly: the interval reaches zero"
        )
        line = (
            f"karpa >= EASE on {what} (NDCG@10, mean over runs): {t['karpa']:.4f} vs "
            f"{t['ease']:.4f}, paired {interval(t['paired'])} ({_reached(t['reached'])}; {clear})"
        )
        if "sampled" in t:
            u = t["sampled"]
            line += (
                f"; against {u['n_negatives']} sampled negatives {u['karpa']:.4f} vs "
                f"{u['ease']:.4f}, paired {interval(u['paired'])}"
            )
        lines.append(line)
    return lines


def protocol_lines(
    runs: Sequence[rec.RecRun], preset: str, pretrain_steps: int, reused: int
) -> list[str]:
    report = runs[0].report
    p = report["protocol"]
    full, sampled = p["full"], p["sampled"]
    recipe = p["recommender"]
    pre = sorted({r.pretrain_seed for r in runs})
    fine = sorted({r.finetune_seed for r in runs})
    blend = p.get("blend", {})
    return [
        "leave-last-out by time: each user's chronological item sequence (repeats of one "
        "item in a row collapsed); last item = test, the one before = validation, the rest "
        f"= training; {p['test_users']} of {report['data']['training_sequences']} users "
        "evaluated; test history = training items + validation item, history items "
        "excluded (a test item repeating one counts as a miss, as for the served model)",
        f"HR@10, NDCG@10, MRR: full ranking of all {full['n_items']} items (ties count "
        f"against the model), and {sampled['n_negatives']} negatives sampled uniformly per "
        f"user (seed {sampled['seed']}, the same in every run)",
        f"runs: pretraining seeds {pre} (`seed`: the foundation's initialisation and data "
        f"order) x fine-tune seeds {fine} (finetune.recommendation.seed: the sequence "
        "models' initialisation and batches, the validation users early stopping reads) = "
        f"{len(runs)} runs on one split; each foundation pretrained once, {reused} "
        "fine-tunes reused their seed's checkpoint; popularity, item-kNN and EASE are "
        "deterministic (the same figures in every run)",
        "figures: mean ± std over the runs; paired differences: a Student-t 95% interval "
        "over the runs, which treats them as independent (the fine-tunes of one foundation "
        "share it, so the interval understates the pretraining seed's share: the mean by "
        "pretraining seed shows it); beside it each run's own paired bootstrap over test "
        "users (the report's)",
        f"karpa: preset {preset}, {pretrain_steps} pretraining steps; the behaviour tower "
        "fine-tuned for next-item prediction with item content (text; images where items "
        "have them) fused in: the "
        "sequence model; served: it blended with EASE, each z-scored per user, a sequence "
        "weight per history-length bucket chosen on "
        + (blend.get("chosen_on", "validation users") if blend else "(no blend in this run)")
        + "; ids-only: the same fine-tune, same seed, content vectors zeroed; scratch: "
        "the same fine-tune from random weights",
        f"recipe: {recipe['epochs']} epochs (max_steps {recipe['max_steps']}), lr "
        f"{recipe['lr']}, batch {recipe['batch_size']}, {recipe['loss']}, early stopping on "
        f"{p['early_stopping']}: from the preset "
        f"{PRESET_FILE} (with this command's --set/--quick), set there by hand from "
        "validation curves (its comment says why); not tuned on test, and nothing in this "
        "bench chooses on test: early stopping and the blend read validation users only",
    ]


def run_lines(runs: Sequence[rec.RecRun]) -> list[str]:
    """Per run: each sequence model's training (best step of steps) and the blend."""
    lines = []
    for run in runs:
        training = run.report.get("training", {})
        parts = [
            f"{name} best at step {t.get('best_step')} of {t.get('steps')}"
            for name, t in training.items()
        ]
        blend = run.report["protocol"].get("blend")
        if blend:
            parts.append(
                f"blend weights {blend['weights']} (history edges {blend['history_edges']}, "
                f"cold items: {blend['cold_rule']}), validation NDCG@10 "
                f"{blend['validation_ndcg@10']:.4f}"
            )
        lines.append(
            f"  pretrain seed {run.pretrain_seed}, fine-tune seed {run.finetune_seed}: "
            + "; ".join(parts)
        )
    return lines


def cold_threshold(report: dict[str, Any]) -> int:
    """The report's cold-item threshold, from its protocol line ("... < 5 training ...")."""
    found = re.search(r"< (\d+) training", report["protocol"]["cold_items"])
    if found is None:
        raise ValueError(f"no cold-item threshold in {report['protocol']['cold_items']!r}")
    return int(found.group(1))


def rec_tables(
    runs: Sequence[rec.RecRun], preset: str, pretrain_steps: int, reused: int
) -> RecTables:
    """Everything the MovieLens task prints and writes, from its runs' reports."""
    report = runs[0].report
    served = runs[0].served
    neg = report["protocol"]["sampled"]["n_negatives"]
    cold_below = cold_threshold(report)
    rows = rec.main_rows(runs, neg)
    pairs = rec.paired_rows(runs)
    slices = rec.slice_rows(runs, list(rows), cold_below, neg)
    content = rec.content_rows(runs, neg)
    targets = rec.judge_targets(rows, pairs, slices, served)
    extra = [
        "",
        "paired over runs, karpa served model minus each other model, NDCG@10 (full ranking):",
        *paired_table(pairs, served),
        "",
        "slices (full ranking, mean ± std over runs; the report keeps HR@10 for the served "
        "model only):",
        slice_table(slices, served),
    ]
    if any(s["sampled"] for s in slices):
        extra += [
            "",
            f"slices against {neg} sampled negatives (NDCG@10, mean ± std over runs; where a "
            "cold item rarely reaches anyone's top 10 of the whole catalogue, this still "
            "shows whether a model ranks it above items the user did not pick):",
            slice_table(slices, served, sampled=True),
        ]
    if content:
        extra += [
            "",
            "content ablation: the pretrained sequence model with item content vs ids only "
            "(content vectors zeroed), same seeds:",
            content_table(content),
        ]
    extra += ["", "per run:", *run_lines(runs)]
    figures = {
        "runs": [
            {"pretrain_seed": r.pretrain_seed, "finetune_seed": r.finetune_seed} for r in runs
        ],
        "served": served,
        "rows": rows,
        "paired": pairs,
        "slices": slices,
        "content_ablation": content,
        "targets": targets,
    }
    return RecTables(
        protocol_lines(runs, preset, pretrain_steps, reused),
        main_table(rows, neg),
        target_lines(targets),
        extra,
        figures,
    )

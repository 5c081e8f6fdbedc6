"""The Pareto front of a search: which complete trials no other trial dominates, as a
table (markdown, for MLflow and the Prefect artifact) and a picture (matplotlib PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from karpa.search.study import TrialRecord

LABELS = {
    "quality": "validation quality (mean)",
    "intent": "intent validation",
    "sentiment": "sentiment validation",
    "recommendation": "recommendation validation",
    "latency_p50": "latency p50 (ms, 1 request, 1 CPU thread)",
    "latency_p95": "latency p95 (ms, 1 request, 1 CPU thread)",
    "params": "foundation parameters",
}


def _oriented(values: dict[str, float], objectives: Sequence[str], directions: Sequence[str]):
    """Values turned so that smaller is better on every objective."""
    return [
        values[o] if d == "minimize" else -values[o]
        for o, d in zip(objectives, directions, strict=True)
    ]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a dominates b (smaller is better): no worse anywhere, better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def pareto_front(
    records: Sequence[TrialRecord], objectives: Sequence[str], directions: Sequence[str]
) -> list[TrialRecord]:
    """The complete trials no other complete trial dominates, by trial number."""
    done = [r for r in records if r.state == "complete" and r.values]
    points = {r.number: _oriented(r.values, objectives, directions) for r in done}  # type: ignore[arg-type]
    return [
        r
        for r in done
        if not any(dominates(points[o.number], points[r.number]) for o in done if o is not r)
    ]


def _format(objective: str, value: float) -> str:
    if objective == "params":
        return f"{value:,.0f}"
    if objective.startswith("latency"):
        return f"{value:.2f}"
    return f"{value:.4f}"


ARCH = ("width", "layers", "heads", "mlp_ratio", "patch_size", "behaviour_max_len")


def front_table(
    records: Sequence[TrialRecord],
    objectives: Sequence[str],
    directions: Sequence[str],
    knee: int | None = None,
) -> str:
    """A markdown table of the front, best first on the first objective."""
    front = pareto_front(records, objectives, directions)
    first = objectives[0]
    front.sort(key=lambda r: r.values[first], reverse=directions[0] == "maximize")  # type: ignore[index]
    head = ["trial", *objectives, *ARCH, "lr", "finetune_lr"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in front:
        mark = " (knee)" if r.number == knee else ""
        cells = [f"{r.number}{mark}"]
        cells += [_format(o, r.values[o]) for o in objectives]  # type: ignore[index]
        cells += [str(r.params.get(k, "")) for k in ARCH]
        cells += [f"{r.params.get(k, float('nan')):.2g}" for k in ("lr", "finetune_lr")]
        lines.append("| " + " | ".join(cells) + " |")
    counts = {s: sum(r.state == s for r in records) for s in ("complete", "pruned", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    return "\n".join(lines) + f"\n\n{len(front)} trials on the front; {summary}.\n"


def plot_front(
    records: Sequence[TrialRecord],
    objectives: Sequence[str],
    directions: Sequence[str],
    path: str | Path,
    knee: int | None = None,
) -> Path:
    """The first objective against each other one: every complete trial, the front
    joined by a line, the knee circled. With one objective, its value per trial."""
    import os

    path = Path(path)
    done = [r for r in records if r.state == "complete" and r.values]
    front = {r.number for r in pareto_front(records, objectives, directions)}
    others = list(objectives[1:]) or [None]
    fig = Figure(figsize=(5.5 * len(others), 4.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(others), squeeze=False)[0]
    y_name = objectives[0]
    for ax, x_name in zip(axes, others, strict=True):

        def xs(rs, x_name=x_name):
            return [r.values[x_name] if x_name else r.number for r in rs]

        ys = [r.values[y_name] for r in done]
        ax.scatter(xs(done), ys, color="#bbbbbb", label="complete trial", zorder=2)
        on = sorted((r for r in done if r.number in front), key=lambda r: xs([r])[0])
        ax.plot(xs(on), [r.values[y_name] for r in on], "o-", color="#c44e52", label="front")
        for r in on:
            ax.annotate(str(r.number), (xs([r])[0], r.values[y_name]), fontsize=8)
        chosen = [r for r in done if r.number == knee]
        if chosen:
            ax.scatter(
                xs(chosen),
                [chosen[0].values[y_name]],
                s=220,
                facecolors="none",
                edgecolors="black",
                label=f"knee (trial {knee})",
                zorder=3,
            )
        ax.set_xlabel(LABELS[x_name] if x_name else "trial")
        ax.set_ylabel(LABELS[y_name])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    n_pruned = sum(r.state == "pruned" for r in records)
    fig.suptitle(f"Pareto front: {len(done)} complete trials, {n_pruned} pruned")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(tmp, format="png", dpi=110)
    os.replace(tmp, path)
    return path

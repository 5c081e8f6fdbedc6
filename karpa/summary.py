"""The headline table a person reads at the end of a run: for each application, the model
against its no-pretraining ablation and the baselines, with 95% intervals, the learning
curve at few labels, and what the promotion gate decided."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _ci(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("estimate") is None:
        return "-"
    return f"{entry['estimate']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}]"


def _signed(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("estimate") is None:
        return "-"
    return f"{entry['estimate']:+.3f} [{entry['low']:+.3f}, {entry['high']:+.3f}]"


# What each served model is, in the table's words (a report names its served model).
SERVED = {
    "pretrained": "karpa (pretrained)",
    "karpa": "karpa (seq + EASE)",  # the recommender's blend, weights chosen on validation
}


def app_rows(report: dict[str, Any]) -> list[str]:
    head = report["headline"]
    served = SERVED.get(head.get("model", "pretrained"), f"karpa ({head.get('model')})")
    protocol = head.get("protocol") if isinstance(head.get("protocol"), str) else "test split"
    lines = [
        f"{report['application']}: {head['metric']}, {protocol}",
        f"  {served:<22} {_ci(head)}",
    ]
    for name, comp in sorted(report.get("comparisons", {}).items()):
        # karpa minus this model on the same test examples, paired
        delta = f"   karpa − it {_signed(comp['delta'])}" if comp.get("delta") else ""
        lines.append(
            f"  {name + ' (' + comp['kind'] + ')':<22} {_ci(comp.get('headline'))}" + delta
        )
    lines.append(f"  {'pretraining gain':<22} {_signed(report.get('pretraining_gain'))}")
    chosen = (report.get("protocol") or {}).get("main_model")
    if chosen:  # separate vs joint (multi-task) fine-tune, chosen on validation
        lines.append(f"  {chosen}")
    curve = report.get("learning_curve") or []
    for k in sorted({r["k"] for r in curve if str(r["k"]) != "all"}, key=int):
        rows = [r for r in curve if r["k"] == k]
        cells = [
            f"{r['model']} {_ci({**r, 'estimate': r['value']})}"
            + (f" ({r['mode']})" if r.get("mode_val") else "")  # chosen on validation
            for r in rows
        ]
        gains = [_signed(r["gain"]) for r in rows if r.get("gain")]
        lines.append(
            f"  {k} labels/class: " + ", ".join(cells) + (f"; gain {gains[0]}" if gains else "")
        )
    return lines


def headline_table(reports: list[Path], decisions: dict[str, dict] | None = None) -> str:
    lines: list[str] = []
    for path in reports:
        lines.extend(app_rows(json.loads(Path(path).read_text())))
    for name, d in (decisions or {}).items():
        lines.append(f"{name} v{d['version']}: {d['reason']}")
    return "\n".join(lines)

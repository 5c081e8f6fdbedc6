"""AppReport: what one application's fine-tune + evaluate call returns.

Small and JSON-ready: numbers, intervals as dicts, slice records and artifact paths; no
arrays, no models. `flat_metrics()` turns it into `name -> float` for a tracker.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from karpa.applications.privacy_figures import flat_privacy
from karpa.evaluation.bootstrap import Interval


@dataclass
class AppReport:
    """One application's evaluation on one split.

    headline: {"metric", "estimate", "low", "high", "confidence", "n_resamples", "seed",
        "protocol"} for the application's model (pretrained when a foundation was given).
    metrics: every test metric of that model.
    intervals: bootstrap intervals of further metrics of that model (metric -> interval).
    comparisons: model name -> {"kind" ("ablation" | "baseline"), "metrics", "headline"
        (interval), "delta" (paired interval, this app's model minus it)}.
    pretraining_gain: paired interval of pretrained minus scratch on the headline metric,
        None without a foundation or without the ablation.
    learning_curve: records {"model", "k", "labels_per_class", "value", "low", "high",
        "per_seed", "seeds", "mode"} (text applications); with curve_mode auto an
        encoder's records add "mode_val" (candidate -> validation figure) and
        "mode_chosen_on_seed".
    slices: tidy records {"slice", "bucket", "n", "metric", "value", "low", "high"}.
    artifacts: {"plots": {name: path}, "model_card": {"markdown", "html"}, "model_dir",
        "report"}.
    privacy: a DP fine-tune's spend (epsilon, delta, ...) and its cost against the
        non-private twin (karpa.applications.text_privacy); None when not private.
    explanations: the deletion test of the text applications (karpa/evaluation/
        faithfulness.py deletion_summary: "area", "top_curve", "random_curve", ...).
    """

    application: str
    model_name: str
    headline: dict[str, Any]
    metrics: dict[str, float]
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)
    pretraining_gain: dict[str, Any] | None = None
    learning_curve: list[dict[str, Any]] = field(default_factory=list)
    slices: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    privacy: dict[str, Any] | None = None
    explanations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON (atomically) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        os.replace(tmp, path)
        return path

    def flat_metrics(self) -> dict[str, float]:
        """Finite numbers only, keyed for a tracker: test/<metric>, headline/<bound>,
        <model>/<metric>, <model>/delta_<bound>, gain/<bound>,
        slice/<slice>/<bucket>/<metric>[/<model>], curve/<model>/k<k>,
        curve/<model>/k<k>/val/<mode> (curve_mode auto: each candidate on validation),
        gain/k<k>/<bound>, privacy/<figure> (privacy_figures.flat_privacy); names
        pass through `tracker_key` (ndcg@10 -> ndcg_at_10)."""
        out: dict[str, float] = {}
        out.update({f"test/{k}": v for k, v in self.metrics.items()})
        for bound in ("estimate", "low", "high"):
            out[f"headline/{bound}"] = self.headline.get(bound)
        for name, ci in self.intervals.items():
            out[f"test/{name}_low"], out[f"test/{name}_high"] = ci.get("low"), ci.get("high")
        for name, comp in self.comparisons.items():
            out.update({f"{name}/{k}": v for k, v in comp.get("metrics", {}).items()})
            for bound in ("estimate", "low", "high"):
                out[f"{name}/delta_{bound}"] = (comp.get("delta") or {}).get(bound)
        for bound in ("estimate", "low", "high"):
            out[f"gain/{bound}"] = (self.pretraining_gain or {}).get(bound)
        for rec in self.slices:  # slice/<slice>/<bucket>/<metric>[/<other model>]
            out[f"slice/{rec['slice']}/{rec['bucket']}/{rec['metric']}"] = rec["value"]
        for rec in self.learning_curve:
            out[f"curve/{rec['model']}/k{rec['k']}"] = rec["value"]
            for mode, value in (rec.get("mode_val") or {}).items():  # curve_mode auto
                out[f"curve/{rec['model']}/k{rec['k']}/val/{mode}"] = value
            for bound, value in (rec.get("gain") or {}).items():
                out[f"gain/k{rec['k']}/{bound}"] = value
        out.update(flat_privacy(self.privacy))
        return {
            tracker_key(k): float(v)
            for k, v in out.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }


def tracker_key(name: str) -> str:
    """A metric name trackers accept (MLflow allows letters, digits, _ - . / : and space):
    "ndcg@10" becomes "ndcg_at_10", anything else outside the set becomes "_"."""
    return re.sub(r"[^\w./\- :]", "_", name.replace("@", "_at_"))


def interval_dict(interval: Interval, metric: str, protocol: str = "") -> dict[str, Any]:
    return {"metric": metric, "protocol": protocol, **interval.to_dict()}


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has no spelling for them); paths become str."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value

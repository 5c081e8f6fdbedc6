"""Model cards, one per application, as markdown and as self-contained HTML.

The card is plain data (`ModelCard`, or the same shape as a dict). Both renderings are built
from one list of blocks, so they always say the same thing. The HTML carries its own CSS and
its figures as base64 data URIs: it opens offline, in an air-gapped browser, or as an MLflow
artifact, with nothing fetched from anywhere.
"""

from __future__ import annotations

import base64
import logging
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from karpa.html_report import render

logger = logging.getLogger(__name__)

_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


@dataclass(frozen=True)
class MetricEntry:
    """A headline metric with its bootstrap interval and the protocol behind it."""

    name: str
    value: float
    low: float | None = None
    high: float | None = None
    protocol: str = ""


@dataclass(frozen=True)
class Comparison:
    """Another model on the same split (baseline, ablation, champion), optionally with the
    paired difference this model minus it (delta, delta_low, delta_high)."""

    model: str
    kind: str
    metric: str
    value: float
    low: float | None = None
    high: float | None = None
    delta: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None


@dataclass(frozen=True)
class ModelCard:
    """Everything a card shows. `slices` are the tidy records of `slices.slice_table`;
    `figures` maps a caption to a PNG path; `details` holds run ids, dates, config keys.
    `explanations`: explained test predictions {"text", "true", "predicted", "correct",
    "probability", "words": [{"word", "attribution"}], "nearest": [{"text", "label",
    "similarity"}]} (karpa_models/explain/text.py)."""

    application: str
    model_name: str
    summary: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    metrics: Sequence[MetricEntry] = ()
    protocol: Mapping[str, Any] = field(default_factory=dict)
    comparisons: Sequence[Comparison] = ()
    slices: Sequence[Mapping[str, Any]] = ()
    figures: Mapping[str, str | Path] = field(default_factory=dict)
    limits: Sequence[str] = ()
    confidence: float = 0.95
    privacy: Mapping[str, Any] = field(default_factory=dict)  # field -> value, DP runs only
    explanations: Sequence[Mapping[str, Any]] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelCard:
        """Build from a plain dict; metrics and comparisons may be dicts too."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown model card fields: {sorted(unknown)}")
        values = dict(raw)
        values["metrics"] = [_coerce(MetricEntry, m) for m in raw.get("metrics", ())]
        values["comparisons"] = [_coerce(Comparison, c) for c in raw.get("comparisons", ())]
        return cls(**values)


# Blocks shared by both renderers: (kind, payload).
Block = tuple[str, Any]


def to_markdown(card: ModelCard | Mapping[str, Any], base_dir: str | Path | None = None) -> str:
    """The card as markdown; figures are linked by path, relative to `base_dir` if given."""
    out: list[str] = []
    for kind, payload in _blocks(_as_card(card)):
        if kind == "h1":
            out.append(f"# {_md_text(payload)}\n")
        elif kind == "h2":
            out.append(f"## {_md_text(payload)}\n")
        elif kind == "p":
            out.append(f"{_md_text(payload)}\n")
        elif kind == "list":
            out.append("\n".join(f"- {_md_text(item)}" for item in payload) + "\n")
        elif kind == "table":
            headers, rows = payload
            lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |"]
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines) + "\n")
        elif kind == "words":
            out.append(
                "top words: "
                + ", ".join(f"{_md_text(w)} ({_signed(s)})" for w, s, _ in payload)
                + "\n"
            )
        elif kind == "figure":
            caption, path = payload
            link = Path(os.path.relpath(path, base_dir)) if base_dir is not None else Path(path)
            out.append(f"![{caption}]({link.as_posix()})\n\n*{caption}*\n")
    return "\n".join(out)


def to_html(card: ModelCard | Mapping[str, Any]) -> str:
    """The card as one self-contained HTML page: inline CSS, figures as data URIs."""
    card = _as_card(card)
    blocks = [
        (kind, (payload[0], _png_base64(payload[1])) if kind == "figure" else payload)
        for kind, payload in _blocks(card)
    ]
    title = f"Model card: {card.application} / {card.model_name}"
    return render("karpa.evaluation", "model_card.html.j2", title=title, blocks=blocks)


def _png_base64(path: Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def write_model_card(
    card: ModelCard | Mapping[str, Any], out_dir: str | Path, stem: str = "model_card"
) -> dict[str, Path]:
    """Write `<stem>.md` and `<stem>.html` into out_dir; returns {"markdown": ..., "html": ...}."""
    card = _as_card(card)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / f"{stem}.md", "html": out_dir / f"{stem}.html"}
    _write_atomic(paths["markdown"], to_markdown(card, base_dir=out_dir))
    _write_atomic(paths["html"], to_html(card))
    logger.info("model card for %s written to %s", card.application, out_dir)
    return paths


def _blocks(card: ModelCard) -> list[Block]:
    pct = f"{card.confidence:.0%} CI"
    blocks: list[Block] = [("h1", f"Model card: {card.application} / {card.model_name}")]
    if card.summary:
        blocks.append(("p", card.summary))
    details = {"application": card.application, "model": card.model_name, **card.details}
    blocks.append(("table", (["field", "value"], [[k, _fmt(v)] for k, v in details.items()])))

    blocks.append(("h2", "Data"))
    blocks.append(_table_or_none(["field", "value"], [[k, _fmt(v)] for k, v in card.data.items()]))

    blocks.append(("h2", "Metrics"))
    rows = [[m.name, _fmt(m.value), _ci(m.low, m.high), m.protocol] for m in card.metrics]
    blocks.append(_table_or_none(["metric", "value", pct, "protocol"], rows))
    if card.privacy:
        # A private model says what it spent and what it cost, next to its metrics.
        blocks.append(("h2", "Privacy"))
        blocks.append(
            ("table", (["field", "value"], [[k, _fmt(v)] for k, v in card.privacy.items()]))
        )
    if card.protocol:
        blocks.append(("h2", "Evaluation protocol"))
        blocks.append(
            ("table", (["setting", "value"], [[k, _fmt(v)] for k, v in card.protocol.items()]))
        )

    blocks.append(("h2", "Baselines and ablation"))
    rows = [
        [
            c.model,
            c.kind,
            c.metric,
            _fmt(c.value),
            _ci(c.low, c.high),
            _fmt(c.delta) if c.delta is not None else "",
            _ci(c.delta_low, c.delta_high),
        ]
        for c in card.comparisons
    ]
    headers = ["model", "kind", "metric", "value", pct, "this model minus it", f"delta {pct}"]
    blocks.append(_table_or_none(headers, rows))

    blocks.append(("h2", "Slices"))
    rows = [
        [
            r.get("slice", ""),
            r.get("bucket", ""),
            _fmt(r.get("n", "")),
            r.get("metric", ""),
            _fmt(r.get("value")),
            _ci(r.get("low"), r.get("high")),
        ]
        for r in card.slices
    ]
    blocks.append(_table_or_none(["slice", "bucket", "n", "metric", "value", pct], rows))

    if card.explanations:
        blocks.append(("h2", "Explanations"))
        blocks.append(
            (
                "p",
                "Test predictions, correct and wrong, with the words that drove them (layer "
                "integrated gradients to the predicted class's logit against an all-[MASK] "
                "baseline; positive: towards the class) and the nearest labeled training "
                "example in the model's embedding space.",
            )
        )
        for e in card.explanations:
            blocks += _explanation_blocks(e)

    if card.figures:
        blocks.append(("h2", "Figures"))
        for caption, path in card.figures.items():
            if not Path(path).is_file():
                raise FileNotFoundError(f"model card figure {caption!r} not found: {path}")
            blocks.append(("figure", (caption, Path(path))))

    blocks.append(("h2", "Known limits"))
    blocks.append(("list", list(card.limits)) if card.limits else ("p", "None recorded."))
    return blocks


def _explanation_blocks(e: Mapping[str, Any]) -> list[Block]:
    verdict = "correct" if e.get("correct") else "wrong"
    head = (
        f'{verdict}: "{e["text"]}" (true {e["true"]}, predicted {e["predicted"]}, '
        f"probability of {e.get('explained_class', e['predicted'])} "
        f"{_fmt(e.get('probability'))})"
    )
    words = [(w["word"], float(w["attribution"])) for w in e.get("words", [])]
    peak = max((abs(s) for _, s in words), default=0.0) or 1.0
    out: list[Block] = [("p", head), ("words", [(w, s, abs(s) / peak) for w, s in words])]
    for n in e.get("nearest", [])[:1]:
        out.append(
            ("p", f"nearest training example: \"{n['text']}\" ({n['label']}, "
             f"cosine {_fmt(n['similarity'])})")
        )  # fmt: skip
    return out


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _table_or_none(headers: list[str], rows: list[list[Any]]) -> Block:
    # An empty section says so instead of vanishing, so a missing evaluation is visible.
    return ("table", (headers, rows)) if rows else ("p", "Not provided.")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return "n/a" if math.isnan(value) else f"{float(value):.4f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _ci(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{_fmt(float(low))}, {_fmt(float(high))}]"


def _md_text(value: Any) -> str:
    # "<word" would start an HTML tag in markdown and vanish when rendered; "<=5" is safe.
    return _TAG_START.sub(r"\\<", str(value))


def _md_cell(value: Any) -> str:
    return _md_text(value).replace("|", "\\|").replace("\n", " ")


def _coerce(cls: type, value: Any) -> Any:
    return cls(**value) if isinstance(value, Mapping) else value


def _as_card(card: ModelCard | Mapping[str, Any]) -> ModelCard:
    return card if isinstance(card, ModelCard) else ModelCard.from_dict(card)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

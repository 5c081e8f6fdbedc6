"""The few-label recipe of the learning curve: one fixed curve_mode against curve_mode auto
(each encoder's recipe chosen per k on validation). Runs the text applications on views and
a foundation an earlier run left in its store (`<home>/store/views/<key>`,
`<home>/store/foundations/<key>/foundation.pt`) and prints, per application and
curve_mode, the learning curve's seconds, every point's test metric with its interval, the
recipe used and (auto) every candidate's validation figure.

    .venv/bin/python bench/curve_modes.py --views V --foundation F
    .venv/bin/python bench/curve_modes.py --views V --foundation F --apps intent --modes auto
    .venv/bin/python bench/curve_modes.py --views V --foundation F --modes auto \
        --variant off --variant st:self_training_rounds=3,self_training_share=0.2

A --variant NAME:KEY=VALUE,... runs every mode again with those application settings
(values read as YAML); the validation figure of each point's chosen recipe is printed
beside its test metric, so a setting can be chosen on validation.

Explanations and robustness slices are off (they do not depend on the curve); the headline
models are fitted as in a run, since curve_mode auto reuses them on the full train set.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header

FIXED = "fixed"  # each application's single recipe before auto became the default
BEFORE = {"intent": "contrastive_probe", "sentiment": "linear_probe"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--views", type=Path, required=True)
    parser.add_argument("--foundation", type=Path, required=True)
    parser.add_argument("--apps", nargs="+", default=["intent", "sentiment"])
    parser.add_argument("--modes", nargs="+", default=[FIXED, "auto"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME[:KEY=VALUE,...]",
        help="application settings to run each mode with (default: one, the defaults)",
    )
    args = parser.parse_args()
    variants = dict(map(variant, args.variant or ["defaults"]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    command = (
        f"python bench/curve_modes.py --views {args.views} --foundation {args.foundation}"
        + (f" --apps {' '.join(args.apps)}" if args.apps != ["intent", "sentiment"] else "")
        + (f" --modes {' '.join(args.modes)}" if args.modes != [FIXED, "auto"] else "")
        + (f" --threads {args.threads}" if args.threads else "")
        + "".join(f" --variant {v}" for v in args.variant)
    )
    print(header("learning curve: fixed recipe vs chosen on validation", command), flush=True)
    import time

    import torch

    import karpa.applications.text_app as text_app
    from karpa.applications.intent import run_intent
    from karpa.applications.sentiment import run_sentiment
    from karpa.applications.text_config import IntentConfig, SentimentConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    # The curve's CPU seconds of this process next to its wall seconds: the machine may be
    # shared, and CPU time is the cost a run pays whatever the load.
    curve_cpu: list[float] = []
    plain = text_app.learning_curve

    def timed(*a, **kw):
        started = time.process_time()
        try:
            return plain(*a, **kw)
        finally:
            curve_cpu.append(time.process_time() - started)

    text_app.learning_curve = timed
    apps = {"intent": (IntentConfig, run_intent), "sentiment": (SentimentConfig, run_sentiment)}
    with tempfile.TemporaryDirectory() as tmp:
        for app in args.apps:
            settings, runner = apps[app]
            for (name, overrides), mode in itertools.product(variants.items(), args.modes):
                cfg = settings(
                    explain_examples=0,
                    robustness_sample=0,
                    curve_mode=BEFORE[app] if mode == FIXED else mode,
                    **overrides,
                )
                out = Path(tmp) / f"{app}-{name}-{mode}"
                report = runner(args.views, args.foundation, cfg, out)
                metric = report.headline["metric"]
                print(
                    f"\n## {app} ({metric}), {name}, curve_mode {cfg.curve_mode}: learning curve "
                    f"{report.timings['learning_curve_s']:.0f} s wall, {curve_cpu[-1]:.0f} s "
                    f"CPU (headline models {report.timings['fit_and_score_s']:.0f} s wall)"
                )
                for r in report.learning_curve:
                    val = r.get("mode_val")
                    shown = (
                        "; validation " + ", ".join(f"{m} {v:.3f}" for m, v in val.items())
                        if val
                        else ""
                    )
                    rounds = r.get("self_training_rounds")
                    kept = f"; self-training round kept {rounds}" if rounds else ""
                    print(
                        f"  k={r['k']:<4} {r['model']:<11} {r['value']:.3f} "
                        f"[{r['low']:.3f}, {r['high']:.3f}]  {r['mode']}{shown}{kept}",
                        flush=True,
                    )


def variant(spec: str) -> tuple[str, dict[str, Any]]:
    """ "name:key=value,key=value" -> (name, {key: YAML value}); "name" alone: no change."""
    import yaml

    name, _, pairs = spec.partition(":")
    overrides = {}
    for pair in filter(None, pairs.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--variant {spec}: {pair!r} is not KEY=VALUE")
        overrides[key.strip()] = yaml.safe_load(value)
    return name, overrides


if __name__ == "__main__":
    main()

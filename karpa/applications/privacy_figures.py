"""How a DP fine-tune's spend and cost are shown: the model card's Privacy rows and the
numbers a tracker records. Plain dicts in, no numerical import (the report imports it).

The dict is `karpa.applications.text_privacy.privacy_report`'s: the Opacus figures
(epsilon, delta, noise_multiplier, ...), and with the non-private twin `private`,
`non_private` (metric -> value) and `cost` (metric -> paired interval, non-private minus
private).
"""

from __future__ import annotations

from typing import Any

COVERS = (
    "ε bounds what this model's weights reveal about any one labeled training example of "
    "the fine-tune. It does not cover the foundation (pretrained without DP on the unlabeled "
    "texts, which may hold the same messages), nor the reported metrics of models trained "
    "on the same examples without DP (the non-private comparison, the learning curve, the "
    "baselines)."
)


def card_rows(privacy: dict[str, Any]) -> dict[str, str]:
    """The model card's Privacy section: field -> value, in reading order."""
    rows = {
        "mechanism": f"{privacy['mechanism']}: per-example clipping to norm "
        f"{privacy['max_grad_norm']:g}, Gaussian noise σ = {privacy['noise_multiplier']:.3f} "
        f"× that norm, Poisson batches at rate {privacy['sample_rate']:.4f}",
        "ε spent": f"{privacy['epsilon']:.3f} ({privacy['accountant']} accountant, every one "
        f"of the {privacy['steps']} steps taken)",
        "δ": f"{privacy['delta']:.3g} ({privacy['delta_rule']}, n_train {privacy['n_train']})",
    }
    if privacy.get("target_epsilon") is not None:
        rows["noise calibrated for"] = (
            f"target ε {privacy['target_epsilon']:g} over the planned steps"
        )
    if privacy.get("frozen"):
        rows["kept frozen"] = (
            ", ".join(privacy["frozen"]) + " (no per-example gradient: shared by the batch)"
        )
    for name, ci in privacy.get("cost", {}).items():
        non_private = privacy["non_private"].get(name)
        private = privacy["private"].get(name)
        rows[f"{name}: private / non-private"] = (
            f"{private:.4f} / {non_private:.4f} (same split)"
            if private is not None and non_private is not None
            else "n/a"
        )
        rows[f"{name} cost of privacy"] = (
            f"{ci['estimate']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}] (non-private minus "
            f"private, {ci['confidence']:.0%} paired bootstrap)"
        )
    rows["what ε covers"] = privacy["covers"]
    return rows


def flat_privacy(privacy: dict[str, Any] | None) -> dict[str, float]:
    """privacy/<figure> numbers for a tracker (epsilon, delta, the mechanism's settings,
    private and non-private values and the cost intervals)."""
    if not privacy:
        return {}
    out: dict[str, float] = {}
    for key in ("epsilon", "delta", "noise_multiplier", "max_grad_norm", "sample_rate", "steps"):
        out[f"privacy/{key}"] = privacy[key]
    if privacy.get("target_epsilon") is not None:
        out["privacy/target_epsilon"] = privacy["target_epsilon"]
    for side in ("private", "non_private"):
        for name, value in privacy.get(side, {}).items():
            if name != "model" and value is not None:
                out[f"privacy/{side}/{name}"] = value
    for name, ci in privacy.get("cost", {}).items():
        for bound in ("estimate", "low", "high"):
            out[f"privacy/cost/{name}/{bound}"] = ci[bound]
    return out

"""The differential-privacy settings of a text fine-tune, as a frozen dataclass.

Plain values only and no numerical import, so the run configuration checks them when a
run is loaded (karpa/config_apps.py mirrors the text applications' settings, this one
included). The training that uses them is karpa_models/finetune/private.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

ACCOUNTANTS = ("rdp", "prv")
DELTA_RULE = "1 / (10 * n_train)"


@dataclass(frozen=True)
class PrivacyConfig:
    """DP-SGD (Opacus) for the headline fine-tune.

    Every optimiser step samples each training example independently (Poisson, rate
    batch_size / n_train), clips each example's gradient to `max_grad_norm` and adds
    Gaussian noise of standard deviation `noise_multiplier * max_grad_norm`. Give either
    the noise or `target_epsilon`, the ε the planned steps may spend (the noise is then
    calibrated by Opacus for that plan). `delta` defaults to 1 / (10 * n_train): the
    chance that the guarantee fails must be well below that of one training example.
    `compare_non_private` also fine-tunes the same model without DP on the same split,
    so the model card can state the accuracy the privacy cost.
    """

    # A pydantic run schema that holds this dataclass refuses unknown keys in it too.
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    enabled: bool = False
    max_grad_norm: float = 1.0
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    delta: float | None = None  # None: DELTA_RULE
    accountant: str = "rdp"
    compare_non_private: bool = True

    def __post_init__(self) -> None:
        if not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.noise_multiplier is not None and not self.noise_multiplier > 0:
            raise ValueError(
                "noise_multiplier must be > 0 (no noise is no privacy), "
                f"got {self.noise_multiplier}"
            )
        if self.target_epsilon is not None and not self.target_epsilon > 0:
            raise ValueError(f"target_epsilon must be > 0, got {self.target_epsilon}")
        if self.delta is not None and not 0 < self.delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {self.delta}")
        if self.accountant not in ACCOUNTANTS:
            raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {self.accountant!r}")
        if self.enabled and (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ValueError(
                "enabled needs exactly one of noise_multiplier and target_epsilon, got "
                f"noise_multiplier={self.noise_multiplier} and target_epsilon={self.target_epsilon}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_delta(n_train: int) -> float:
    """DELTA_RULE: ten times smaller than the weight of one training example."""
    return 1.0 / (10 * max(1, n_train))

"""The architecture search's settings in the run config (`search:`): the typed search space
with its bounds, the objectives, the study and its budget.

Every bound is here, checked when the run is loaded, before any trial starts. What needs
the rest of the run config (a patch size must divide `align.image_size`) is checked by
`karpa.search.space.check_space`, also before any trial.
"""

from __future__ import annotations

import typing
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from karpa.config_input import did_you_mean

# What a trial can be scored on. `quality` is the mean validation metric of the searched
# applications; an application's name is its own validation metric; latencies are one
# request through the served predictor on one CPU thread, in ms; `params` counts the
# foundation's parameters.
Objective = Literal[
    "quality", "intent", "sentiment", "recommendation", "latency_p50", "latency_p95", "params"
]
OBJECTIVES: tuple[str, ...] = typing.get_args(Objective)
MAXIMISED = ("quality", "intent", "sentiment", "recommendation")
SearchApplication = Literal["intent", "sentiment", "recommendation"]
SAMPLERS = ("tpe", "nsga2")
PRUNERS = ("median", "halving", "none")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatRange(_Section):
    """A continuous dimension: [low, high], sampled on a log scale when `log`."""

    low: float = Field(ge=0.0, le=10.0)
    high: float = Field(ge=0.0, le=10.0)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0.0:
            raise ValueError(f"a log-scale range needs low > 0, got {self.low}")
        return self

    @property
    def fixed(self) -> bool:
        return self.low == self.high


def _choices(values: list[int], low: int, high: int) -> list[int]:
    if not values:
        raise ValueError("an empty list of choices leaves nothing to search")
    outside = [v for v in values if not low <= v <= high]
    if outside:
        raise ValueError(f"choices {outside} are outside [{low}, {high}]")
    if len(set(values)) != len(values):
        raise ValueError(f"choices {values} repeat a value")
    return values


class SearchSpace(_Section):
    """What a trial may change: the foundation's architecture (every tower takes the same
    width, depth, heads and MLP ratio), its objective weights and learning rate, and the
    fine-tune learning rate. Lists are choices; ranges are continuous."""

    width: list[int] = Field(
        default_factory=lambda: [32, 64, 128],
        description="Width of every tower and of the shared embedding space.",
    )
    layers: list[int] = Field(default_factory=lambda: [1, 2], description="Blocks per tower.")
    heads: list[int] = Field(default_factory=lambda: [2, 4], description="Attention heads.")
    mlp_ratio: list[int] = Field(default_factory=lambda: [2, 4])
    patch_size: list[int] = Field(
        default_factory=lambda: [4, 8], description="Image patch side (divides align.image_size)."
    )
    behaviour_max_len: list[int] = Field(
        default_factory=lambda: [16, 32], description="Behaviour sequence length."
    )
    lr: FloatRange = Field(
        default_factory=lambda: FloatRange(low=3e-4, high=3e-3, log=True),
        description="Peak pretraining learning rate.",
    )
    loss_weights: dict[str, FloatRange] = Field(
        default_factory=lambda: {
            "text_contrastive": FloatRange(low=0.5, high=2.0),
            "image_text": FloatRange(low=0.5, high=2.0),
        },
        description="Pretraining objective -> the range of its loss weight.",
    )
    finetune_lr: FloatRange = Field(
        default_factory=lambda: FloatRange(low=5e-4, high=5e-3, log=True),
        description="Fine-tune learning rate of every searched application.",
    )

    @field_validator("width")
    @classmethod
    def _width(cls, v: list[int]) -> list[int]:
        v = _choices(v, 8, 2048)
        odd = [w for w in v if w % 4]
        if odd:
            raise ValueError(f"widths {odd} are not multiples of 4 (2-D sine-cosine positions)")
        return v

    @field_validator("layers")
    @classmethod
    def _layers(cls, v: list[int]) -> list[int]:
        return _choices(v, 1, 48)

    @field_validator("heads")
    @classmethod
    def _heads(cls, v: list[int]) -> list[int]:
        return _choices(v, 1, 64)

    @field_validator("mlp_ratio")
    @classmethod
    def _mlp(cls, v: list[int]) -> list[int]:
        return _choices(v, 1, 16)

    @field_validator("patch_size")
    @classmethod
    def _patch(cls, v: list[int]) -> list[int]:
        return _choices(v, 2, 256)

    @field_validator("behaviour_max_len")
    @classmethod
    def _seq(cls, v: list[int]) -> list[int]:
        return _choices(v, 4, 4096)

    @field_validator("lr", "finetune_lr")
    @classmethod
    def _rate(cls, v: FloatRange) -> FloatRange:
        if v.low <= 0.0 or v.high > 0.1:
            raise ValueError(f"a learning rate range must lie in (0, 0.1], got [{v.low}, {v.high}]")
        return v

    @field_validator("loss_weights")
    @classmethod
    def _objectives(cls, v: dict[str, FloatRange]) -> dict[str, FloatRange]:
        from karpa_models.config import OBJECTIVES as PRETRAIN_OBJECTIVES

        for name in v:
            if name not in PRETRAIN_OBJECTIVES:
                raise ValueError(
                    f"unknown pretraining objective {name!r} (known: "
                    f"{', '.join(PRETRAIN_OBJECTIVES)}){did_you_mean(name, PRETRAIN_OBJECTIVES)}"
                )
        return v

    @model_validator(mode="after")
    def _divisible_and_open(self) -> SearchSpace:
        bad = [(w, h) for w in self.width for h in self.heads if w % h]
        if bad:
            w, h = bad[0]
            raise ValueError(
                f"width {w} is not a multiple of heads {h}: every width must divide by "
                "every head count"
            )
        if all(len(choices) == 1 for choices in self.categorical().values()) and all(
            r.fixed for r in self.ranges().values()
        ):
            raise ValueError(
                "every dimension has a single value, so the search space is empty; give "
                "one a second choice or a range"
            )
        return self

    def categorical(self) -> dict[str, list[int]]:
        return {
            "width": self.width,
            "layers": self.layers,
            "heads": self.heads,
            "mlp_ratio": self.mlp_ratio,
            "patch_size": self.patch_size,
            "behaviour_max_len": self.behaviour_max_len,
        }

    def ranges(self) -> dict[str, FloatRange]:
        out = {"lr": self.lr, "finetune_lr": self.finetune_lr}
        out.update({f"weight.{k}": r for k, r in sorted(self.loss_weights.items())})
        return out


class SearchConfig(_Section):
    """`karpa search` and the `architecture-search` deployment: an Optuna study over
    `space`, each trial pretrained for `pretrain_steps` and fine-tuned for
    `finetune_steps` on each of `applications`, scored on validation only."""

    study: str = Field(
        "architecture-search",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=100,
        description="Study name; rerunning with the same name resumes it.",
    )
    storage: str | None = Field(
        None,
        description="Optuna RDB storage URL (a team's PostgreSQL); empty: a SQLite file "
        "in the home (search/optuna.db).",
    )
    trials: int = Field(20, ge=1, le=10_000, description="Finished trials the study should hold.")
    budget_minutes: float = Field(
        30.0, gt=0.0, le=10_080.0, description="No trial starts after this much time."
    )
    objectives: list[str] = Field(
        default_factory=lambda: ["quality", "latency_p95"],
        description="What each trial is scored on: " + ", ".join(OBJECTIVES) + ".",
    )
    applications: list[SearchApplication] = Field(
        default_factory=lambda: ["intent"], description="The applications each trial fine-tunes."
    )
    pretrain_steps: int = Field(60, ge=1, le=1_000_000, description="Pretraining per trial.")
    finetune_steps: int = Field(40, ge=1, le=1_000_000, description="Fine-tuning per trial.")
    sampler: Literal["tpe", "nsga2"] = "tpe"
    pruner: Literal["median", "halving", "none"] = Field(
        "median",
        description="Stops a trial whose validation curve lags the median of completed "
        "trials at most as large (when a cost is an objective).",
    )
    prune_startup_trials: int = Field(
        2, ge=0, le=1000, description="Trials that finish before any is pruned."
    )
    latency_requests: int = Field(30, ge=5, le=100_000, description="Timed requests per model.")
    space: SearchSpace = Field(default_factory=SearchSpace)

    @field_validator("objectives")
    @classmethod
    def _known_objectives(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("name at least one objective")
        for name in v:
            if name not in OBJECTIVES:
                raise ValueError(
                    f"unknown objective {name!r} (known: {', '.join(OBJECTIVES)})"
                    f"{did_you_mean(name, OBJECTIVES)}"
                )
        if len(set(v)) != len(v):
            raise ValueError(f"objectives {v} repeat a name")
        return v

    @field_validator("applications")
    @classmethod
    def _some_applications(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("name at least one application to fine-tune")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _objectives_of_searched_apps(self) -> SearchConfig:
        for name in self.objectives:
            if name in SearchApplication.__args__ and name not in self.applications:  # type: ignore[attr-defined]
                raise ValueError(
                    f"objective {name!r} scores an application that search.applications "
                    f"({', '.join(self.applications)}) does not fine-tune"
                )
        return self

    def directions(self) -> list[str]:
        """Optuna's direction of each objective, in order."""
        return ["maximize" if o in MAXIMISED else "minimize" for o in self.objectives]

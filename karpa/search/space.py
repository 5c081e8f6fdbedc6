"""The search space at work: check it against the run, sample a trial's parameters, and turn
them into the foundation's model and training configs.

A trial's parameters are a flat dict (`width`, `layers`, ..., `lr`, `finetune_lr`,
`weight.<objective>`), the names Optuna records and MLflow logs.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from karpa.config_search import SearchSpace
from karpa.errors import ConfigError
from karpa.fingerprint import digest_json

if TYPE_CHECKING:
    import optuna

    from karpa.config import RunConfig
    from karpa_models.config import ModelConfig, TrainConfig


def check_space(cfg: RunConfig) -> None:
    """What the space needs from the rest of the run, checked before any trial: a text
    tower of its own (not a pretrained encoder's), and patch sizes that divide the images'
    side (align.image_size)."""
    if cfg.pretrain.text_init or cfg.pretrain.model_configs(cfg.seed)[0].text_init:
        raise ConfigError(
            "pretrain.text_init: the search sets the text tower's architecture, so it cannot "
            "start from a pretrained encoder; search with a preset that has no text_init"
        )
    side = cfg.align.image_size
    bad = [p for p in cfg.search.space.patch_size if side % p]
    if bad:
        raise ConfigError(
            f"search.space.patch_size: {bad[0]} does not divide align.image_size {side}; "
            "choose patch sizes that divide it"
        )


def space_digest(space: SearchSpace) -> str:
    """A fingerprint of the space, recorded on the study: a resumed study must search the
    same space."""
    return digest_json(space.model_dump(mode="json"))


def sample(trial: optuna.trial.BaseTrial, space: SearchSpace) -> dict[str, Any]:
    """Draw one point of the space (define-by-run, so Optuna records each distribution)."""
    params: dict[str, Any] = {}
    for name, choices in space.categorical().items():
        params[name] = trial.suggest_categorical(name, choices)
    for name, r in space.ranges().items():
        params[name] = trial.suggest_float(name, r.low, r.high, log=r.log)
    return params


def configs_for(
    params: dict[str, Any], model_cfg: ModelConfig, train_cfg: TrainConfig
) -> tuple[ModelConfig, TrainConfig]:
    """The base preset's configs with a trial's architecture, loss weights and LR."""
    arch = {
        "width": params["width"],
        "layers": params["layers"],
        "heads": params["heads"],
        "mlp_ratio": params["mlp_ratio"],
    }
    model = dataclasses.replace(
        model_cfg,
        embed_dim=params["width"],
        text=dataclasses.replace(model_cfg.text, **arch),
        image=dataclasses.replace(model_cfg.image, patch_size=params["patch_size"], **arch),
        behaviour=dataclasses.replace(
            model_cfg.behaviour, max_len=params["behaviour_max_len"], **arch
        ),
    )
    weights = dict(train_cfg.loss_weights)
    weights.update(
        {k.removeprefix("weight."): float(v) for k, v in params.items() if k.startswith("weight.")}
    )
    train = dataclasses.replace(train_cfg, lr=float(params["lr"]), loss_weights=weights)
    return model, train


def smallest(space: SearchSpace) -> dict[str, Any]:
    """The cheapest point of the space (the budget check times it)."""
    params: dict[str, Any] = {name: min(choices) for name, choices in space.categorical().items()}
    params["patch_size"] = max(space.patch_size)  # fewer patches, less attention
    params.update({name: r.low for name, r in space.ranges().items()})
    return params

"""The text applications' settings for a pretrained start, applied where a run sets none.

A run whose text tower starts from a pretrained encoder (`pretrain.text_init`, or a model
preset with one) fine-tunes it with the settings of the benches' pretrained-start rows
(karpa/applications/text_config.py, PRETRAINED_START, which says where each comes from),
not with those meant for random-init towers: a user who only names the start gets what
those rows measured. A key the run's config sets, even to the random-init default, is kept.
Applied to the raw config tree before it is checked, so the resolved config (logged with
every run) shows the values the run used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from karpa.applications.text_config import PRETRAINED_START


def _as_tree(section: Any) -> dict[str, Any] | None:
    """A config section as the mapping it was given as (a model: the keys it was given);
    None for anything else (the section's own check then refuses it)."""
    if isinstance(section, BaseModel):
        return section.model_dump(exclude_unset=True, by_alias=True)
    return dict(section) if isinstance(section, Mapping) else None


def pretrained_start(pretrain: Any, default_preset: str) -> str | None:
    """The text tower's pretrained start of a `pretrain` section (its text_init, else its
    model preset's: `default_preset` where it names none), or None; None too for a preset
    that does not load (the section's own check then says why)."""
    tree = _as_tree(pretrain)
    if tree is None:
        return None
    if tree.get("text_init"):
        return str(tree["text_init"])
    from karpa_models.config import load_preset

    try:
        model_cfg, _ = load_preset(str(tree.get("preset", default_preset)))
    except (ValueError, OSError, TypeError):
        return None
    return model_cfg.text_init or None


def with_start_defaults(tree: Any, default_preset: str) -> Any:
    """The run config `tree` with PRETRAINED_START's settings filled in for each text
    application whose section does not set them, when the run has a pretrained start
    (`default_preset`: the model preset of a pretrain section that names none); else
    `tree` unchanged. The input is not modified."""
    if not isinstance(tree, Mapping):
        return tree
    if not pretrained_start(tree.get("pretrain", {}), default_preset):
        return tree
    finetune = _as_tree(tree.get("finetune", {}))
    if finetune is None:
        return tree
    for app, defaults in PRETRAINED_START.items():
        given = _as_tree(finetune.get(app, {}))
        if given is not None:
            finetune[app] = {**defaults, **given}
    return {**tree, "finetune": finetune}

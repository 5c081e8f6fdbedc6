"""Typed flow parameters: the Prefect UI renders them as a form and refuses bad values.

Each parameter type is defined once here, with its description, and used both by
`RetrainParams` (the retrain flow's model) and by the deployed flows' signatures
(flows/deployments.py). Choices and bounds are the run config's own (karpa/config.py), so
the form and the config cannot disagree. A typed value that is left empty keeps what the
config file says; a set one is applied as a typed value (not re-parsed text), before the
free-form `overrides`, which are checked key by key against the config schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from karpa.config import (
    APPLICATIONS,
    PretrainConfig,
    RunConfig,
    Stage,
    check_overrides,
    field_bounds,
    load_config,
    model_presets,
)
from karpa.config_input import key_pattern
from karpa.errors import ConfigError

DEFAULT_CONFIG = "configs/demo.yaml"

ConfigPath = Annotated[
    str,
    StringConstraints(min_length=1, pattern=r"\.ya?ml$"),
    Field(title="Config preset", description="Run preset (YAML), relative to the project folder."),
]
DataRoot = Annotated[
    str | None,
    Field(
        title="Data folder",
        description="Folder the sources are read from; empty: the preset's data.root.",
    ),
]
Until = Annotated[
    Stage | None,
    Field(
        title="Run until stage",
        description="Run the pipeline up to this stage, inclusive; empty: the preset's "
        "(the whole pipeline unless it says otherwise).",
    ),
]
Preset = Annotated[
    Literal[model_presets()] | None,  # type: ignore[valid-type]
    Field(
        title="Model size",
        description="Model size preset: tiny (CPU, minutes), small (real data on a CPU), "
        "base (GPU); empty: the config's.",
    ),
]
PretrainSteps = Annotated[
    int | None,
    Field(
        **field_bounds(PretrainConfig, "steps"),
        title="Pretraining steps",
        description="Pretraining steps; empty: the model preset's.",
    ),
]
PretrainLR = Annotated[
    float | None,
    Field(
        **field_bounds(PretrainConfig, "lr"),
        title="Pretraining learning rate",
        description="Peak pretraining learning rate; empty: the model preset's.",
    ),
]


def _known_override(text: Any) -> Any:
    """Refuse an override whose key or value the config schema refuses, in its words."""
    if isinstance(text, str):
        try:
            check_overrides([text], option="")
        except ConfigError as exc:
            raise PydanticCustomError(
                "config_override", "{sentence}", {"sentence": str(exc)}
            ) from None
    return text


# KEY=VALUE with a key the config schema has (the pattern is generated from it): the same
# syntax as `karpa run --set`, so a malformed line or an unknown key is refused by the form
# and by the API's schema check, before a flow run exists. The value (and the nearest key,
# for a misspelt one) is then checked against the schema when the parameters are validated
# (by the deployed flow, before its body starts).
Override = Annotated[
    str,
    StringConstraints(pattern=rf"^{key_pattern(RunConfig)}=.*$"),
    BeforeValidator(_known_override),
]
Overrides = Annotated[
    list[Override],
    Field(
        title="Config overrides",
        description="KEY=VALUE overrides of the preset, applied last, "
        "e.g. pretrain.max_texts=5000.",
    ),
]
Application = Literal["all", *APPLICATIONS]  # type: ignore[valid-type]
ApplicationChoice = Annotated[
    Application | None,
    Field(
        title="Application",
        description="Fine-tune and evaluate one application, or all three; empty: the "
        "config's list.",
    ),
]

FinetuneUntil = Literal["finetune", "promote"]


class RetrainParams(BaseModel):
    """What a person may change when starting a retrain."""

    model_config = ConfigDict(extra="forbid")

    config: ConfigPath = DEFAULT_CONFIG
    data: DataRoot = None
    until: Until = None
    preset: Preset = None
    pretrain_steps: PretrainSteps = None
    pretrain_lr: PretrainLR = None
    application: ApplicationChoice = None
    overrides: Overrides = Field(default_factory=list)

    def typed_values(self) -> dict[str, Any]:
        """The typed choices that are set, as config keys with typed values."""
        typed = {
            "until": self.until,
            "pretrain.preset": self.preset,
            "pretrain.steps": self.pretrain_steps,
            "pretrain.lr": self.pretrain_lr,
            "finetune.applications": _applications(self.application),
        }
        return {key: value for key, value in typed.items() if value is not None}

    def resolve(self) -> RunConfig:
        """The run's config: the file, the typed choices, then the free-form overrides
        (which win), and the data folder; checked completely."""
        return load_config(self.config, self.overrides, self.data, values=self.typed_values())


def _applications(choice: Application | None) -> list[str] | None:
    """`finetune.applications`: one application, or all of them."""
    if choice is None:
        return None
    return list(APPLICATIONS if choice == "all" else (choice,))


def _form_fields() -> dict[str, Any]:
    """Defaults for flow signatures that carry each RetrainParams field's default and
    description: Prefect's form takes a parameter's description from a `Field` default (its
    title is the parameter's name), and its choices and bounds from the type."""
    return {
        name: Field(info.get_default(call_default_factory=True), description=info.description)
        for name, info in RetrainParams.model_fields.items()
    }


FORM = _form_fields()

# The on-demand fine-tune's own choices (flows/deployments.py:finetune_deployed); its other
# fields are RetrainParams' own.
FINETUNE_FORM = {
    "application": Field(
        "all",
        description="Fine-tune and evaluate one application, or all "
        "three, from the registry's champion foundation.",
    ),
    "until": Field(
        "promote",
        description="finetune: fine-tune and evaluate only; promote: "
        "also register the new models and let the promotion gate decide.",
    ),
}

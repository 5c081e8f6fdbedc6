"""Per-application settings in the run config (`finetune.intent`, `.sentiment`,
`.recommendation`): pydantic mirrors of the applications' settings dataclasses.

The names, types and defaults are the dataclasses' own (karpa/applications/text_config.py,
rec_config.py), read field by field; the bounds are those of the recipes the settings build
(karpa_models/finetune/config.py), checked by building them. So a mistyped key or value is
refused when the run is loaded, and no bound is written twice.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from karpa.applications.rec_config import RecommendationConfig
from karpa.applications.text_config import IntentConfig, SentimentConfig


class AppSettings(BaseModel):
    """Base of one application's settings: a field-by-field mirror of its dataclass
    (`settings_class`), whose names, types and defaults it takes, so that a mistyped key or
    value is refused when the run is loaded. `preset` and `device` are empty unless set:
    the foundation's preset and `finetune.device`."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # as every config section

    settings_class: ClassVar[type]
    RUN_DEFAULTS: ClassVar[tuple[str, ...]] = ("preset", "device")

    def build(self, preset: str, device: str) -> Any:
        """The application's settings dataclass, with the run's defaults filled in."""
        values = {k: getattr(self, k) for k in type(self).model_fields}
        values["preset"] = self.preset or preset
        values["device"] = self.device or device
        return self.settings_class(**values)

    @model_validator(mode="after")
    def _recipes_build(self) -> AppSettings:
        # The recipes' bounds live in karpa_models/finetune/config.py: build them to check.
        settings = self.build(preset="tiny", device="auto")
        recipes = (
            [("", settings.recommender)]
            if hasattr(settings, "recommender")
            else [
                ("", settings.classifier),
                ("the learning curve's ", lambda: settings.classifier(curve=True)),
            ]
        )
        for which, recipe in recipes:
            try:
                recipe()
            except ValueError as exc:
                # "classifier.epochs must be >= 1": the key is the application's own.
                raise ValueError(
                    which + re.sub(r"^(classifier|recommender)\.", "", str(exc))
                ) from None
        return self


def _app_settings(settings_class: type, name: str) -> type[AppSettings]:
    hints = typing.get_type_hints(settings_class)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(settings_class):
        if f.name in AppSettings.RUN_DEFAULTS:
            fields[f.name] = (hints[f.name] | None, None)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hints[f.name], f.default)
    model = create_model(name, __base__=AppSettings, __module__=__name__, **fields)
    model.settings_class = settings_class
    model.__doc__ = f"The settings of {settings_class.__name__}, checked at load."
    return model


IntentSettings = _app_settings(IntentConfig, "IntentSettings")
SentimentSettings = _app_settings(SentimentConfig, "SentimentSettings")
RecommendationSettings = _app_settings(RecommendationConfig, "RecommendationSettings")


class MultitaskSettings(BaseModel):
    """`finetune.multitask`: one joint fine-tune of the text applications (intent and
    sentiment) on the shared foundation, a head each (karpa/applications/multitask.py).
    It is one more candidate beside each application's separate fine-tune; the better of
    the two on validation is the application's main model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        False,
        description="Train the joint model (when two or more text applications run "
        "without DP) and let each application choose it on validation.",
    )
    sampling: Literal["sqrt", "proportional", "round_robin"] = Field(
        "sqrt",
        description="Which task each batch comes from: in proportion to the square root "
        "of its train size, to its train size, or alternating.",
    )
    lr: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="The heads' learning rate (the encoder's is scaled as the apps' are); "
        "empty: intent's lr.",
    )

"""Run configuration: YAML presets in `configs/` loaded into typed models.

Every stage reads the resolved configuration and nothing else, and the same resolved
configuration is what MLflow records. Unknown or mistyped keys are refused with one
sentence that names the key, the file and the nearest valid key.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from karpa.errors import ConfigError
from karpa.schema import TABLE_NAMES


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


SourceFormat = Literal["csv", "jsonl", "parquet", "image_folder", "clinc_json", "at_label",
                       "idx_images", "movielens_items", "movielens_100k_items"]
SPLITS = ("train", "val", "test")


class SourceSpec(Section):
    """Where one canonical table comes from, and how source columns map onto it."""

    path: str = Field(description="File, folder or glob; relative to data.root, or an fsspec URI.")
    format: SourceFormat = Field(
        description="csv, jsonl, parquet, image_folder; or a published dataset's own layout: "
        "clinc_json, at_label, idx_images, movielens_items, movielens_100k_items"
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical column -> source column, where they differ"
    )
    delimiter: str = ","
    encoding: str = "utf-8"
    header: list[str] | None = Field(
        default=None, description="csv: column names of a file that has no header row"
    )
    list_separator: dict[str, str] = Field(
        default_factory=dict, description="canonical list column -> separator in the source"
    )
    timestamp_unit: Literal["s", "ms", "us"] | None = Field(
        default=None, description="unit of numeric timestamps (for example Unix seconds)"
    )
    constants: dict[str, str] = Field(
        default_factory=dict, description="canonical column -> a value for every row"
    )
    row_id: str | None = Field(
        default=None, description="canonical id column to derive from the row number"
    )
    pattern: str = Field(
        default=r"^(?P<item_id>.+?)__\w+\.(?:png|jpe?g)$",
        description="image_folder: regex on the file name with a group `item_id`; the "
        "image_id is the file name without its extension",
    )
    with_files: dict[str, str] = Field(
        default_factory=dict,
        description="formats that join several files: role -> path (relative to data.root), "
        "e.g. idx_images {labels: ...}, movielens_items {tags: tags.csv}",
    )
    label_names: list[str] | None = Field(
        default=None, description="idx_images: the name of each integer label, in order "
        "(default: the digit words zero .. nine)"
    )
    split_from_id: str | None = Field(
        default=None,
        description="regex with a group `split` (train, val or test) on the row's id, for "
        "sources that ship an official split (ids from `row_id` start with the file name)",
    )

    @field_validator("split_from_id")
    @classmethod
    def _split_pattern(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        if "split" not in compiled.groupindex:
            raise ValueError(f"needs a named group `split`, one of {', '.join(SPLITS)}")
        return value


class DataConfig(Section):
    root: str = Field(".karpa/demo-data", description="Folder the source paths are relative to.")
    sources: dict[str, SourceSpec]


class IngestConfig(Section):
    batch_rows: int = Field(65_536, ge=1_000, le=10_000_000)


class ValidateConfig(Section):
    contracts: str | None = Field(
        None, description="Folder of contract YAML files; default: the packaged contracts."
    )
    reference_time: str | None = Field(
        None, description="ISO time that freshness and 'now' bounds are judged against; "
        "default: the start of the run (UTC)."
    )
    scrub_pii: bool = Field(True, description="Replace emails, phones, cards and IBANs.")
    labels: dict[str, list[str]] = Field(
        default_factory=dict,
        description="table.column -> the values allowed there in this run (a dataset's "
        "intents, say), replacing the contract's `allowed`; any other value is quarantined",
    )

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, allowed in value.items():
            table, _, column = key.partition(".")
            if table not in TABLE_NAMES or not column:
                raise ValueError(f"key {key!r} is not <table>.<column> of a known table")
            if not allowed:
                raise ValueError(f"{key}: an empty list would quarantine every labelled row")
        return value


class AlignConfig(Section):
    salt: str = Field("karpa-v1", description="Changes every hash split when changed.")
    val_share: float = Field(0.1, ge=0.0, le=0.5)
    test_share: float = Field(0.2, gt=0.0, le=0.5)
    stratify: bool = Field(
        False, description="Hash-split labeled messages and news within each label, so "
        "validation and test hold every class in its share (exactly, up to rounding)."
    )
    transductive: bool = Field(
        False, description="Let pretraining read validation and test texts (never labels)."
    )
    session_gap_minutes: int = Field(30, ge=1)
    recent_items: int = Field(3, ge=0, le=50)
    image_size: int = Field(32, ge=8, le=512)
    held_out_pairs: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of items whose image-text pairs are kept out "
        "of pretraining for the zero-shot retrieval check."
    )
    k_shots: list[int] = Field(default_factory=lambda: [5, 10, 50])
    fewshot_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    oos_label: str = Field("oos", description="The intent label meaning out of scope.")
    min_coverage: dict[str, float] = Field(
        default_factory=lambda: {
            "items.share_with_text": 0.8,
            "items.share_with_image": 0.5,
            "items.share_with_events": 0.3,
            "users.evaluable": 10,
        },
        description="coverage figure -> smallest acceptable value; below it the run stops",
    )


class PretrainConfig(Section):
    preset: str = Field("tiny", description="Model size preset: tiny, small, base, or a YAML path.")
    steps: int | None = Field(None, ge=1, le=10_000_000, description="Override the preset's steps.")
    lr: float | None = Field(None, gt=0.0, le=1.0, description="Override the preset's peak LR.")
    text_init: str | None = Field(
        None, description="Start the text tower from a pretrained Hugging Face encoder "
        "(local folder or hub id)."
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    max_texts: int | None = Field(
        None, ge=100, description="Use at most this many pretraining texts (a seeded sample)."
    )
    progress: bool = Field(True, description="Show a progress bar with rate and ETA.")


Application = Literal["intent", "sentiment", "recommendation"]
APPLICATIONS: tuple[str, ...] = ("intent", "sentiment", "recommendation")


class FinetuneConfig(Section):
    applications: list[Application] = Field(
        default_factory=lambda: list(APPLICATIONS),
        description="Which applications to fine-tune and evaluate.",
    )
    foundation: Literal["pretrain", "champion"] = Field(
        "pretrain",
        description="Fine-tune from this run's pretrain stage, or from the registry's "
        "champion foundation (no pretraining in this run).",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    intent: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of karpa.applications.IntentConfig."
    )
    sentiment: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of karpa.applications.SentimentConfig."
    )
    recommendation: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of karpa.applications.RecommendationConfig.",
    )


class PromoteConfig(Section):
    margin: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="The lower bound of challenger − champion must be above this.",
    )
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    slice_drop: float = Field(0.05, ge=0.0, le=1.0, description="Largest allowed slice drop.")
    min_slice_size: int = Field(30, ge=1)
    max_latency_p95_ms: float = Field(250.0, gt=0.0)
    max_model_mb: float = Field(500.0, gt=0.0)
    floors: dict[str, float] = Field(
        default_factory=lambda: {"intent": 0.5, "sentiment": 0.4, "recommendation": 0.02},
        description="A first version must reach this on its primary metric.",
    )
    max_test_examples: int = Field(2000, ge=50)
    registry_prefix: str = "karpa-"


class TrackingConfig(Section):
    experiment: str = "karpa"
    ui_url: str = Field(
        "http://127.0.0.1:5000",
        description="Where `karpa ui` serves MLflow; used for links from Prefect to MLflow.",
    )


STAGES = ("ingest", "validate", "align", "pretrain", "finetune", "promote")
Stage = Literal["ingest", "validate", "align", "pretrain", "finetune", "promote"]


class RunConfig(Section):
    # `validate` is a BaseModel method name, so the field is `validate_` in Python and
    # `validate` in YAML, in --set keys and in everything logged.
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )

    name: str = "demo"
    seed: int = 0
    until: Stage = Field("promote", description="Run the pipeline up to this stage, inclusive.")
    data: DataConfig
    ingest: IngestConfig = IngestConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    align: AlignConfig = AlignConfig()
    pretrain: PretrainConfig = PretrainConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    promote: PromoteConfig = PromoteConfig()
    tracking: TrackingConfig = TrackingConfig()

    def runs(self, stage: str) -> bool:
        """Whether `stage` is part of this run (everything up to `until`)."""
        return STAGES.index(stage) <= STAGES.index(self.until)

    def check(self) -> RunConfig:
        unknown = sorted(set(self.data.sources) - set(TABLE_NAMES))
        if unknown:
            raise ConfigError(
                f"data.sources: unknown table {unknown[0]!r} "
                f"(known tables: {', '.join(TABLE_NAMES)})"
            )
        return self


def _fields_by_key(model: Any) -> dict[str, Any]:
    """A model's fields by the key a user writes (the alias where there is one)."""
    fields = getattr(model, "model_fields", None) or {}
    return {(f.alias or name): f for name, f in fields.items()}


def _nearest(model: type[BaseModel], loc: tuple[Any, ...], bad: str) -> str | None:
    """Walk the model along `loc` (minus the bad key) and find the closest field name."""
    current: Any = model
    parts = list(loc[:-1])
    while parts:
        fields = _fields_by_key(current)
        part = parts.pop(0)
        if part not in fields:
            return None
        current = fields[part].annotation
        if typing.get_origin(current) is dict:
            # A mapping of sections (data.sources.<table>): skip the free key.
            current = typing.get_args(current)[1]
            if not parts:
                return None
            parts.pop(0)
    names = list(_fields_by_key(current))
    match = difflib.get_close_matches(bad, names, n=1, cutoff=0.5)
    return match[0] if match else None


def _explain(err: ValidationError, source: str) -> ConfigError:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    key = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        hint = _nearest(RunConfig, loc, str(loc[-1]))
        near = f"; did you mean {'.'.join([*map(str, loc[:-1]), hint])!r}?" if hint else ""
        return ConfigError(f"{source}: unknown key {key!r}{near}")
    return ConfigError(f"{source}: {key}: {first['msg']} (got {first.get('input')!r})")


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {part!r} is a value, not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`key.path=value`, the value parsed as YAML (so numbers and lists keep their type)."""
    if "=" not in text:
        raise ConfigError(
            f"--set {text!r}: expected KEY=VALUE, for example ingest.batch_rows=50000"
        )
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def load_config(
    path: str | Path, overrides: list[str] | None = None, data_root: str | None = None
) -> RunConfig:
    """Load a preset, apply `--set` overrides and `--data`, and validate the result."""
    path = Path(path)
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    source = str(path)
    for text in overrides or []:
        key, value = parse_override(text)
        _set_path(tree, key, value)
        source = f"{path} with --set"
    if data_root is not None:
        _set_path(tree, "data.root", data_root)
    try:
        cfg = RunConfig.model_validate(tree).check()
    except ValidationError as err:
        raise _explain(err, source) from None
    from karpa.confine import check_sources_confined

    return check_sources_confined(cfg)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Flatten a resolved config to `a.b.c -> str` for MLflow parameters."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: str(value)}

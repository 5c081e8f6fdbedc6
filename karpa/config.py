"""Run configuration: YAML presets in `configs/` loaded into typed models.

Every stage reads the resolved configuration and nothing else, and the same resolved
configuration is what MLflow records. It is checked completely when it is loaded, before
any flow or task starts: the run's own keys, the per-application settings and the model
size preset. Unknown or mistyped keys are refused with one sentence that names the key,
the file and the nearest valid key (karpa/config_input.py).

Where each bound lives (one place each):
- the run's own keys: the pydantic `Field`s here; the Prefect form (flows/params.py)
  takes its bounds and choices from them (`field_bounds`, `model_presets`);
- per-application settings: the fields and types of the applications' dataclasses
  (karpa/applications/text_config.py, rec_config.py), mirrored field by field in
  karpa/config_apps.py, and the bounds of the recipes they build
  (karpa_models/finetune/config.py), checked there by building those recipes;
- a model size preset: karpa_models/config.py, checked here by building the model and
  training configs with this run's overrides.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from karpa.config_apps import (
    IntentSettings,
    MultitaskSettings,
    RecommendationSettings,
    SentimentSettings,
)
from karpa.config_engine import ADDRESS_PATTERN, DaskConfig, Engine
from karpa.config_input import (
    check_override,
    did_you_mean,
    explain,
    parse_override,
    set_path,
)
from karpa.config_launch import TorchrunSettings
from karpa.config_search import SearchConfig
from karpa.config_start import with_start_defaults
from karpa.errors import ConfigError
from karpa.schema import TABLE_NAMES


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


SourceFormat = Literal[
    "csv",
    "jsonl",
    "parquet",
    "image_folder",
    "clinc_json",
    "at_label",
    "idx_images",
    "movielens_items",
    "movielens_100k_items",
]
SPLITS = ("train", "val", "test")
PRIVATE_APPS = ("intent", "sentiment")  # the applications with a DP fine-tune option


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
        default=None,
        description="idx_images: the name of each integer label, in order "
        "(default: the digit words zero .. nine)",
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
        None,
        description="ISO time that freshness and 'now' bounds are judged against; "
        "default: the start of the run (UTC).",
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
        False,
        description="Hash-split labeled messages and news within each label, so "
        "validation and test hold every class in its share (exactly, up to rounding).",
    )
    transductive: bool = Field(
        False, description="Let pretraining read validation and test texts (never labels)."
    )
    session_gap_minutes: int = Field(30, ge=1)
    recent_items: int = Field(3, ge=0, le=50)
    image_size: int = Field(32, ge=8, le=512)
    held_out_pairs: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Share of items whose image-text pairs are kept out "
        "of pretraining for the zero-shot retrieval check.",
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


def _is_preset_file(preset: str) -> bool:
    return Path(preset).suffix in (".yaml", ".yml")  # as karpa_models.load_preset reads it


@functools.cache
def model_presets() -> tuple[str, ...]:
    """The model size presets in karpa_models/presets/, smallest model first."""
    from karpa_models.config import PRESET_DIR, preset_names

    def width(name: str) -> int:
        raw = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text()) or {}
        return int((raw.get("model") or {}).get("embed_dim", 0))

    return tuple(sorted(preset_names(), key=lambda name: (width(name), name)))


CHECK_NAME = re.compile(r"^(probe/(intent|sentiment)|retrieval|next_item)$")


class ChecksSettings(Section):
    """Downstream checks during pretraining (karpa_models/checks.py): on validation data
    only, at step 0 and every `every` steps; the best combined check is the foundation."""

    every: int = Field(
        100, ge=0, le=1_000_000, description="Steps between checks; 0 turns them off."
    )
    k: int = Field(10, ge=1, le=1000, description="Labeled examples per class of each probe.")
    repeats: int = Field(3, ge=1, le=20, description="k-shot draws averaged per probe.")
    max_val: int = Field(
        400, ge=10, le=100_000, description="Validation rows (and users) per check, at most."
    )
    combine: Literal["mean", "worst_gain"] = Field(
        "mean",
        description="mean: weighted mean of the checks; worst_gain: the smallest weighted "
        "change of any check from step 0.",
    )
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="Check name (probe/intent, probe/sentiment, retrieval, next_item) -> "
        "weight in the combination (default 1; 0 leaves a check out).",
    )
    min_gain: float = Field(
        0.0, ge=0.0, le=1.0, description="A checkpoint must beat step 0 by more than this."
    )

    @field_validator("weights")
    @classmethod
    def _known_checks(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not CHECK_NAME.match(name):
                raise ValueError(
                    f"unknown check {name!r} (known: probe/intent, probe/sentiment, "
                    "retrieval, next_item)"
                )
            if not 0.0 <= weight <= 100.0:
                raise ValueError(f"weight of {name} must be in [0, 100], got {weight}")
        return value

    def to_model(self) -> Any:
        """The karpa_models ChecksConfig these settings describe."""
        from karpa_models.checks import ChecksConfig

        return ChecksConfig(**self.model_dump())


class PretrainConfig(Section, TorchrunSettings):
    # nproc_per_node, nnodes, node_rank, rdzv_endpoint: karpa/config_launch.py
    preset: str = Field("tiny", description="Model size preset: tiny, small, base, or a YAML path.")
    steps: int | None = Field(None, ge=1, le=1_000_000, description="Override the preset's steps.")
    lr: float | None = Field(None, gt=0.0, le=0.1, description="Override the preset's peak LR.")
    text_init: str | None = Field(
        None,
        description="Start the text tower from a pretrained Hugging Face encoder "
        "(local folder or hub id).",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    max_texts: int | None = Field(
        None, ge=100, description="Use at most this many pretraining texts (a seeded sample)."
    )
    progress: bool = Field(True, description="Show a progress bar with rate and ETA.")
    pretrained_lr_scale: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Override the preset's learning-rate factor of a pretrained text encoder.",
    )
    pretrained_layer_decay: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Override the preset's layer-wise decay of that factor (per layer below "
        "the encoder's top).",
    )
    loss_weights: dict[str, float] | None = Field(
        None,
        description="Override the preset's weights of the named objectives "
        "(e.g. {mlm: 0.1}); the others keep the preset's.",
    )
    text_views: Literal["masked", "crops", "split"] | None = Field(
        None,
        description="Override the preset's views of the sentence-level contrastive objective: "
        "masked (the whole text twice), crops (two random spans), split (two disjoint parts).",
    )
    token_init: Literal["random", "cooccurrence"] | None = Field(
        None,
        description="Override the preset's start of the token embeddings of a text tower "
        "trained from scratch: random, or cooccurrence (which tokens share a text in the "
        "corpus; karpa_models/cooccurrence.py). A pretrained start keeps its own.",
    )
    activation_checkpointing: bool | None = Field(
        None,
        description="Override the preset: recompute each transformer block's activations in "
        "the backward pass instead of keeping them: the same updates and less peak memory, "
        "for one more forward pass per step (README, Performance).",
    )
    checks: ChecksSettings = Field(
        default_factory=ChecksSettings,
        description="Downstream checks on validation data that choose the foundation's checkpoint.",
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if _is_preset_file(value):
            if not Path(value).is_file():
                raise ValueError(f"model preset file {value!r} not found")
            return value
        known = model_presets()
        if value not in known:
            raise ValueError(
                f"unknown model preset {value!r} (known: {', '.join(known)}, or "
                f"a YAML file){did_you_mean(value, known)}"
            )
        return value

    @model_validator(mode="after")
    def _preset_builds(self) -> PretrainConfig:
        # The preset's own bounds live in karpa_models/config.py: build it to check it.
        try:
            self.model_configs(seed=0)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"model preset {self.preset!r}: {exc}") from None
        return self

    def model_configs(self, seed: int) -> tuple[Any, Any]:
        """The preset with this run's overrides applied: (ModelConfig, TrainConfig)."""
        from karpa_models.config import load_preset

        model_cfg, train_cfg = load_preset(self.preset)
        if self.text_init:
            model_cfg = dataclasses.replace(model_cfg, text_init=self.text_init)
        updates: dict[str, Any] = {
            "device": self.device,
            "precision": self.precision,
            "progress": self.progress,
            "seed": seed,
        }
        if self.steps is not None:
            updates["steps"] = self.steps
            updates["warmup_steps"] = min(train_cfg.warmup_steps, max(self.steps // 10, 1))
        if self.lr is not None:
            updates["lr"] = self.lr
        if self.pretrained_lr_scale is not None:
            updates["pretrained_lr_scale"] = self.pretrained_lr_scale
        if self.pretrained_layer_decay is not None:
            updates["pretrained_layer_decay"] = self.pretrained_layer_decay
        if self.loss_weights is not None:
            updates["loss_weights"] = {**train_cfg.loss_weights, **self.loss_weights}
        if self.text_views is not None:
            updates["text_views"] = self.text_views
        if self.token_init is not None:
            updates["token_init"] = self.token_init
        if self.activation_checkpointing is not None:
            updates["activation_checkpointing"] = self.activation_checkpointing
        return model_cfg, dataclasses.replace(train_cfg, **updates)


Application = Literal["intent", "sentiment", "recommendation"]
APPLICATIONS: tuple[str, ...] = typing.get_args(Application)


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
    intent: IntentSettings = Field(  # type: ignore[valid-type]
        default_factory=IntentSettings, description="karpa.applications.IntentConfig."
    )
    sentiment: SentimentSettings = Field(  # type: ignore[valid-type]
        default_factory=SentimentSettings, description="karpa.applications.SentimentConfig."
    )
    recommendation: RecommendationSettings = Field(  # type: ignore[valid-type]
        default_factory=RecommendationSettings,
        description="karpa.applications.RecommendationConfig.",
    )
    multitask: MultitaskSettings = Field(
        default_factory=MultitaskSettings,
        description="One joint fine-tune of the text applications, chosen per application "
        "on validation against its separate fine-tune.",
    )
    concurrency: int = Field(
        1,
        ge=1,
        le=16,
        description="Applications fine-tuned at once, each in its own process with its "
        "share of the CPU threads (1: one after another).",
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
    robustness_sample: int = Field(
        300,
        ge=0,
        le=100_000,
        description="Test requests (a seeded sample) each model answers once per "
        "perturbation; each perturbation is a slice held to slice_drop (0: none).",
    )
    registry_prefix: str = "karpa-"
    max_epsilon: dict[str, float] = Field(
        default_factory=dict,
        description="Privacy policy per text application (intent, sentiment): a challenger "
        "whose DP fine-tune spent a larger ε, or that was trained without DP, is refused.",
    )

    @field_validator("max_epsilon")
    @classmethod
    def _private_apps_only(cls, value: dict[str, float]) -> dict[str, float]:
        for app, limit in value.items():
            if app not in PRIVATE_APPS:
                raise ValueError(
                    f"{app!r} has no private fine-tune; a limit applies to "
                    f"{' or '.join(PRIVATE_APPS)}"
                )
            if not limit > 0:
                raise ValueError(f"the limit of {app} must be > 0, got {limit}")
        return value


class TrackingConfig(Section):
    experiment: str = "karpa"
    ui_url: str = Field(
        "http://127.0.0.1:5000",
        description="Where `karpa ui` serves MLflow; used for links from Prefect to MLflow.",
    )


Stage = Literal["ingest", "validate", "align", "pretrain", "finetune", "promote"]
STAGES: tuple[str, ...] = typing.get_args(Stage)


class RunConfig(Section):
    # `validate` is a BaseModel method name, so the field is `validate_` in Python and
    # `validate` in YAML, in --set keys and in everything logged.
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )

    name: str = "demo"
    seed: int = 0
    until: Stage = Field("promote", description="Run the pipeline up to this stage, inclusive.")
    engine: Engine = Field(
        "local", description="Where the data stages run: one process, or a Dask cluster."
    )
    engine_address: str | None = Field(
        None,
        pattern=ADDRESS_PATTERN,
        description="engine: dask — an existing scheduler (tcp://host:8786); "
        "empty: a local cluster started and closed by the run.",
    )
    dask: DaskConfig = DaskConfig()
    mmap_threshold_mb: int | None = Field(
        None,
        ge=1,
        le=32,
        description="Fix glibc malloc's mmap threshold (MiB) for the run's process and those "
        "it starts: tensors above it are unmapped when freed, which bounds CPU training's "
        "resident memory for a slower step (karpa/allocators.py). Empty: glibc's own.",
    )
    data: DataConfig
    ingest: IngestConfig = IngestConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    align: AlignConfig = AlignConfig()
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    promote: PromoteConfig = PromoteConfig()
    tracking: TrackingConfig = TrackingConfig()
    search: SearchConfig = Field(
        default_factory=SearchConfig, description="`karpa search`: the architecture search."
    )

    @model_validator(mode="before")
    @classmethod
    def _pretrained_start_defaults(cls, data: Any) -> Any:
        # A pretrained start's fine-tune settings where the run sets none (config_start.py).
        return with_start_defaults(data, PretrainConfig.model_fields["preset"].default)

    def runs(self, stage: str) -> bool:
        """Whether `stage` is part of this run (everything up to `until`)."""
        return STAGES.index(stage) <= STAGES.index(self.until)

    def check(self) -> RunConfig:
        if self.engine_address is not None and self.engine != "dask":
            raise ConfigError(
                f"engine_address: a scheduler address is used by engine: dask only "
                f"(engine is {self.engine!r})"
            )
        unknown = sorted(set(self.data.sources) - set(TABLE_NAMES))
        if unknown:
            raise ConfigError(
                f"data.sources: unknown table {unknown[0]!r} "
                f"(known tables: {', '.join(TABLE_NAMES)}){did_you_mean(unknown[0], TABLE_NAMES)}"
            )
        return self


def field_bounds(section: type[BaseModel], name: str) -> dict[str, float]:
    """A config key's numeric bounds as `Field` keywords (ge, gt, le, lt), so that a form
    offering the key takes them from here rather than repeating the numbers."""
    out: dict[str, float] = {}
    for meta in section.model_fields[name].metadata:
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(meta, bound, None) is not None:
                out[bound] = getattr(meta, bound)
    return out


def check_overrides(items: Sequence[str], option: str = "--set") -> None:
    """Check KEY=VALUE overrides against the schema before any file is read (the form's
    free-form overrides): each key must exist, each value must fit its key."""
    for text in items:
        key, value = parse_override(text, option)
        check_override(RunConfig, key, value, option)


# The run presets shipped inside the package (package data), so that `pip install karpa`
# followed by `karpa run` works from any folder, not only from a checkout.
CONFIGS = Path(__file__).resolve().parent / "configs"


def shipped_presets() -> list[str]:
    """The shipped run presets by name: `demo`, `real/banking77`, ..."""
    return sorted(
        p.relative_to(CONFIGS).with_suffix("").as_posix() for p in CONFIGS.rglob("*.yaml")
    )


def config_file(path: str | Path) -> Path:
    """The YAML file of a run preset: `path` itself when it is a file; else a shipped
    preset, by its path under `configs/` as a checkout shows it (`configs/demo.yaml`,
    `configs/real/banking77.yaml`) or by its name (`demo`, `real/banking77`, `banking77`).
    A file in the working folder wins over a shipped preset of the same path."""
    given = Path(path)
    if given.is_file():
        return given
    name = given.as_posix().removeprefix("configs/").removesuffix(".yaml").removesuffix(".yml")
    for candidate in (CONFIGS / f"{name}.yaml", CONFIGS / "real" / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return given  # not there: the caller says so


def load_config(
    path: str | Path,
    overrides: Sequence[str] | None = None,
    data_root: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Load a preset (a file, or one shipped with karpa: see `config_file`), apply typed
    `values` (dotted key -> value, as the form gives them), then `--set` overrides (parsed
    as YAML) and `--data`, and check the whole result. Errors name `path` as given."""
    try:
        tree = yaml.safe_load(config_file(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (shipped presets: {', '.join(shipped_presets())})"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    source = str(path)
    for key, value in (values or {}).items():
        set_path(tree, key, value, option="parameter")
        source = f"{path} with parameters"
    for text in overrides or []:
        key, value = parse_override(text)
        set_path(tree, key, value)
        source = f"{path} with --set"
    if data_root is not None:
        set_path(tree, "data.root", data_root)
    try:
        cfg = RunConfig.model_validate(tree).check()
    except ValidationError as err:
        raise explain(err, source, RunConfig) from None
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    from karpa.confine import check_sources_confined

    check_sources_confined(
        cfg.data.root,
        [
            (f"data.sources.{table}.{key}", path)
            for table, spec in cfg.data.sources.items()
            for key, path in [
                ("path", spec.path),
                *((f"with_files.{role}", p) for role, p in spec.with_files.items()),
            ]
        ],
    )
    return cfg


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


def run_params(cfg: RunConfig, *, search: bool = False) -> dict[str, str]:
    """The resolved config flattened as a pipeline run's MLflow parameters. The `search`
    section is read by `karpa search` alone, so only a search run (`search`) logs it: a
    retrain would carry a score of parameters it never used."""
    flat = flatten(cfg)
    if search:
        return flat
    return {key: value for key, value in flat.items() if not key.startswith("search.")}

"""Typed configuration: the model architecture and the pretraining recipe.

Size presets are YAML data files `karpa_models/presets/<name>.yaml` with two sections, `model:`
and `train:`; `load_preset("tiny")` returns both as frozen dataclasses. Configs travel inside
checkpoints as plain dicts (`to_dict` / `from_dict`), so a checkpoint never pickles a custom
object and loads with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

logger = logging.getLogger(__name__)

# Size presets are package data beside this module (`pip install` ships them).
PRESET_DIR = Path(__file__).resolve().parent / "presets"

# Every self-supervised objective, by the name used in configs, metrics and errors.
OBJECTIVES: tuple[str, ...] = (
    "mlm",  # masked-token modelling on text
    "text_contrastive",  # two masked views of one text, InfoNCE over the batch
    "masked_item",  # masked-item modelling on behaviour sequences
    "image_text",  # CLIP-style symmetric InfoNCE between images and their texts
    "content_behaviour",  # an item's content vs its behaviour (id) embedding
    "masked_patch",  # SimMIM-style pixel reconstruction of masked image patches
)


@dataclass(frozen=True)
class TextConfig:
    vocab_size: int = 2000  # target when training a tokenizer; the real size is set at build
    max_len: int = 64
    width: int = 128
    layers: int = 2
    heads: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.1
    # The pretrained encoder's own config (JSON-safe), filled in when `ModelConfig.text_init`
    # is resolved, so that a checkpoint rebuilds the architecture without the original folder.
    hf_config: dict[str, Any] | None = None


@dataclass(frozen=True)
class ImageConfig:
    image_size: int = 32
    patch_size: int = 8
    width: int = 128
    layers: int = 2
    heads: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.0


@dataclass(frozen=True)
class BehaviourConfig:
    n_items: int = 0  # catalogue size; set from the corpus at build time
    max_len: int = 32
    width: int = 128
    layers: int = 2
    heads: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.1


@dataclass(frozen=True)
class ModelConfig:
    embed_dim: int = 128  # the shared space where every modality is compared
    text_init: str | None = None  # local folder or hub id of a pretrained HF text encoder
    text: TextConfig = field(default_factory=TextConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)

    def __post_init__(self) -> None:
        for name, tower in (
            ("text", self.text),
            ("image", self.image),
            ("behaviour", self.behaviour),
        ):
            if tower.width % tower.heads:
                raise ValueError(
                    f"model.{name}.width {tower.width} is not a multiple of heads {tower.heads}"
                )
        if self.image.width % 4:
            raise ValueError(
                f"model.image.width {self.image.width} must be a multiple of 4 "
                "(2-D sine-cosine positions)"
            )
        if self.image.image_size % self.image.patch_size:
            raise ValueError(
                f"model.image.image_size {self.image.image_size} is not a multiple of "
                f"patch_size {self.image.patch_size}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        nested = {
            "text": TextConfig,
            "image": ImageConfig,
            "behaviour": BehaviourConfig,
        }
        for key, sub in nested.items():
            if key in data:
                data[key] = _from_dict(sub, data[key] or {}, f"model.{key}")
        return _from_dict(cls, data, "model")


def _default_weights() -> dict[str, float]:
    return {
        "mlm": 1.0,
        "text_contrastive": 1.0,
        "masked_item": 1.0,
        "image_text": 1.0,
        "content_behaviour": 1.0,
        "masked_patch": 0.0,
    }


# The sentence-level contrastive views (karpa_models/batches.py).
TEXT_VIEWS = ("masked", "crops", "split")
# Where a text tower trained from scratch starts its token embeddings
# (karpa_models/cooccurrence.py).
TOKEN_INITS = ("random", "cooccurrence")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 30
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at the last step
    grad_clip: float = 1.0
    pretrained_lr_scale: float = 0.1  # a pretrained text encoder moves slower than new weights
    # Layer-wise decay of that rate: each layer below the encoder's top one moves this much
    # slower again (1.0: every pretrained layer at pretrained_lr_scale).
    pretrained_layer_decay: float = 1.0
    # Global batch sizes per step, split evenly across data-parallel ranks.
    batch_text: int = 64
    batch_pairs: int = 64
    batch_sequences: int = 32
    batch_items: int = 64
    mask_prob: float = 0.15
    item_mask_prob: float = 0.2
    patch_mask_prob: float = 0.5
    text_temperature: float = 0.05  # fixed τ of the sentence-level contrastive loss (STACK.md)
    # The sentence-level contrastive views: "masked" (the whole text, masked twice),
    # "crops" (two independent random spans of it, each covering a share in crop_ratio) or
    # "split" (the text cut in two disjoint parts between words, the first covering a share
    # in crop_ratio: the parts share no token).
    text_views: str = "masked"
    crop_ratio: tuple[float, float] = (0.3, 0.7)
    # Where a text tower trained from random weights starts its token embeddings: "random"
    # or "cooccurrence" (karpa_models/cooccurrence.py: a factorisation of which tokens share
    # a text in the corpus). A pretrained start (model.text_init) keeps its own.
    token_init: str = "random"
    init_temperature: float = 0.07  # start of the learnable τ of the cross-modal losses
    weighting: str = "static"  # "static" (loss_weights) or "uncertainty" (Kendall et al.)
    # A weight of 0 switches an objective off (it is not even computed); objectives not
    # named keep their default. Under uncertainty weighting a non-zero weight means "on".
    loss_weights: dict[str, float] = field(default_factory=_default_weights)
    content_refresh_every: int = 50  # steps between recomputing the items' content vectors
    seed: int = 0
    num_workers: int = 0
    log_every: int = 10
    checkpoint_every: int = 100
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "fp32" | "bf16"
    progress: bool = False  # a tqdm bar on rank 0 (log lines are always written)
    # Recompute each transformer block's activations in the backward pass instead of
    # keeping them (karpa_models/layers.py): the same updates, less peak memory (a text
    # step's activations dominate it), one more forward pass of compute per step.
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        positive = (
            "steps",
            "batch_text",
            "batch_pairs",
            "batch_sequences",
            "batch_items",
            "log_every",
            "checkpoint_every",
            "content_refresh_every",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.weighting not in ("static", "uncertainty"):
            raise ValueError(
                f"train.weighting must be 'static' or 'uncertainty', got {self.weighting!r}"
            )
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"train.device must be auto, cpu or cuda, got {self.device!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"train.precision must be auto, fp32 or bf16, got {self.precision!r}")
        # Unnamed objectives keep their default weight, however the config was built.
        object.__setattr__(self, "loss_weights", {**_default_weights(), **self.loss_weights})
        unknown = set(self.loss_weights) - set(OBJECTIVES)
        if unknown:
            raise ValueError(
                f"train.loss_weights has unknown objectives {sorted(unknown)}; "
                f"known: {list(OBJECTIVES)}"
            )
        if any(w < 0 for w in self.loss_weights.values()):
            raise ValueError(f"train.loss_weights must be >= 0, got {self.loss_weights}")
        if self.token_init not in TOKEN_INITS:
            raise ValueError(
                f"train.token_init must be one of {', '.join(TOKEN_INITS)}, got {self.token_init!r}"
            )
        if self.text_views not in TEXT_VIEWS:
            raise ValueError(
                f"train.text_views must be one of {', '.join(TEXT_VIEWS)}, got {self.text_views!r}"
            )
        object.__setattr__(self, "crop_ratio", tuple(float(r) for r in self.crop_ratio))
        low, high = self.crop_ratio if len(self.crop_ratio) == 2 else (0.0, -1.0)
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(
                f"train.crop_ratio must be two shares 0 < low <= high <= 1, got {self.crop_ratio}"
            )
        for name in ("pretrained_lr_scale", "pretrained_layer_decay"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"train.{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("mask_prob", "item_mask_prob", "patch_mask_prob"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"train.{name} must be in (0, 1), got {getattr(self, name)}")

    def weight(self, objective: str) -> float:
        return float(self.loss_weights.get(objective, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, dict(data), "train")


T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any], where: str) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}; known: {sorted(known)}")
    return cls(**data)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name_or_path: str | Path) -> tuple[ModelConfig, TrainConfig]:
    """Read a size preset: a name under karpa_models/presets/ (`tiny`, `small`, `base`) or a
    YAML path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no model preset {name_or_path!r} (known: {preset_names()})")
    raw = yaml.safe_load(path.read_text()) or {}
    # `origin`: where a preset came from (a search's study, trial and objectives); read by
    # people, not by training.
    unknown = set(raw) - {"model", "train", "origin"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}; expected model and train")
    logger.debug("loaded preset %s", path)
    return ModelConfig.from_dict(raw.get("model") or {}), TrainConfig.from_dict(
        raw.get("train") or {}
    )

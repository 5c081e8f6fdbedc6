"""Fine-tuning recipes as frozen dataclasses: one for text classifiers, one for the
next-item recommender. Plain values only, so a recipe travels as JSON (`to_dict`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from karpa_models.finetune.privacy_config import PrivacyConfig

MODES = ("full", "linear_probe", "contrastive_probe", "probe_full")
CLASSIFIER_METRICS = ("macro_f1", "accuracy")
RANKING_METRICS = ("ndcg@10", "hr@10", "mrr")
LOSSES = ("full_softmax", "sampled_softmax")
ATTENTIONS = ("bidirectional", "causal")  # the recommender's (NextItemRecommender)


def self_training_problem(rounds: int, share: float, pool: int) -> str | None:
    """What is wrong with a probe's self-training settings (one sentence), or None: the
    one rule for ClassifierConfig and the applications' settings, checked at load."""
    if rounds < 0 or not 0.0 < share <= 1.0:
        return (
            "self_training_rounds must be >= 0 and self_training_share in (0, 1], got "
            f"{rounds} and {share}"
        )
    if pool < 0:
        return f"self_training_pool must be >= 0, got {pool}"
    return None


def wise_problem(alphas: tuple[float, ...], key: str = "wise_alphas") -> str | None:
    """What is wrong with probe_full's weight-space mixing weights (one sentence naming
    `key`), or None: the one rule for ClassifierConfig and the applications' settings."""
    if any(not 0.0 < a < 1.0 for a in alphas):
        return f"{key} must each lie strictly between 0 and 1, got {list(alphas)}"
    return None


def pseudo_label_problem(share: float, key: str = "pseudo_label_share") -> str | None:
    """What is wrong with probe_full's pseudo-label share (one sentence naming `key`), or
    None: the one rule for ClassifierConfig and the applications' settings."""
    if not 0.0 <= share <= 1.0:
        return f"{key} must be in [0, 1], got {share}"
    return None


def soup_problem(size: int, key: str = "soup_size") -> str | None:
    """What is wrong with probe_full's number of souped fine-tunes (one sentence naming
    `key`), or None: the one rule for ClassifierConfig and the applications' settings."""
    if size < 1:
        return f"{key} must be >= 1 (1: a single fine-tune), got {size}"
    return None


def _check_common(where: str, values: dict[str, Any]) -> None:
    for name in ("epochs", "batch_size", "patience"):
        if values[name] < 1:
            raise ValueError(f"{where}.{name} must be >= 1, got {values[name]}")
    if values["max_steps"] is not None and values["max_steps"] < 1:
        raise ValueError(f"{where}.max_steps must be >= 1 or None, got {values['max_steps']}")
    if values["min_steps"] < 0:
        raise ValueError(f"{where}.min_steps must be >= 0, got {values['min_steps']}")
    if values["lr"] <= 0:
        raise ValueError(f"{where}.lr must be > 0, got {values['lr']}")
    if not 0.0 <= values["warmup_ratio"] < 1.0:
        raise ValueError(f"{where}.warmup_ratio must be in [0, 1), got {values['warmup_ratio']}")
    if values["device"] not in ("auto", "cpu", "cuda"):
        raise ValueError(f"{where}.device must be auto, cpu or cuda, got {values['device']!r}")
    if values["precision"] not in ("auto", "fp32", "bf16"):
        raise ValueError(
            f"{where}.precision must be auto, fp32 or bf16, got {values['precision']!r}"
        )


@dataclass(frozen=True)
class ClassifierConfig:
    """How a text classifier is fine-tuned from a text tower.

    mode "full" trains the whole encoder (at lr * encoder_lr_scale) and the head (at lr)
    with AdamW; "linear_probe" freezes the encoder and fits the head as a logistic
    regression on its pooled vectors (computed once), choosing the L2 strength among
    probe_l2 on validation; the minibatch settings then do not apply. "contrastive_probe"
    (SetFit-style, for few labels) first tunes a copy of the encoder with a supervised
    contrastive loss on the labeled texts (the contrastive_* settings), then fits the same
    linear probe on the tuned encoder's vectors. "probe_full" (LP-FT) fits that linear
    probe on the frozen encoder first (self-trained, as a probe does), starts the head from
    it and then trains everything as "full" does, validating the probe-started model as step
    0 so that early stopping can keep it.
    """

    mode: str = "full"
    epochs: int = 8
    max_steps: int | None = None  # a cap on optimiser steps across all epochs
    min_steps: int = 0  # a floor, so a few-shot set still gets enough updates
    batch_size: int = 32
    lr: float = 2e-3  # the head's learning rate
    encoder_lr_scale: float = 0.25  # full mode: the encoder moves slower than the new head
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    head_dropout: float = 0.1
    class_weighting: bool = False  # inverse class frequency in the loss
    patience: int = 3  # validations without improvement before stopping
    evals_per_epoch: int = 1
    metric: str = "macro_f1"  # early stopping (or the probe's L2 choice) on validation
    probe_l2: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)  # linear_probe: L2 strengths tried
    probe_max_iter: int = 100  # linear_probe: L-BFGS iterations per strength
    # Probes: fit on L2-normalised vectors (the head then normalises) instead of
    # standardised ones; better with few labels (see probe.py).
    probe_normalize: bool = False
    contrastive_steps: int = 40  # contrastive_probe: tuning steps before the probe
    contrastive_batch: int = 64  # contrastive_probe: labeled texts per step
    # Class-balanced contrastive batches: this many texts from each of contrastive_batch //
    # contrastive_per_class classes drawn per step (PK sampling, as metric learning does);
    # 0: a uniform draw of contrastive_batch texts. With many classes and few labels a
    # uniform batch leaves many texts without a same-class partner, and so without a
    # signal (10-shot Banking77, 64 of 770 texts: 46% of them).
    contrastive_per_class: int = 0
    contrastive_lr: float = 3e-4
    contrastive_temperature: float = 0.1
    # Probes: self-training on the unlabeled texts given to train_classifier
    # (self_training.py): rounds after the plain probe (0: none; the best round on
    # validation is kept, the plain probe included), the share of each predicted class's
    # texts added per round (round r adds the most confident r * share), and the most
    # unlabeled texts read (a seeded sample).
    self_training_rounds: int = 0
    self_training_share: float = 0.33
    self_training_pool: int = 4000
    # probe_full: mixing weights of a weight-space ensemble of the fine-tune with its
    # probe-started start (wise.py), the best on validation kept (the fine-tune as it is
    # among them); empty: none.
    wise_alphas: tuple[float, ...] = ()
    # probe_full: the fine-tune also trains on pseudo-labeled unlabeled texts, the most
    # confident `share` of the pool texts the chosen probe predicts for each class, each
    # with that prediction as its label (self-training the whole model, as the probe
    # self-trained its head); 0: the labeled texts only.
    pseudo_label_share: float = 0.0
    # probe_full: this many fine-tunes (seeds seed, seed + 1, ...) become one model, the
    # greedy soup of their weights on validation (soup.py): about K times the training
    # time, one model's cost at inference; 1: a single fine-tune.
    soup_size: int = 1
    # probe_full: first tune the encoder copy with the supervised contrastive loss (the
    # contrastive_* settings), as contrastive_probe does, then probe and fine-tune it: the
    # contrastive stage before fine-tuning of CPFT (Zhang et al. 2021), here before LP-FT.
    contrastive_first: bool = False
    max_len: int | None = None  # token budget per text; None: the tower's max_len
    # Recompute each encoder block's activations in the backward pass (full and
    # contrastive_probe; layers.py): the same updates, a step's peak memory cut to about
    # one block's activations, for one more forward pass. A DP fine-tune keeps them: Opacus
    # records each layer's activations in the forward pass for per-example gradients.
    activation_checkpointing: bool = False
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    # DP-SGD for mode "full" (privacy_config.py); off unless enabled.
    privacy: PrivacyConfig = dataclasses.field(default_factory=PrivacyConfig)

    def __post_init__(self) -> None:
        _check_common("classifier", dataclasses.asdict(self))
        if self.privacy.enabled and self.mode != "full":
            raise ValueError(
                f"classifier.privacy.enabled needs mode 'full' (DP-SGD trains by gradient "
                f"steps; a probe's L-BFGS fit is not private), got {self.mode!r}"
            )
        if self.mode not in MODES:
            raise ValueError(f"classifier.mode must be one of {MODES}, got {self.mode!r}")
        if self.metric not in CLASSIFIER_METRICS:
            raise ValueError(
                f"classifier.metric must be one of {CLASSIFIER_METRICS}, got {self.metric!r}"
            )
        if not self.probe_l2 or any(v < 0 for v in self.probe_l2):
            raise ValueError(f"classifier.probe_l2 must be non-empty and >= 0: {self.probe_l2}")
        if self.contrastive_steps < 0 or self.contrastive_batch < 2:
            raise ValueError(
                "classifier.contrastive_steps must be >= 0 and contrastive_batch >= 2, got "
                f"{self.contrastive_steps} and {self.contrastive_batch}"
            )
        if self.contrastive_per_class != 0 and not (
            2 <= self.contrastive_per_class <= self.contrastive_batch
        ):
            raise ValueError(
                "classifier.contrastive_per_class must be 0 or in [2, contrastive_batch "
                f"{self.contrastive_batch}], got {self.contrastive_per_class}"
            )
        if self.contrastive_lr <= 0 or self.contrastive_temperature <= 0:
            raise ValueError(
                "classifier.contrastive_lr and contrastive_temperature must be > 0, got "
                f"{self.contrastive_lr:g} and {self.contrastive_temperature:g}"
            )
        if self.evals_per_epoch < 1:
            raise ValueError(f"classifier.evals_per_epoch must be >= 1, got {self.evals_per_epoch}")
        problem = (
            self_training_problem(
                self.self_training_rounds, self.self_training_share, self.self_training_pool
            )
            or wise_problem(self.wise_alphas)
            or pseudo_label_problem(self.pseudo_label_share)
            or soup_problem(self.soup_size)
        )
        if problem:
            raise ValueError(f"classifier.{problem}")
        probe_full_only = [
            name
            for name, on in (
                ("wise_alphas", bool(self.wise_alphas)),
                ("pseudo_label_share", self.pseudo_label_share > 0),
                ("soup_size", self.soup_size > 1),
                ("contrastive_first", self.contrastive_first),
            )
            if on
        ]
        if probe_full_only and self.mode != "probe_full":
            # Each refines LP-FT's fine-tune; another mode would silently ignore it.
            raise ValueError(
                f"classifier.{probe_full_only[0]} applies to mode 'probe_full' only, got mode "
                f"{self.mode!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RecommenderConfig:
    """How the behaviour tower is fine-tuned into a next-item recommender.

    attention "bidirectional" (BERT4Rec, as pretraining trained the tower): every step
    shows each sampled user's training sequence cut at a random point: the items before
    the cut, then MASK, whose state must score the item after the cut highest among the
    whole catalogue. cloze_prob additionally masks earlier positions, which gives more
    targets per sequence for the same encoder pass.
    attention "causal" (SASRec): each step shows a window of each sampled sequence, as
    long as max_len allows, and every position of it predicts the item that follows (one
    target per position rather than one per window); cloze_prob does not apply.
    id_dropout: the share of warm items whose id part and bias each training step leaves
    out, so that content alone must score them, as it scores a cold item (DropoutNet).
    """

    epochs: int = 30
    max_steps: int | None = None
    min_steps: int = 0
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    cloze_prob: float = 0.15
    attention: str = "bidirectional"
    id_dropout: float = 0.0
    loss: str = "full_softmax"
    n_sampled: int = 256  # negatives per step for sampled_softmax, shared by the batch
    patience: int = 4
    metric: str = "ndcg@10"
    exclude_seen: bool = True  # drop the history's items from the candidates
    max_len: int | None = None  # history window + 1 (the MASK); None: the tower's max_len
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        _check_common("recommender", dataclasses.asdict(self))
        if self.loss not in LOSSES:
            raise ValueError(f"recommender.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"recommender.attention must be one of {ATTENTIONS}, got {self.attention!r}"
            )
        if self.metric not in RANKING_METRICS:
            raise ValueError(
                f"recommender.metric must be one of {RANKING_METRICS}, got {self.metric!r}"
            )
        if not 0.0 <= self.cloze_prob < 1.0:
            raise ValueError(f"recommender.cloze_prob must be in [0, 1), got {self.cloze_prob}")
        if self.n_sampled < 1:
            raise ValueError(f"recommender.n_sampled must be >= 1, got {self.n_sampled}")
        if not 0.0 <= self.id_dropout < 1.0:
            raise ValueError(f"recommender.id_dropout must be in [0, 1), got {self.id_dropout}")
        if self.max_len is not None and self.max_len < 2:
            raise ValueError(f"recommender.max_len must be >= 2, got {self.max_len}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

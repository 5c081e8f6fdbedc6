"""Settings of the two text applications (intent, sentiment).

Plain frozen dataclasses in a module that imports no numerical library, so the run
configuration (karpa.config) can check them when a run is resolved."""

from __future__ import annotations

from dataclasses import dataclass, field

from karpa.config_input import did_you_mean
from karpa_models.finetune.config import (
    MODES,
    ClassifierConfig,
    pseudo_label_problem,
    self_training_problem,
    soup_problem,
    wise_problem,
)
from karpa_models.finetune.privacy_config import PrivacyConfig

# curve_mode "auto": every mode of curve_candidates is fitted on each k-shot subset and
# the best on validation is the point's model (karpa/applications/curve_modes.py).
AUTO = "auto"
CURVE_MODES = (AUTO, *MODES)


@dataclass(frozen=True)
class TextAppConfig:
    """Fine-tuning and evaluation settings shared by intent and sentiment.

    The headline models train on the full labeled train set with `mode`; the learning
    curve trains one model per k-shot subset with `curve_mode`: one of the modes, or
    "auto" (the default), which fits every mode of curve_candidates and keeps the best on
    validation per encoder and k (curve_modes.py).
    """

    mode: str = "full"
    epochs: int = 3
    max_steps: int | None = 150
    min_steps: int = 40
    batch_size: int = 32
    lr: float = 2e-3
    encoder_lr_scale: float = 0.25
    weight_decay: float = 0.01
    patience: int = 2
    evals_per_epoch: int = 2
    class_weighting: bool = False
    max_len: int | None = None
    # Recompute each encoder block's activations in the backward pass of every fine-tune
    # that trains the encoder (the headline, the curve's full and contrastive recipes, the
    # joint multi-task fine-tune): the same updates for less peak memory and about a third
    # more time per step (README, Performance: bench/finetune_memory.py).
    activation_checkpointing: bool = False
    curve_mode: str = AUTO
    curve_epochs: int = 10  # the curve's minibatch settings apply when curve_mode is full
    curve_min_steps: int = 60
    curve_lr: float | None = None  # None: lr
    # curve_mode auto: the recipes tried at each k, in the order ties are broken (the
    # cheapest first).
    curve_candidates: tuple[str, ...] = ("linear_probe", "contrastive_probe", "full")
    # contrastive_probe (SetFit-style, karpa_models/finetune/contrastive.py): tuning steps
    # on the labeled texts before the probe, and their learning rate.
    contrastive_steps: int = 40
    contrastive_lr: float = 3e-4
    # Texts per class in each contrastive batch (classifier.contrastive_per_class; 0: a
    # uniform draw of 64 texts).
    contrastive_per_class: int = 0
    # The supervised contrastive loss's temperature (classifier.contrastive_temperature):
    # lower sharpens how hard each text is pulled from the nearest other classes.
    contrastive_temperature: float = 0.1
    # probe_full (LP-FT): the head's and the encoder's learning rates. Lower than full's:
    # the head starts as the fitted probe, and a pretrained start's features are what it
    # fits. encoder_lr_scale does not apply: it is the ratio for a fresh head, and the
    # gentle 0.025 a pretrained start wants with one (README, "Running on your own data")
    # would leave this encoder all but frozen. Chosen on validation, head 1e-4 / encoder
    # 2.5e-5 against 3e-4 / 7.5e-5 (README, "Few labels: LP-FT from a pretrained start").
    probe_full_lr: float = 1e-4
    probe_full_encoder_lr: float = 2.5e-5
    # probe_full: a weight-space ensemble of the fine-tune with its probe-started start
    # (WiSE-FT; karpa_models/finetune/wise.py) at each of these mixing weights, the best
    # on validation kept, the fine-tune as it is among them; empty: none.
    probe_full_wise: tuple[float, ...] = ()
    # probe_full: the share of each class's unlabeled training texts, as the chosen probe
    # labels them (the most confident first), that the fine-tune trains on beside the
    # labeled ones (0: none; karpa_models' pseudo_label_share).
    probe_full_pseudo: float = 0.0
    # probe_full: this many fine-tunes (seeds seed, seed + 1, ...) made one model, the
    # greedy soup of their weights on validation (karpa_models/finetune/soup.py); about
    # this many times the training time, one model's at inference; 1: a single fine-tune.
    probe_full_soup: int = 1
    # probe_full: tune the encoder with the contrastive_probe's supervised contrastive loss
    # (contrastive_steps at contrastive_lr) before its probe and fine-tune (CPFT-style).
    probe_full_contrastive: bool = False
    # Probes (linear_probe, contrastive_probe) fit on L2-normalised vectors; with a few
    # labels per class this beat standardised ones on validation (probe.py).
    probe_normalize: bool = True
    # The weak end is for a strong pretrained encoder: on frozen MiniLM vectors of Banking77's
    # 10-shot subsets validation chose 1e-6 or 1e-5 on three of five (bench/probe_grid.py).
    probe_l2: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2)
    # Probes self-train on the table's training-split texts, read without labels
    # (karpa_models/finetune/self_training.py): refits after the plain probe (0: off; the
    # round kept is the best by the application's validation metric, the plain probe
    # included), the share of each predicted class's texts added per round (round r adds
    # the most confident r * share), and the most texts read (a seeded sample). Chosen on
    # validation (README, "Few labels").
    self_training_rounds: int = 3
    self_training_share: float = 0.33
    self_training_pool: int = 4000
    k_shots: tuple[int, ...] | None = None  # None: every k in fewshot.parquet
    seeds: tuple[int, ...] | None = (0,)  # k-shot subset seeds; None: all there are
    run_scratch: bool = True
    run_baselines: bool = True
    n_resamples: int = 1000
    curve_resamples: int = 200
    confidence: float = 0.95
    max_test_examples: int | None = 2000
    preset: str = "tiny"  # the architecture when no foundation checkpoint is given
    device: str = "auto"
    seed: int = 0
    # DP-SGD for the headline fine-tune (the model that is served); the learning curve's
    # probes stay non-private: they measure pretraining, and are not served.
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    # Robustness slices (karpa/evaluation/perturb.py): the main model on a seeded sample of
    # at most this many test texts, clean and perturbed (0: none); the perturbations to
    # apply (None: all of them).
    robustness_sample: int = 300
    robustness_perturbations: tuple[str, ...] | None = None

    # Explanations (karpa/applications/text_explain.py): test texts in the deletion test
    # (0: no explanations in evaluation), integrated-gradients steps, the largest number of
    # tokens removed, labeled training examples kept for nearest-example answers, and
    # correct and wrong test predictions shown (each) in the model card.
    explain_examples: int = 64
    explain_steps: int = 32
    deletion_max_k: int = 5
    neighbour_examples: int = 5000
    card_explanations: int = 3

    def __post_init__(self) -> None:
        if self.curve_mode not in CURVE_MODES:
            raise ValueError(
                f"curve_mode must be one of {', '.join(CURVE_MODES)}, got "
                f"{self.curve_mode!r}{did_you_mean(self.curve_mode, CURVE_MODES)}"
            )
        wrong = [m for m in self.curve_candidates if m not in MODES]
        if wrong or not self.curve_candidates:
            raise ValueError(
                f"curve_candidates must be a non-empty list of {', '.join(MODES)}, got "
                f"{list(self.curve_candidates)}" + (did_you_mean(wrong[0], MODES) if wrong else "")
            )
        bounds = {
            "explain_examples": (0, 10_000),
            "explain_steps": (2, 512),
            "deletion_max_k": (1, 50),
            "neighbour_examples": (0, 1_000_000),
            "card_explanations": (0, 50),
        }
        for key, (low, high) in bounds.items():
            value = getattr(self, key)
            if not low <= value <= high:
                raise ValueError(f"{key} must be between {low} and {high}, got {value}")
        for key in ("probe_full_lr", "probe_full_encoder_lr"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)}")
        problem = (
            self_training_problem(
                self.self_training_rounds, self.self_training_share, self.self_training_pool
            )
            or wise_problem(self.probe_full_wise, "probe_full_wise")
            or pseudo_label_problem(self.probe_full_pseudo, "probe_full_pseudo")
            or soup_problem(self.probe_full_soup, "probe_full_soup")
        )
        if problem:
            raise ValueError(problem)
        if not 0 <= self.robustness_sample <= 100_000:
            raise ValueError(
                f"robustness_sample must be within [0, 100000], got {self.robustness_sample}"
            )
        if self.robustness_perturbations is not None:
            from karpa.evaluation.perturb import TEXT_PERTURBATIONS

            unknown = [p for p in self.robustness_perturbations if p not in TEXT_PERTURBATIONS]
            if unknown or not self.robustness_perturbations:
                raise ValueError(
                    f"robustness_perturbations must be a non-empty list of "
                    f"{', '.join(TEXT_PERTURBATIONS)}; got {list(self.robustness_perturbations)}"
                )

    def _lr(self, curve: bool, mode: str) -> float:
        if mode == "probe_full":
            return self.probe_full_lr
        return (self.curve_lr or self.lr) if curve else self.lr

    def classifier(self, curve: bool = False, mode: str | None = None) -> ClassifierConfig:
        """The fine-tuning recipe of the headline models, or of the learning-curve runs
        (with `mode` instead of curve_mode: a candidate of curve_mode auto, whose other
        settings are the same for every mode; auto alone gives the full recipe)."""
        if mode is None:
            mode = self.curve_mode if curve else self.mode
        return ClassifierConfig(
            mode="full" if mode == AUTO else mode,
            epochs=self.curve_epochs if curve else self.epochs,
            max_steps=None if curve else self.max_steps,
            min_steps=self.curve_min_steps if curve else self.min_steps,
            batch_size=self.batch_size,
            lr=self._lr(curve, mode),
            encoder_lr_scale=(
                self.probe_full_encoder_lr / self.probe_full_lr
                if mode == "probe_full"
                else self.encoder_lr_scale
            ),
            weight_decay=self.weight_decay,
            patience=self.patience,
            evals_per_epoch=1 if curve else self.evals_per_epoch,
            class_weighting=self.class_weighting,
            max_len=self.max_len,
            activation_checkpointing=self.activation_checkpointing,
            contrastive_steps=self.contrastive_steps,
            contrastive_lr=self.contrastive_lr,
            contrastive_per_class=self.contrastive_per_class,
            contrastive_temperature=self.contrastive_temperature,
            probe_normalize=self.probe_normalize,
            probe_l2=self.probe_l2,
            self_training_rounds=self.self_training_rounds,
            self_training_share=self.self_training_share,
            self_training_pool=self.self_training_pool,
            wise_alphas=self.probe_full_wise if mode == "probe_full" else (),
            pseudo_label_share=self.probe_full_pseudo if mode == "probe_full" else 0.0,
            soup_size=self.probe_full_soup if mode == "probe_full" else 1,
            contrastive_first=self.probe_full_contrastive and mode == "probe_full",
            seed=self.seed,
            device=self.device,
            privacy=PrivacyConfig() if curve else self.privacy,
        )


@dataclass(frozen=True)
class IntentConfig(TextAppConfig):
    oos_label: str = "oos"
    threshold_criterion: str = "macro_f1"  # or "balanced" (choose_oos_threshold)
    length_edges: tuple[int, ...] = (5, 10, 20, 40)  # message-length slice buckets (words)
    # Cross-domain mode (karpa/applications/cross_domain.py): intent families, domain ->
    # intents; with holdout_domain set, one more model trains without that domain and the
    # report gives in-domain accuracy and the out-of-scope recall on the unseen domain.
    domains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    holdout_domain: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        owner: dict[str, str] = {}
        for domain, intents in self.domains.items():
            if not intents:
                raise ValueError(f"domains.{domain} must list at least one intent")
            if self.oos_label in intents:
                raise ValueError(f"domains.{domain}: {self.oos_label!r} is not an intent")
            for intent in intents:
                if intent in owner and owner[intent] != domain:
                    raise ValueError(
                        f"domains: {intent!r} is in both {owner[intent]!r} and {domain!r}"
                    )
                owner[intent] = domain
        if self.holdout_domain is not None and self.holdout_domain not in self.domains:
            known = ", ".join(self.domains) or "none: set intent.domains first"
            raise ValueError(
                f"holdout_domain {self.holdout_domain!r} is not one of the domains ({known})"
            )


@dataclass(frozen=True)
class SentimentConfig(TextAppConfig):
    class_weighting: bool = True


# A pretrained start's settings: karpa/config_start.py fills them in where a run with
# `pretrain.text_init` sets none, so a user who names a start gets what the README's
# pretrained-start rows measured. Both applications fine-tune the encoder at 0.025 x the
# head's rate (5e-5, the top of BERT's recommended 2e-5..5e-5; 0.25, 5e-4, is for
# random-init towers), as every MiniLM and MPNet row of bench/quality.py and bench/lp_ft.py
# does (a convention, not searched). Intent's learning curve also tries LP-FT, after
# contrastive tuning at 3e-5 (3e-4 is for random-init towers): chosen on Banking77's
# 10-shot validation ("Few labels: LP-FT from a pretrained start"). Sentiment's curve was
# not measured with a start, so it keeps its own settings.
PRETRAINED_START: dict[str, dict[str, object]] = {
    "intent": {
        "encoder_lr_scale": 0.025,
        "curve_candidates": ("linear_probe", "contrastive_probe", "full", "probe_full"),
        "probe_full_contrastive": True,
        "contrastive_lr": 3e-5,
    },
    "sentiment": {"encoder_lr_scale": 0.025},
}

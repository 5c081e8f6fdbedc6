"""Settings of the recommendation application.

A plain frozen dataclass in a module that imports no numerical library, so the run
configuration (karpa.config) can check it when a run is resolved."""

from __future__ import annotations

from dataclasses import dataclass

from karpa_models.finetune.config import RecommenderConfig


@dataclass(frozen=True)
class RecommendationConfig:
    """Fine-tuning and evaluation settings of the recommender (defaults: the tiny preset
    on the demo world in well under a minute of fine-tuning per model on 2 CPU cores)."""

    epochs: int = 8
    max_steps: int | None = None
    batch_size: int = 32  # on the demo world, more small steps beat fewer large ones
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    cloze_prob: float = 0.3  # bidirectional attention only
    # "causal" (SASRec: every position of a window predicts the next item) or
    # "bidirectional" (BERT4Rec, as pretraining trained the behaviour tower). Causal won on
    # validation users on both the demo world and MovieLens (bench/rec_recipe.py; README,
    # "The demo world's recommender, on validation").
    attention: str = "causal"
    # Each training step scores this share of the warm items by content alone (their id
    # part and bias left out), as a cold item is scored (DropoutNet).
    id_dropout: float = 0.0
    loss: str = "full_softmax"  # or "sampled_softmax"
    n_sampled: int = 256
    patience: int = 3
    metric: str = "ndcg@10"  # early stopping on validation
    exclude_seen: bool = True  # history items leave the candidates (for every model)
    max_len: int | None = None
    use_pretrained_head: bool = True  # start from pretraining's masked-item decoder
    n_negatives: int = 100  # the sampled protocol
    negatives_seed: int = 0
    knn_neighbors: int = 100
    ease_l2: float = 500.0
    run_scratch: bool = True
    run_baselines: bool = True
    n_resamples: int = 1000
    confidence: float = 0.95
    max_test_users: int | None = None
    max_val_users: int | None = 500  # early stopping reads a seeded sample of them
    history_edges: tuple[int, ...] = (2, 5, 10, 20)
    # The hybrid (the served model): the sequence model blended with EASE, each z-scored per
    # user; one sequence weight per history-length bucket, chosen on validation users.
    hybrid: bool = True
    blend_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    blend_history_edges: tuple[int, ...] = (4, 20)  # buckets <=4 (short), 5-20, >20
    blend_min_users: int = 100  # a smaller validation bucket takes the overall weight
    # The blend is chosen on this share of the validation users, which early stopping
    # never reads: on the users that picked the sequence model's checkpoint its figure is
    # the best of many evaluations (MovieLens seed 0: 0.070 there, 0.044 on the test
    # users) and a blend chosen there gave it all the weight.
    blend_share: float = 0.5
    cold_below: int = 5  # items with fewer training interactions are cold (slices, blend)
    # The content ablation: the pretrained sequence model once more, same seed, with the
    # items' content vectors zeroed (ids only); reported as "pretrained_ids_only".
    content_ablation: bool = False
    preset: str = "tiny"  # the architecture when no foundation checkpoint is given
    device: str = "auto"
    seed: int = 0
    # Robustness slices: the main model on a seeded sample of at most this many test users,
    # with one history item dropped and with the history shuffled (0: none).
    robustness_users: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.blend_share < 1:
            raise ValueError(
                f"blend_share must be within (0, 1): early stopping and the blend each "
                f"need validation users of their own, got {self.blend_share}"
            )
        if not 0 <= self.robustness_users <= 1_000_000:
            raise ValueError(
                f"robustness_users must be within [0, 1000000], got {self.robustness_users}"
            )

    def recommender(self) -> RecommenderConfig:
        return RecommenderConfig(
            epochs=self.epochs,
            max_steps=self.max_steps,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_ratio=self.warmup_ratio,
            cloze_prob=self.cloze_prob,
            attention=self.attention,
            id_dropout=self.id_dropout,
            loss=self.loss,
            n_sampled=self.n_sampled,
            patience=self.patience,
            metric=self.metric,
            exclude_seen=self.exclude_seen,
            max_len=self.max_len,
            seed=self.seed,
            device=self.device,
        )

"""One recommender's test scores under both candidate protocols: what recommendation.py
ranks and rec_report.py reports (a module of its own, so the two do not import each other)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from karpa.evaluation.ranking import RankingEvaluation
from karpa_models.finetune.hybrid import HybridRecommender
from karpa_models.finetune.predictors import FineTunedRecommender


@dataclass
class RankedModel:
    """One model's test scores evaluated under both protocols."""

    name: str
    kind: str  # "model" | "ablation" | "baseline"
    full: RankingEvaluation
    sampled: RankingEvaluation
    recommender: FineTunedRecommender | HybridRecommender | None = None
    train_info: dict[str, Any] | None = None

    def metrics(self) -> dict[str, float]:
        out = dict(self.full.metrics)
        out.update(
            {
                f"sampled{self.sampled.protocol['n_negatives']}/{k}": v
                for k, v in self.sampled.metrics.items()
            }
        )
        return out

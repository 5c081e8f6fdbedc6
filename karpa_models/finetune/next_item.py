"""`train_recommender`: fine-tune the behaviour tower for next-item prediction, with early
stopping on validation NDCG@10 / HR@10 under full ranking (karpa.evaluation.ranking)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch.optim.lr_scheduler import LambdaLR

from karpa_models.finetune.catalogue import ItemCatalogue, item_content, warm_items
from karpa_models.finetune.config import RecommenderConfig
from karpa_models.finetune.loop import (
    EarlyStopping,
    MetricsCallback,
    check_finite,
    steps_plan,
)
from karpa_models.finetune.predictors import FineTunedRecommender
from karpa_models.finetune.recommender import NextItemRecommender, build_recommender
from karpa_models.finetune.sequences import (
    causal_batch,
    draw_cuts,
    draw_window_ends,
    length_grouped,
    next_item_batch,
)
from karpa_models.model import FoundationModel
from karpa_models.optim import adamw, seed_everything, warmup_cosine
from karpa_models.progress import Progress
from karpa_models.runtime import Runtime, init_runtime

logger = logging.getLogger(__name__)


# The caller's ranking metrics (karpa.evaluation.ranking.validation_metrics): metrics are
# defined once, in evaluation, and this package imports nothing of the project's.
# (scores (U, n_items), targets (U,), seen histories or None) -> {"ndcg@10": ..., ...}
RankingMetrics = Callable[
    [np.ndarray, np.ndarray, Sequence[Sequence[int]] | None], dict[str, float]
]


def ranking_metric(
    model: NextItemRecommender,
    histories: Sequence[Sequence[int]],
    targets: np.ndarray,
    max_len: int,
    runtime: Runtime,
    exclude_seen: bool,
    metrics: RankingMetrics,
) -> dict[str, float]:
    """The validation users' ranking metrics under full ranking of the catalogue."""
    scores = model.score_histories(histories, max_len, runtime)  # (U, n_items)
    return metrics(scores, targets, histories if exclude_seen else None)


def train_recommender(
    foundation: FoundationModel,
    tokenizer: Tokenizer,
    catalogue: ItemCatalogue,
    train_sequences: Sequence[Sequence[int]],
    val_histories: Sequence[Sequence[int]],
    val_targets: Sequence[int],
    cfg: RecommenderConfig,
    decoder_state: dict[str, Any] | None = None,
    on_metrics: MetricsCallback | None = None,
    name: str = "recommender",
    *,
    val_metrics: RankingMetrics,
    use_content: bool = True,
) -> FineTunedRecommender:
    """Fine-tune a next-item recommender from the foundation's behaviour tower.

    catalogue: the items the foundation was pretrained on, in its index order.
    train_sequences: chronological item indices per user (training period only); sequences
    of one item only mark their item as warm. val_histories / val_targets: the validation
    users' histories and held-out next items, for early stopping on `cfg.metric`.
    decoder_state: a pretrained masked-item decoder (`pretrained_item_decoder`) to start
    the head from. val_metrics: how a validation ranking is measured (early stopping
    reads `cfg.metric` from it). use_content=False zeroes the items' content vectors (the
    ids-only ablation: a cold item then has nothing to score by). The foundation is not
    changed.
    """
    started = time.perf_counter()
    seed_everything(cfg.seed)
    runtime = init_runtime(cfg.device, cfg.precision)
    if foundation.behaviour is None:
        raise ValueError(f"{name}: the foundation has no behaviour tower (n_items is 0)")
    n_items = foundation.behaviour.n_items
    if len(catalogue) != n_items:
        raise ValueError(
            f"{name}: the catalogue has {len(catalogue)} items, the foundation was built "
            f"for {n_items}: fine-tune on the catalogue it was pretrained on"
        )
    seqs = [np.asarray(s, dtype=np.int64) for s in train_sequences]
    trainable = [s for s in seqs if len(s) >= 2]
    if not trainable:
        raise ValueError(f"{name}: no training sequence has two or more items")
    val_targets = np.asarray(val_targets, dtype=np.int64)
    if len(val_targets) == 0 or len(val_targets) != len(val_histories):
        raise ValueError(f"{name}: need one validation target per validation history (> 0)")
    max_len = min(cfg.max_len or foundation.behaviour.max_len, foundation.behaviour.max_len)

    content = item_content(foundation, tokenizer, catalogue, runtime)  # (n, D)
    if not use_content:
        content = torch.zeros_like(content)
    warm = warm_items(seqs, n_items)
    causal = cfg.attention == "causal"
    model = build_recommender(
        foundation.behaviour, content, warm, decoder_state, causal, cfg.id_dropout
    )
    model.to(runtime.device)
    total = steps_plan(len(trainable), cfg.batch_size, cfg.epochs, cfg.min_steps, cfg.max_steps)
    opt = adamw([(model.parameters(), cfg.lr)], cfg.weight_decay, runtime.device)
    sched = LambdaLR(opt, warmup_cosine(total, int(cfg.warmup_ratio * total), cfg.min_lr_ratio))
    n_sampled = cfg.n_sampled if cfg.loss == "sampled_softmax" else None
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    stopper = EarlyStopping(cfg.patience)
    val_histories = [list(h) for h in val_histories]
    step, stopped, losses = 0, False, []
    progress = Progress(f"{name} fine-tune", total, every=max(1, total // 4), logger=logger)
    while step < total and not stopped:
        # A cut is the (last) target: the item after a random history (bidirectional), the
        # end of a full-length window (causal).
        cuts = draw_window_ends(trainable, max_len, rng) if causal else draw_cuts(trainable, rng)
        windows = np.minimum(cuts, max_len - 1)
        for rows in length_grouped(windows, cfg.batch_size, rng):
            picked = [trainable[r] for r in rows]
            if causal:
                batch = causal_batch(picked, cuts[rows], max_len, n_items)
            else:
                batch = next_item_batch(picked, cuts[rows], max_len, n_items, cfg.cloze_prob, rng)
            items, mask, labels = (torch.from_numpy(a).to(runtime.device) for a in batch)
            model.train()
            with runtime.autocast():
                loss = model.loss(items, mask, labels, n_sampled, generator)
            losses.append(check_finite(loss, step + 1, name))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            progress.update(step)
            if step >= total:
                break
        metrics = ranking_metric(
            model, val_histories, val_targets, max_len, runtime, cfg.exclude_seen, val_metrics
        )
        stopped = stopper.update(metrics[cfg.metric], step, model)
        progress.detail = f"val {cfg.metric} {metrics[cfg.metric]:.4f}"
        if on_metrics is not None:
            # "@" is not allowed in tracker metric names (MLflow): ndcg@10 -> ndcg_at_10.
            report = {f"{name}/val_{k.replace('@', '_at_')}": v for k, v in metrics.items()}
            report[f"{name}/train_loss"] = float(np.mean(losses))
            report[f"{name}/lr"] = opt.param_groups[0]["lr"]
            on_metrics(report, step)
        losses = []
    opt.zero_grad(set_to_none=True)  # the model is kept, its last gradients need not be
    stopper.restore(model)
    model.eval()
    seconds = time.perf_counter() - started
    logger.info(
        "%s: %d steps in %.1fs, best val %s %.4f at step %d (%d warm of %d items)",
        name,
        step,
        seconds,
        cfg.metric,
        stopper.best,
        stopper.best_step,
        int(warm.sum()),
        n_items,
    )
    info = {
        "steps": step,
        "planned_steps": total,
        "best_step": stopper.best_step,
        f"best_val_{cfg.metric}": stopper.best,
        "early_stopped": stopped,
        "n_train_sequences": len(trainable),
        "n_val_users": len(val_targets),
        "warm_items": int(warm.sum()),
        "seconds": seconds,
        "history": stopper.history,
    }
    return FineTunedRecommender(
        model=model,
        model_config=foundation.cfg,
        item_ids=list(catalogue.item_ids),
        max_len=max_len,
        runtime=runtime,
        exclude_seen=cfg.exclude_seen,
        train_info=info,
    )

"""Text classification from the foundation's text tower.

TextClassifier: text tower -> mean-pooled sentence vector (B, C) -> dropout -> linear head.
`train_classifier` fine-tunes it. "full": everything trains, the encoder at a lower
learning rate, with AdamW, warmup and cosine decay, and early stopping on a validation
metric that restores the best weights. "linear_probe": the encoder is frozen, its
features are computed once and the head is a logistic regression on them (probe.py).
"contrastive_probe": the encoder copy is first tuned on the labeled texts with a
supervised contrastive loss (contrastive.py), then probed the same way. "probe_full"
(LP-FT): the linear probe on the frozen encoder becomes the head's start, then everything
trains as in "full" (with cfg.contrastive_first, after the contrastive tuning above:
CPFT-style). Given unlabeled texts and cfg.self_training_rounds, every probe
self-trains on them (self_training.py); with cfg.pseudo_label_share, probe_full's
fine-tune then trains on the labeled texts and the chosen probe's most confident
pseudo-labeled ones (the whole model self-trains too); with cfg.soup_size K > 1, K
probe_full fine-tunes (seeds cfg.seed .. + K - 1) become one model, the greedy soup of
their weights (soup.py).
All take optional inverse-frequency class weights.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn

from karpa_models.finetune.config import ClassifierConfig
from karpa_models.finetune.contrastive import contrastive_tune
from karpa_models.finetune.full import FullFineTune, train_full, val_metric, val_predict
from karpa_models.finetune.loop import MetricsCallback
from karpa_models.finetune.predictors import FineTunedClassifier
from karpa_models.finetune.probe import fit_linear_probe
from karpa_models.finetune.self_training import confident_rows, probe_probs, self_train_probe
from karpa_models.finetune.soup import greedy_soup
from karpa_models.finetune.text import TextFeatures, encode, pooled
from karpa_models.finetune.wise import choose_mix, snapshot
from karpa_models.layers import activation_checkpointing, init_weights
from karpa_models.model import FoundationModel
from karpa_models.optim import seed_everything
from karpa_models.runtime import Runtime, init_runtime

logger = logging.getLogger(__name__)

PROBES = ("linear_probe", "contrastive_probe")  # the modes whose encoder stays frozen


class TextClassifier(nn.Module):
    """ids (B, T) int64, mask (B, T) bool -> logits (B, n_classes)."""

    def __init__(
        self, text: nn.Module, n_classes: int, dropout: float = 0.1, normalize: bool = False
    ):
        super().__init__()
        self.text = text
        self.normalize = normalize  # the head reads L2-normalised vectors (probe_normalize)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(text.width, n_classes)
        init_weights(self.head)

    def head_input(self, vectors: Tensor) -> Tensor:
        """Pooled vectors (B, C) as the head reads them."""
        return F.normalize(vectors, dim=-1) if self.normalize else vectors

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        vectors = self.head_input(pooled(self.text, ids, mask))  # (B, C)
        return self.head(self.drop(vectors))  # (B, n_classes)


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights n / (C * n_c), so every class carries the same total loss.
    A class absent from y gets the weight of a class seen once."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return (len(y) / (n_classes * np.maximum(counts, 1.0))).astype(np.float32)


def in_scope(
    texts: Sequence[str], labels: Sequence[str], classes: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """The texts whose label is one of `classes` (validation's out-of-scope examples left
    out of early stopping) -> (texts, (n,) class indices in `classes` order)."""
    position = {c: i for i, c in enumerate(classes)}
    keep = [i for i, y in enumerate(labels) if str(y) in position]
    y = np.array([position[str(labels[i])] for i in keep], dtype=np.int64)
    return [texts[i] for i in keep], y


def train_classifier(
    foundation: FoundationModel,
    tokenizer: Tokenizer,
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    cfg: ClassifierConfig,
    classes: Sequence[str] | None = None,
    features: TextFeatures | None = None,
    on_metrics: MetricsCallback | None = None,
    name: str = "classifier",
    unlabeled_texts: Sequence[str] = (),
    val_score: Callable[[np.ndarray], float] | None = None,
) -> FineTunedClassifier:
    """Fine-tune a classifier head (and, in full mode, the encoder) on labeled texts.

    The foundation is not changed: its text tower is copied. classes: column order of the
    probabilities (default: sorted train labels). Validation examples whose label is not
    one of `classes` (out-of-scope) are left out of early stopping. features: frozen
    features of `foundation.text` to reuse (linear_probe, and probe_full's probe).
    on_metrics receives `{name}/train_loss`, `{name}/lr` and `{name}/val_<metric>` with the
    optimiser step.
    unlabeled_texts: texts of the same kind without labels, which a probe self-trains on
    (cfg.self_training_*; the training and validation texts among them are left out).
    val_score: (len(val_texts), C) probabilities of every validation text -> the figure a
    self-training probe keeps its round by (an application's own metric, out-of-scope
    examples included); default: cfg.metric on the in-scope validation examples.
    """
    if cfg.mode == "probe_full" and cfg.soup_size > 1:

        def fine_tune(seed: int, member: str) -> FineTunedClassifier:
            one = dataclasses.replace(cfg, seed=seed, soup_size=1)
            texts = (train_texts, train_labels, val_texts, val_labels)
            return train_classifier(
                foundation, tokenizer, *texts, one, classes, features, on_metrics, member,
                unlabeled_texts, val_score,
            )  # fmt: skip

        return _souped(fine_tune, val_texts, val_labels, cfg, name)
    started = time.perf_counter()
    seed_everything(cfg.seed)
    runtime = init_runtime(cfg.device, cfg.precision)
    classes = sorted(set(map(str, train_labels))) if classes is None else list(map(str, classes))
    if len(classes) < 2:
        raise ValueError(f"{name}: a classifier needs at least two classes, got {classes}")
    position = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(map(str, train_labels)) - set(classes))
    if unknown:
        raise ValueError(f"{name}: train labels {unknown} are not among the classes {classes}")
    y_train = np.array([position[str(y)] for y in train_labels], dtype=np.int64)
    val_x, y_val = in_scope(val_texts, val_labels, classes)
    if not val_x:
        raise ValueError(f"{name}: no validation example has one of the classes {classes}")
    max_len = min(cfg.max_len or foundation.text.max_len, foundation.text.max_len)

    text = copy.deepcopy(foundation.text)
    # Every mode but full fits a probe on the frozen encoder; its head reads what the probe
    # read (normalised vectors), also while probe_full then trains it.
    with_probe = cfg.mode != "full"
    model = TextClassifier(
        text, len(classes), cfg.head_dropout, normalize=with_probe and cfg.probe_normalize
    ).to(runtime.device)
    tuned: list[float] = []
    if cfg.mode == "contrastive_probe" or (cfg.mode == "probe_full" and cfg.contrastive_first):
        with activation_checkpointing(model.text, cfg.activation_checkpointing):
            tuned = contrastive_tune(
                model.text, tokenizer, train_texts, y_train, max_len, cfg, runtime, name
            )
        features = None  # the tuned copy's vectors, not the foundation's
    probe: tuple[dict[str, float], dict[str, object], list[str]] | None = None
    if with_probe:
        for p in model.text.parameters():
            p.requires_grad_(False)
        if features is None or features.text is not foundation.text or features.max_len != max_len:
            features = TextFeatures(model.text, tokenizer, max_len, runtime)
        probe = _probe_head(
            model,
            features,
            train_texts,
            y_train,
            val_texts,
            val_x,
            y_val,
            cfg,
            runtime,
            unlabeled_texts,
            val_score,
        )
    if cfg.mode in PROBES:
        chosen, st_info, _ = probe
        info = {
            "steps": len(tuned),
            "best_step": len(tuned),
            f"best_val_{cfg.metric}": chosen["val"],
            "probe_l2": chosen["l2"],
            "contrastive_loss": [tuned[0], tuned[-1]] if tuned else [],
            "early_stopped": False,
            "history": [],
            **st_info,
        }
        if on_metrics is not None:
            on_metrics({f"{name}/val_{cfg.metric}": chosen["val"]}, 0)
    else:
        if cfg.mode == "probe_full":
            # Self-training the whole model: the probe's most confident labels of the
            # unlabeled pool train the encoder too (read before the encoder moves).
            pseudo_texts, pseudo_y = pseudo_labeled(
                model, features, probe[2], cfg.pseudo_label_share
            )
            train_texts = [*train_texts, *pseudo_texts]
            y_train = np.concatenate([y_train, pseudo_y])
            # LP-FT (Kumar et al. 2022): the head starts as the probe just fitted, so the
            # first gradients tune the encoder towards a head that is already right
            # instead of a random one that drags the pretrained features around.
            features = None  # the encoder trains from here: its vectors change
            for p in model.text.parameters():
                p.requires_grad_(True)
        # Class weights of what the fine-tune reads (the pseudo-labeled texts included).
        weights = (
            torch.from_numpy(class_weights(y_train, len(classes))).to(runtime.device)
            if cfg.class_weighting
            else None
        )
        start = snapshot(model) if cfg.mode == "probe_full" and cfg.wise_alphas else None
        job = FullFineTune(
            model=model,
            tokenizer=tokenizer,
            train_texts=train_texts,
            y_train=y_train,
            val_texts=val_x,
            y_val=y_val,
            weights=weights,
            max_len=max_len,
            cfg=cfg,
            runtime=runtime,
            on_metrics=on_metrics,
            name=name,
            validate_first=cfg.mode == "probe_full",
        )
        if cfg.privacy.enabled:
            from karpa_models.finetune.private import train_full_private

            if cfg.activation_checkpointing:
                logger.info(
                    "%s: a DP fine-tune keeps its activations (Opacus records them for "
                    "per-example gradients): no activation checkpointing",
                    name,
                )
            model, info = train_full_private(job)
        else:
            with activation_checkpointing(model.text, cfg.activation_checkpointing):
                info = train_full(job)
        if probe is not None:
            chosen, st_info, _ = probe
            info["probe"] = {"val": chosen["val"], "l2": chosen["l2"], **st_info}
            if tuned:
                info["probe"]["contrastive_loss"] = [tuned[0], tuned[-1]]
            if cfg.pseudo_label_share:
                info["pseudo_labeled"] = {"share": cfg.pseudo_label_share, "added": len(pseudo_y)}
        if start is not None:
            val_enc = encode(tokenizer, val_x, max_len)
            y_val_t = torch.from_numpy(y_val).to(runtime.device)

            def score() -> float:
                pred, _ = val_predict(model, val_enc, y_val_t, weights, runtime)
                return val_metric(y_val, pred, len(classes), cfg.metric)

            info["wise"] = choose_mix(model, start, cfg.wise_alphas, score)
            info[f"best_val_{cfg.metric}"] = info["wise"]["val"]
            del start
    model.eval()
    info.update(
        mode=cfg.mode, n_train=len(y_train), n_val=len(y_val), seconds=time.perf_counter() - started
    )
    logger.info(
        "%s (%s): %d steps in %.1fs, best val %s %.4f",
        name,
        cfg.mode,
        info["steps"],
        info["seconds"],
        cfg.metric,
        info[f"best_val_{cfg.metric}"],
    )
    return FineTunedClassifier(
        model=model,
        tokenizer=tokenizer,
        classes=classes,
        model_config=foundation.cfg,
        max_len=max_len,
        runtime=runtime,
        mode=cfg.mode,
        train_info=info,
        features=features if cfg.mode in PROBES else None,
    )


def _souped(
    fine_tune: Callable[[int, str], FineTunedClassifier],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    cfg: ClassifierConfig,
    name: str,
) -> FineTunedClassifier:
    """cfg.soup_size probe_full fine-tunes (fine_tune(seed, name)), seeds cfg.seed,
    cfg.seed + 1, ..., made one model: the greedy soup of their weights on the validation
    figure early stopping reads (cfg.metric on the in-scope examples). Holds one model and
    the fine-tunes' weights. The first fine-tune's metrics go to `name`'s curves, the
    others' to `name`-seed<seed>; its train_info is returned, with "soup" and the soup's
    validation figure."""
    started = time.perf_counter()
    seeds = [cfg.seed + i for i in range(cfg.soup_size)]
    states, vals, first = [], [], None
    for seed in seeds:
        member = fine_tune(seed, name if seed == cfg.seed else f"{name}-seed{seed}")
        states.append(snapshot(member.model))
        vals.append(member.train_info[f"best_val_{cfg.metric}"])
        if first is None:
            first = member  # holds the soup; the others' weights are kept as states only
    val_x, y_val = in_scope(val_texts, val_labels, first.classes)

    def score() -> float:
        pred = first.predict_proba(val_x).argmax(1)
        return val_metric(y_val, pred, len(first.classes), cfg.metric)

    soup = greedy_soup(first.model, states, vals, score)
    first.model.eval()
    info = first.train_info
    info["soup"] = {
        "seeds": seeds,
        "kept": [seeds[i] for i in soup["kept"]],
        "vals": dict(zip(map(str, seeds), soup["vals"], strict=True)),
    }
    info[f"best_val_{cfg.metric}"] = soup["val"]
    info["seconds"] = time.perf_counter() - started
    return first


def _probe_head(
    model: TextClassifier,
    features: TextFeatures,
    train_texts: Sequence[str],
    y_train: np.ndarray,
    val_texts: Sequence[str],
    val_x: Sequence[str],
    y_val: np.ndarray,
    cfg: ClassifierConfig,
    runtime: Runtime,
    unlabeled_texts: Sequence[str],
    val_score: Callable[[np.ndarray], float] | None,
) -> tuple[dict[str, float], dict[str, object], list[str]]:
    """Fit the linear probe on `features` (self-trained on the unlabeled texts when
    cfg.self_training_rounds is set) and copy it into model.head.
    -> the chosen fit's {"l2", "val", ...}, {"self_training": ...} when it self-trained,
    and the unlabeled pool it read (self_training_pool)."""
    n_classes = model.head.out_features

    def metric(t: np.ndarray, p: np.ndarray) -> float:
        return val_metric(t, p, n_classes, cfg.metric)

    x_val = features(val_x)

    def fit(x: np.ndarray, y: np.ndarray):
        w = (
            torch.from_numpy(class_weights(y, n_classes)).to(runtime.device)
            if cfg.class_weighting
            else None
        )
        return fit_linear_probe(
            x,
            y,
            x_val,
            y_val,
            n_classes,
            metric,
            cfg.probe_l2,
            cfg.probe_max_iter,
            w,
            runtime.device,
            normalize=model.normalize,
        )

    # Validation texts never join the pool: the rounds are chosen on them.
    pool = self_training_pool(unlabeled_texts, [*train_texts, *val_texts], cfg)
    history: list[dict[str, float]] = []
    if pool and cfg.self_training_rounds:
        score = None
        if val_score is not None:
            x_val_all = features(val_texts)

            def score(W: torch.Tensor, b: torch.Tensor) -> float:
                return val_score(probe_probs(x_val_all, W, b, model.normalize))

        W, b, chosen, history = self_train_probe(
            fit,
            features(train_texts),
            y_train,
            features(pool),
            cfg.self_training_rounds,
            cfg.self_training_share,
            model.normalize,
            score,
        )
    else:
        W, b, chosen = fit(features(train_texts), y_train)
    with torch.no_grad():
        model.head.weight.copy_(W)
        model.head.bias.copy_(b)
    st_info: dict[str, object] = {}
    if history:
        st_info["self_training"] = {
            "pool": len(pool),
            "round": chosen["round"],
            "added": chosen["added"],
            "rounds": history,
        }
    return chosen, st_info, pool


def pseudo_labeled(
    model: TextClassifier, features: TextFeatures, pool: Sequence[str], share: float
) -> tuple[list[str], np.ndarray]:
    """The pool texts the probe in model.head labels most confidently, the top `share`
    (rounded up) of those predicted for each class (confident_rows), with those labels
    -> (texts, (n,) class indices). Empty when share is 0 or there is no pool."""
    if not share or not pool:
        return [], np.zeros(0, dtype=np.int64)
    W, b = model.head.weight.detach(), model.head.bias.detach()
    probs = probe_probs(features(pool), W, b, model.normalize)  # (P, K)
    rows = confident_rows(probs, share)
    return [pool[i] for i in rows], probs[rows].argmax(1).astype(np.int64)


def self_training_pool(
    unlabeled: Sequence[str], exclude: Sequence[str], cfg: ClassifierConfig
) -> list[str]:
    """The unlabeled texts a probe self-trains on: at most cfg.self_training_pool distinct
    texts, a sample seeded by cfg.seed that does not depend on the labeled texts (so the
    runs of a learning curve share most of it, and its memoised vectors), less the texts
    in `exclude` (the labeled ones). Empty when neither self-training nor probe_full's
    pseudo-labels read it."""
    reads = cfg.self_training_rounds or (cfg.mode == "probe_full" and cfg.pseudo_label_share)
    if not reads or not cfg.self_training_pool:
        return []
    distinct = list(dict.fromkeys(t for t in unlabeled if t))
    if len(distinct) > cfg.self_training_pool:
        rng = np.random.default_rng(cfg.seed)
        keep = np.sort(rng.choice(len(distinct), cfg.self_training_pool, replace=False))
        distinct = [distinct[i] for i in keep]
    labeled = set(exclude)
    return [t for t in distinct if t not in labeled]

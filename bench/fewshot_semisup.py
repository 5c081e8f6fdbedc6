"""Where is the bar at few labels? Supervised and self-trained classifiers on the demo world.

karpa's claim is that pretraining on the company's unlabeled text makes few-label
applications better than a classic baseline. The fair classic rival of a model that read
the unlabeled text is not only TF-IDF + LR on the labeled examples, but TF-IDF + LR that
reads the unlabeled text too, by self-training (Scudder 1965, Yarowsky 1995): fit on the
k labeled examples per class, label the unlabeled pool, add the most confident
`per_class * round` texts of each predicted class, refit; `rounds` times. This bench prints
both, for TF-IDF and for the foundation's pooled vectors (L2-normalised, the project's
probe), on the validation split only, over fixed k-shot draws from the training split.
The unlabeled pool is the pretraining texts of the application's own table (training
split only: the views keep validation and test texts out of pretraining).

    .venv/bin/python bench/fewshot_semisup.py                       # scale-1 demo, seed 0
    .venv/bin/python bench/fewshot_semisup.py --scale 0.3 --set pretrain.steps=100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_overrides, direct_views, header

from karpa.config import CONFIGS, load_config
from karpa.home import activate

# Which pretraining texts are the unlabeled pool of each labeled table (views' `origin`).
ORIGIN = {"intent": "message", "sentiment": "news"}

Fit = Callable[[Sequence[str], np.ndarray], Callable[[Sequence[str]], np.ndarray]]


def tfidf_fit(texts: Sequence[str], y: np.ndarray) -> Callable[[Sequence[str]], np.ndarray]:
    """The project's TF-IDF + LR baseline, refit on whatever it is given."""
    from karpa.evaluation.baselines import TfidfLogisticRegression

    model = TfidfLogisticRegression().fit(texts, y)
    return lambda t: model.predict_proba(t)


def probe_fit(vectors: dict[str, np.ndarray]) -> Fit:
    """Logistic regression on the foundation's L2-normalised pooled vectors (looked up by
    text: every text was encoded once up front)."""
    from sklearn.linear_model import LogisticRegression

    from karpa_models.checks import PROBE_C

    def fit(texts: Sequence[str], y: np.ndarray) -> Callable[[Sequence[str]], np.ndarray]:
        model = LogisticRegression(C=PROBE_C, max_iter=2000)
        model.fit(np.stack([vectors[t] for t in texts]), y)
        return lambda t: model.predict_proba(np.stack([vectors[s] for s in t]))

    return fit


def self_train(
    fit: Fit,
    texts: list[str],
    y: np.ndarray,
    pool: list[str],
    rounds: int,
    per_class: int,
) -> Callable[[Sequence[str]], np.ndarray]:
    """Fit on (texts, y); then `rounds` times label the pool and refit on the labeled texts
    plus the `per_class * round` most confident pool texts of each predicted class."""
    classes = np.unique(y)
    predict = fit(texts, y)
    for r in range(1, rounds + 1):
        probs = predict(pool)  # (P, C), columns in `classes` order (sklearn sorts them)
        top = probs.argmax(1)
        chosen = []
        for c in range(len(classes)):
            rows = np.flatnonzero(top == c)
            chosen += rows[np.argsort(-probs[rows, c], kind="stable")][: per_class * r].tolist()
        predict = fit(texts + [pool[i] for i in chosen], np.concatenate([y, classes[top[chosen]]]))
    return predict


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="world seed")
    parser.add_argument("--k", type=int, default=10, help="labels per class")
    parser.add_argument("--draws", type=int, default=3, help="k-shot draws to average")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-class", type=int, nargs="+", default=[25, 100])
    parser.add_argument("--pool", type=int, default=4000, help="unlabeled texts (a sample)")
    add_overrides(parser, "pretrain.steps=100")
    args = parser.parse_args()
    command = "python bench/fewshot_semisup.py" + "".join(
        [
            f" --scale {args.scale:g}" if args.scale != 1.0 else "",
            f" --seed {args.seed}" if args.seed else "",
            f" --k {args.k}" if args.k != 10 else "",
            f" --draws {args.draws}" if args.draws != 3 else "",
            f" --rounds {args.rounds}" if args.rounds != 3 else "",
            f" --per-class {' '.join(map(str, args.per_class))}"
            if args.per_class != [25, 100]
            else "",
            f" --pool {args.pool}" if args.pool != 4000 else "",
            "".join(f" --set {s}" for s in args.set),
        ]
    )
    print(header("few labels on the demo world: supervised vs self-trained", command))
    with tempfile.TemporaryDirectory() as tmp:
        activate(Path(tmp) / "home")
        import pandas as pd

        from karpa.demo import generate_world
        from karpa.pretraining.checks_data import probe_data
        from karpa.pretraining.stage import pretrain_foundation
        from karpa.store import Store
        from karpa_models.finetune.text import encode, encode_pooled
        from karpa_models.pretraining import load_foundation
        from karpa_models.runtime import init_runtime

        world = Path(tmp) / "world"
        generate_world(world, scale=args.scale, seed=args.seed)
        overrides = ["pretrain.progress=false", *args.set]
        cfg = load_config(CONFIGS / "demo.yaml", overrides, data_root=str(world))
        store = Store(Path(tmp) / "home" / "store")
        views = direct_views(cfg, store)
        started = time.perf_counter()
        foundation = pretrain_foundation(views, cfg.pretrain, cfg.seed, store)
        print(f"pretraining: {foundation.steps} steps in {time.perf_counter() - started:.0f} s")
        model, _, _ = load_foundation(foundation.checkpoint)
        runtime = init_runtime("cpu")
        texts = pd.read_parquet(Path(views.path) / "pretrain_texts.parquet")

        print(f"\nvalidation accuracy at {args.k} labels per class, mean of {args.draws} draws")
        print(
            "| task | features | supervised | "
            + " | ".join(
                f"self-trained ({n}/class/round, {args.rounds} rounds)" for n in args.per_class
            )
            + " |"
        )
        print("|---|---|---|" + "---|" * len(args.per_class))
        for task, origin in ORIGIN.items():
            data = probe_data(Path(views.path), task, 10**9, cfg.seed)
            if data is None:
                continue
            pool = texts.loc[texts["origin"] == origin, "text"]
            pool = pool.sample(min(args.pool, len(pool)), random_state=0).tolist()
            labels = np.asarray(data.train_labels, dtype=object).astype(str)
            keep = [i for i, y in enumerate(data.val_labels) if y in set(labels)]
            val_texts = [data.val_texts[i] for i in keep]
            val_y = np.asarray([data.val_labels[i] for i in keep], dtype=object).astype(str)
            draws = data.draws(args.k, args.draws)
            every = sorted({*pool, *val_texts, *(data.train_texts[i] for d in draws for i in d)})
            pooled = encode_pooled(
                model.text, encode(model.tokenizer, every, model.text.max_len), runtime
            )
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            vectors = dict(zip(every, pooled, strict=True))
            for name, fit in (("TF-IDF + LR", tfidf_fit), ("foundation probe", probe_fit(vectors))):
                cells = []
                for per_class in [0, *args.per_class]:
                    scores = []
                    for rows in draws:
                        predict = self_train(
                            fit,
                            [data.train_texts[i] for i in rows],
                            labels[rows],
                            pool,
                            args.rounds if per_class else 0,
                            per_class,
                        )
                        classes = np.unique(labels[rows])  # predict_proba's column order
                        pred = classes[predict(val_texts).argmax(1)]
                        scores.append(float(np.mean(pred == val_y)))
                    cells.append(f"{np.mean(scores):.3f}")
                print(f"| {task} | {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

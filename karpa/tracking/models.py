"""MLflow pyfunc models that take raw inputs, and how they are logged.

Each model ships the code it needs (`code_paths`) and its weights as artifacts, so
`mlflow models serve -m models:/<name>@champion` answers real requests in any environment
that has the pinned requirements. Predictions run on the CPU in fp32: serving is about
small requests, and it must not depend on the training machine's GPU.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from karpa.tracking.fluent import tracking_uri
from karpa.tracking.guard import sigterm_deferred

ROOT = Path(__file__).resolve().parents[2]
# Predict parameters of the application models (MLflow 3 params, in the signature):
# `mlflow models serve` takes them as {"params": {"explain": true}} beside the data.
APP_PARAMS = {"explain": False}
EXPLAIN_STEPS = 32  # integrated-gradients steps per served explanation
CANNOT_EXPLAIN = (
    "This model version cannot explain its predictions: it was saved before karpa stored "
    "the training examples explanations need; retrain to get a version that can."
)
CODE_PATHS = [str(ROOT / "karpa_models"), str(ROOT / "karpa")]
# What a served model imports, with the pins declared once, in pyproject.toml.
SERVING_NEEDS = (
    "torch",
    "captum",  # explanations (the `explain` predict param)
    "tokenizers",
    "pandas",
    "numpy",
    "pillow",
    "scikit-learn",
    "scipy",
    "pyyaml",
    "pydantic",
)


def serving_requirements() -> list[str]:
    """The package's own requirement lines (as installed) of what a served model imports."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    wanted = []
    for line in requires("karpa") or []:
        req = Requirement(line)
        if req.marker is None and req.name.lower() in SERVING_NEEDS:
            wanted.append(str(req))
    return sorted(wanted)


def decode_png(value: str, size: int) -> np.ndarray:
    """A base64 PNG/JPEG string -> (size, size, 3) uint8 RGB."""
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(value))) as img:
        return np.asarray(img.convert("RGB").resize((size, size)), dtype=np.uint8)


class FoundationModel(PythonModel):
    """Embeds raw inputs in the foundation's shared space.

    Input: a DataFrame with one of `text` (str), `image` (base64 PNG) or `item_idx` (int)
    set per row. Output: `kind` and `embedding` (list of floats) per row, in input order.
    """

    def load_context(self, context) -> None:
        import torch

        from karpa_models.pretraining import load_foundation

        torch.set_num_threads(1)
        self.model, _, self.cfg = load_foundation(context.artifacts["checkpoint"], "cpu")

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        frame = model_input.reset_index(drop=True)
        out: list[Any] = [None] * len(frame)
        kinds = [""] * len(frame)
        for column in ("text", "image", "item_idx"):
            if column not in frame:
                continue
            rows = frame.index[frame[column].notna()].tolist()
            rows = [r for r in rows if out[r] is None]
            if not rows:
                continue
            values = frame.loc[rows, column]
            if column == "text":
                vectors = self.model.embed_text(values.astype(str).tolist())
            elif column == "image":
                size = self.cfg.image.image_size
                vectors = self.model.embed_images(np.stack([decode_png(v, size) for v in values]))
            else:
                table = self.model.item_behaviour_embeddings()
                vectors = table[values.astype(np.int64).to_numpy()]
            for r, v in zip(rows, vectors, strict=True):
                out[r], kinds[r] = np.asarray(v, dtype=np.float64).tolist(), column
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            raise ValueError(f"rows {missing[:5]} have none of text, image, item_idx")
        return pd.DataFrame({"kind": kinds, "embedding": out})


def log_pyfunc(
    tracking_uri_: str,
    run_id: str,
    name: str,
    python_model: PythonModel,
    artifacts: dict[str, str],
    input_example: pd.DataFrame,
    params: dict[str, Any] | None = None,
) -> str:
    """Log a pyfunc model to an existing run (by id) and return its model URI; `params`
    (name -> default) become the signature's params schema."""
    context = type("Ctx", (), {"artifacts": artifacts})()
    python_model.load_context(context)
    output = python_model.predict(context, input_example)
    signature = infer_signature(input_example, output, params=params)
    # `start_run(run_id=...)` makes the run active in this thread only, for this call.
    # MLflow's fluent calls bypass GuardedClient: hold a SIGTERM here too, around the
    # run's start and end as well as the model's writes (karpa/tracking/guard.py).
    with tracking_uri(tracking_uri_), sigterm_deferred(), mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=python_model,
            artifacts=artifacts,
            signature=signature,
            input_example=input_example,
            pip_requirements=serving_requirements(),
            code_paths=CODE_PATHS,
        )
    return info.model_uri


class TextClassifierModel(PythonModel):
    """Intent or sentiment from raw text.

    Input: a DataFrame with a `text` column. Output per row: `label`, `probability` (of the
    top class) and `out_of_scope` (True when the top probability is below the
    out-of-scope threshold chosen on validation; always False without one). With the
    param `explain=True`, also `explanation`: {"words": [{"word", "attribution"}],
    "nearest": [{"text", "label", "similarity"}], "explained_class", "attribution_delta"}
    (karpa_models/explain/text.py), or the CANNOT_EXPLAIN sentence for a model saved
    without the training examples explanations need.
    """

    def load_context(self, context) -> None:
        import torch

        from karpa_models.finetune.saved import load_classifier

        torch.set_num_threads(1)
        self.clf = load_classifier(context.artifacts["model"], "cpu")

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        texts = model_input["text"].fillna("").astype(str).tolist()
        probs = self.clf.predict_proba(texts)
        top = probs.argmax(axis=1)
        confidence = probs.max(axis=1).astype(np.float64)
        labels = np.asarray(self.clf.classes, dtype=object)[top]
        threshold = self.clf.oos_threshold
        oos = confidence < threshold if threshold is not None else np.zeros(len(texts), bool)
        labels = np.where(oos, self.clf.oos_label, labels)
        out = pd.DataFrame(
            {"label": labels.astype(str), "probability": confidence, "out_of_scope": oos}
        )
        if (params or {}).get("explain"):
            out["explanation"] = self.explain(texts)
        return out

    def explain(self, texts: list[str]) -> list[Any]:
        if self.clf.neighbours is None:
            return [CANNOT_EXPLAIN] * len(texts)
        from karpa_models.explain.text import explain_texts

        explained = explain_texts(self.clf, texts, self.clf.neighbours, n_steps=EXPLAIN_STEPS)
        keep = ("explained_class", "words", "nearest", "attribution_delta")
        return [{k: e[k] for k in keep} for e in explained]


class RecommenderModel(PythonModel):
    """Top-k items for a user's recent items, scored as the evaluation scored them.

    Input: a DataFrame with `history` (a list of item ids, most recent last) and optionally
    `k` (default 10). Output per row: `items` (ids, best first; history items never),
    `scores`, and `source`: "model", or "popularity fallback: unknown user" when the
    history holds no item the model knows (then the items are the most popular ones).
    With the param `explain=True`, also `explanation`: per recommended item {"item",
    "history": [{"item", "contribution"}], "parts": {"content", "behaviour",
    "popularity", "co-occurrence"}} (karpa_models/explain/recommend.py).
    """

    def load_context(self, context) -> None:
        import torch

        from karpa_models.finetune.saved import load_any_recommender

        torch.set_num_threads(1)
        self.rec = load_any_recommender(context.artifacts["model"], "cpu")

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        items, scores, sources, explanations = [], [], [], []
        explain = bool((params or {}).get("explain"))
        ks = model_input["k"] if "k" in model_input else [10] * len(model_input)
        for history, k in zip(model_input["history"], ks, strict=True):
            history = [str(i) for i in (list(history) if history is not None else [])]
            answer = self.rec.recommend(history, int(k if k == k else 10))
            top, score = answer[0], answer[1]
            items.append([str(i) for i in top])
            scores.append([float(s) for s in score])
            sources.append(answer[2] if len(answer) > 2 else "model")
            if explain:
                from karpa_models.explain.recommend import explain_recommendations

                explanations.append(explain_recommendations(self.rec, history, items[-1]))
        out = pd.DataFrame({"items": items, "scores": scores, "source": sources})
        if explain:
            out["explanation"] = explanations
        return out

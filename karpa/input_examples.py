"""Raw inputs as a caller sends them, read from the aligned views: each logged model's
input example (and so its signature) in MLflow."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd

from karpa.manifests import AlignManifest


def application_example(app: str, views: AlignManifest) -> pd.DataFrame:
    """Texts, or a user's recent item ids."""
    folder = Path(views.path)
    if app == "recommendation":
        items = pd.read_parquet(folder / "items.parquet", columns=["item_id"])["item_id"]
        return pd.DataFrame(
            {"history": [list(items.iloc[:3]), list(items.iloc[3:5])], "k": [10, 5]}
        )
    table, column = ("messages", "text") if app == "intent" else ("news", "text")
    texts = pd.read_parquet(folder / f"{table}.parquet", columns=[column])[column]
    return pd.DataFrame({"text": texts.dropna().head(3).tolist()})


def foundation_example(views: AlignManifest, image_size: int) -> pd.DataFrame:
    """One raw input of each kind the foundation has seen: a text, a base64 PNG, an item
    index (a public dataset may have only texts, or no images)."""
    from PIL import Image

    items = pd.read_parquet(Path(views.path) / "items.parquet", columns=["pixels"])
    rows: list[dict] = []
    texts = pd.read_parquet(Path(views.path) / "pretrain_texts.parquet", columns=["text"])
    if len(texts):
        rows.append({"text": texts["text"].iloc[0], "image": None, "item_idx": None})
    pixels = next((p for p in items["pixels"] if isinstance(p, bytes)), None)
    if pixels is not None:
        image = np.frombuffer(pixels, dtype=np.uint8).reshape(image_size, image_size, 3)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        png = base64.b64encode(buf.getvalue()).decode()
        rows.append({"text": None, "image": png, "item_idx": None})
    if len(items):
        rows.append({"text": None, "image": None, "item_idx": 0})
    return pd.DataFrame(rows, columns=["text", "image", "item_idx"])

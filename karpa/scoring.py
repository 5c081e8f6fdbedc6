"""Batch scoring with a registered model: a file of raw inputs in, a Parquet file of answers
out. Also the registered names of the served applications and a user's history, which
`karpa predict` reads too. pandas is imported where it is used: the CLI builds its parser
from `NAMES`, and `karpa --help` stays fast."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from karpa.errors import KarpaError, SourceError
from karpa.home import Home

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

# The registered model that answers each application's requests.
NAMES = {"intent": "karpa-intent", "sentiment": "karpa-sentiment", "recommend": "karpa-recommender"}
BATCH = 1024
HISTORY_K = 10


def latest_views(store: Path) -> Path | None:
    """The most recently written aligned views (to look up a user's history)."""
    entries = [p for p in (store / "views").glob("*") if (p / "manifest.json").is_file()]
    return max(entries, key=lambda p: p.stat().st_mtime) if entries else None


def user_history(store: Path, user: str) -> list[str]:
    """The item ids of a user's history in the latest aligned views, oldest first."""
    import pandas as pd

    views = latest_views(store)
    if views is None:
        raise KarpaError(f"no aligned views in {store}: run the pipeline first (karpa run)")
    seq = pd.read_parquet(views / "sequences.parquet", columns=["user_id", "items"])
    items = pd.read_parquet(views / "items.parquet", columns=["item_idx", "item_id"])
    ids = items.sort_values("item_idx")["item_id"].tolist()
    row = seq[seq["user_id"] == user]
    if row.empty:
        raise KarpaError(f"user {user!r} has no history in {views / 'sequences.parquet'}")
    return [ids[i] for i in row.iloc[0]["items"]]


def item_features(store: Path, ids: list[str]) -> dict[str, dict[str, str]]:
    """Title, category and key/value attributes of the given items in the latest views
    (for explanations); an item the views do not know is left out."""
    import json

    import pandas as pd

    views = latest_views(store)
    if views is None:
        return {}
    items = pd.read_parquet(
        views / "items.parquet", columns=["item_id", "title", "category", "attributes"]
    )
    items = items[items["item_id"].isin(set(ids))]
    out = {}
    for row in items.itertuples(index=False):
        features = {"title": str(row.title or ""), "category": str(row.category or "")}
        try:
            extra = json.loads(row.attributes) if isinstance(row.attributes, str) else {}
        except ValueError:
            extra = {}
        if isinstance(extra, dict):
            features.update({str(k): str(v) for k, v in extra.items()})
        out[str(row.item_id)] = features
    return out


def read_inputs(path: Path) -> pd.DataFrame:
    import pandas as pd

    readers = {
        ".csv": pd.read_csv,
        ".parquet": pd.read_parquet,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }
    if path.suffix not in readers:
        raise SourceError(
            f"{path}: cannot score a {path.suffix or 'suffix-less'} file (use {', '.join(readers)})"
        )
    if not path.is_file():
        raise SourceError(f"{path}: file not found")
    return readers[path.suffix](path)


def requests_for(application: str, frame: pd.DataFrame, source: str, store: Path) -> pd.DataFrame:
    """What the model takes: texts, or each user's history (one user per row)."""
    import pandas as pd

    if application == "recommend":
        if "user_id" not in frame:
            raise SourceError(f"{source}: missing column 'user_id' (one user per row)")
        return pd.DataFrame(
            {"history": [user_history(store, str(u)) for u in frame["user_id"]], "k": HISTORY_K}
        )
    if "text" not in frame:
        raise SourceError(f"{source}: missing column 'text' (one text per row)")
    return frame[["text"]]


def write_atomic(frame: pd.DataFrame, out: Path) -> None:
    """A reader never sees a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, out)


def score_file(
    home: Home, application: str, source: str, output: str, alias: str = "champion"
) -> dict[str, Any]:
    """Score every row of `source` with `NAMES[application]@alias` into `output` (Parquet):
    the input columns, the model's answers and the model version that gave them."""
    import pandas as pd

    from karpa.tracking.registry import Registry, load_predictor

    name = NAMES[application]
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    version = registry.alias_version(name, alias)
    if version is None:
        raise SourceError(f"{name} has no @{alias} version yet: run the retrain pipeline first")
    frame = read_inputs(Path(source))
    requests = requests_for(application, frame, source, home.store)
    predict = load_predictor(home.tracking_uri, registry.model_uri(name, alias))
    answers = pd.concat(
        [predict(requests.iloc[i : i + BATCH]) for i in range(0, len(requests), BATCH)],
        ignore_index=True,
    )
    result = pd.concat([frame.reset_index(drop=True), answers], axis=1)
    result["model"] = f"{name}/{version}"
    out = Path(output)
    write_atomic(result, out)
    logger.info(
        "scored %s rows of %s with %s v%s -> %s", f"{len(result):,}", source, name, version, out
    )
    return {"rows": len(result), "output": str(out), "model": name, "version": version}

"""Batch scoring with the champion: a file of raw inputs in, a Parquet file of answers out."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task

from karpa.cli_models import NAMES, user_history
from karpa.errors import SourceError
from karpa.home import resolve_home
from karpa.tracking.registry import Registry, load_predictor

BATCH = 1024


def read_inputs(path: Path) -> pd.DataFrame:
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet,
               ".jsonl": lambda p: pd.read_json(p, lines=True)}
    if path.suffix not in readers:
        raise SourceError(f"{path}: cannot score a {path.suffix or 'suffix-less'} file "
                          f"(use {', '.join(readers)})")
    if not path.is_file():
        raise SourceError(f"{path}: file not found")
    return readers[path.suffix](path)


@task(retries=1, retry_delay_seconds=2, task_run_name="score-{application}")
def score_file(application: str, source: str, output: str, alias: str = "champion") -> dict:
    home = resolve_home()
    name = NAMES[application]
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    version = registry.alias_version(name, alias)
    if version is None:
        raise SourceError(f"{name} has no @{alias} version yet: run the retrain pipeline first")
    frame = read_inputs(Path(source))
    if application == "recommend":
        if "user_id" not in frame:
            raise SourceError(f"{source}: missing column 'user_id' (one user per row)")
        requests = pd.DataFrame({"history": [user_history(home.store, str(u))
                                             for u in frame["user_id"]], "k": 10})
    else:
        if "text" not in frame:
            raise SourceError(f"{source}: missing column 'text' (one text per row)")
        requests = frame[["text"]]
    predict = load_predictor(home.tracking_uri, registry.model_uri(name, alias))
    answers = pd.concat([predict(requests.iloc[i:i + BATCH])
                         for i in range(0, len(requests), BATCH)], ignore_index=True)
    result = pd.concat([frame.reset_index(drop=True), answers], axis=1)
    result["model"] = f"{name}/{version}"
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    result.to_parquet(tmp, index=False)
    os.replace(tmp, out)  # a reader never sees a half-written file
    get_run_logger().info("scored %s rows of %s with %s v%s -> %s", f"{len(result):,}", source,
                          name, version, out)
    return {"rows": len(result), "output": str(out), "model": name, "version": version}

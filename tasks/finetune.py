"""The finetune task: one per application, each with its own MLflow child run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task

from karpa.config import RunConfig
from karpa.finetuning import run_application
from karpa.home import resolve_home
from karpa.manifests import AlignManifest, AppManifest, FoundationManifest
from karpa.store import Store
from tasks.tracking import tracker


def input_example(app: str, views: AlignManifest) -> pd.DataFrame:
    """Raw inputs as a caller sends them: texts, or a user's recent item ids."""
    folder = Path(views.path)
    if app == "recommendation":
        items = pd.read_parquet(folder / "items.parquet", columns=["item_id"])["item_id"]
        return pd.DataFrame({"history": [list(items.iloc[:3]), list(items.iloc[3:5])],
                             "k": [10, 5]})
    table, column = ("messages", "text") if app == "intent" else ("news", "text")
    texts = pd.read_parquet(folder / f"{table}.parquet", columns=[column])[column]
    return pd.DataFrame({"text": texts.dropna().head(3).tolist()})


@task(retries=1, retry_delay_seconds=5, task_run_name="finetune-{app}")
def finetune_app(
    cfg: RunConfig, parent_id: str, app: str, views: AlignManifest,
    foundation: FoundationManifest,
) -> AppManifest:
    from karpa.tracking.models import RecommenderModel, TextClassifierModel, log_pyfunc

    logger = get_run_logger()
    t = tracker(cfg)
    run_id = t.start_run(f"finetune-{app}", parent_id=parent_id, tags={
        "karpa.stage": "finetune", "karpa.application": app,
        "karpa.foundation": foundation.fingerprint,
        "karpa.foundation_run_id": foundation.mlflow_run_id or "-",
    })

    def on_metrics(metrics: dict[str, float], step: int) -> None:
        t.log_metrics(run_id, {f"train.{k}": v for k, v in metrics.items()}, step=step)

    try:
        m = run_application(app, views, foundation, cfg.finetune, Store(resolve_home().store),
                            on_metrics=on_metrics)
        head = m.headline
        gain = m.pretraining_gain or {}
        logger.info("%s: %s %.4f [%.4f, %.4f]%s", app, head["metric"], head["estimate"],
                    head["low"], head["high"],
                    f"; pretraining gain {gain['estimate']:+.4f} "
                    f"[{gain['low']:+.4f}, {gain['high']:+.4f}]" if gain else "")
        t.log_metrics(run_id, {k.replace("/", "."): v for k, v in m.metrics.items()
                               if v is not None})
        t.set_tags(run_id, {"karpa.headline_metric": head["metric"],
                            "karpa.finetune.skipped": str(m.skipped)})
        folder = Path(m.path)
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix in (".png", ".html", ".md", ".json"):
                t.log_artifact(run_id, path, "evaluation")
        model_class = RecommenderModel if app == "recommendation" else TextClassifierModel
        uri = log_pyfunc(t.home.tracking_uri, run_id, app, model_class(),
                         {"model": m.model_dir}, input_example(app, views))
        return m.model_copy(update={"model_uri": uri, "mlflow_run_id": run_id})
    except BaseException:
        t.end_run(run_id, ok=False)
        raise

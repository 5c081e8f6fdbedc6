"""The applications' fine-tunes, one after another or `finetune.concurrency` at a time.

Concurrent fine-tunes run through Prefect's own ProcessPoolTaskRunner: each is the same
`finetune_app` task, with its own MLflow child run, in a process of its own (torch's
random generators and thread pool are per process, so each fine-tune draws exactly what
it draws alone), and the cores are split evenly between the processes. Each task seeds
its own training, so the results are those of the sequential run.
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.task_runners import ProcessPoolTaskRunner

from karpa.config import FinetuneConfig
from karpa.cpu_share import threads_per_job, use_threads
from karpa.manifests import AlignManifest, AppManifest, FoundationManifest, PipelineRun
from tasks.finetune import finetune_app


def finetune_apps(
    run: PipelineRun, views: AlignManifest, foundation: FoundationManifest, cfg: FinetuneConfig
) -> list[AppManifest]:
    """One manifest per application, in the order of `cfg.applications`."""
    apps = list(cfg.applications)
    workers = min(cfg.concurrency, len(apps))
    if workers <= 1:
        return [finetune_app(run, app, views, foundation, cfg) for app in apps]
    threads = threads_per_job(workers)
    get_run_logger().info(
        "finetune: %d applications, %d at a time, %d torch thread(s) each",
        len(apps),
        workers,
        threads,
    )
    with ProcessPoolTaskRunner(
        max_workers=workers, initializer=use_threads, initargs=(threads,)
    ) as runner:
        futures = [
            runner.submit(
                finetune_app,
                {"run": run, "app": app, "views": views, "foundation": foundation, "cfg": cfg},
            )
            for app in apps
        ]
        return [future.result() for future in futures]

"""One measured run of bench/scale.py: ingest -> validate -> align of one world, in one of
two ways, printing its wall time and counts as JSON. Run as a script (a Dask worker
process is spawned, and re-imports this file, so the work sits under a main guard).

    python bench/_scale_run.py single CONFIG DATA STORE
    python bench/_scale_run.py dask   CONFIG DATA STORE WORKERS
"""

from __future__ import annotations

import json
import sys
import time


def _stages(cfg, store, ingest_map, partitions):
    from karpa.align.stage import align, split_hints
    from karpa.manifests import raise_if_stopped
    from karpa.validation.stage import validate

    tables = ingest_map(cfg)
    validated = validate(tables, cfg.validate_, store, partitions=partitions)
    raise_if_stopped(validated)
    views = align(validated.accepted, cfg.align, store, split_hints=split_hints(cfg.data.sources))
    raise_if_stopped(views)
    return validated, views


def main() -> None:
    from karpa.config import load_config
    from karpa.ingest.stage import ingest_table
    from karpa.store import Store

    mode, config, data, folder = sys.argv[1:5]
    store = Store(folder)
    started = time.perf_counter()
    if mode == "single":
        cfg = load_config(config, data_root=data)

        def ingest_here(cfg):
            return {
                t: ingest_table(t, s, cfg.data.root, cfg.ingest, store)
                for t, s in cfg.data.sources.items()
            }

        validated, views = _stages(cfg, store, ingest_here, None)
    else:
        from dask.distributed import Client

        from karpa.cluster import dask_cluster
        from karpa.validation.partitioned import Partitions

        cfg = load_config(config, ["engine=dask", f"dask.workers={sys.argv[5]}"], data)
        with dask_cluster(cfg) as address, Client(address) as client:

            def on_cluster(fn, jobs):
                return client.gather(client.map(fn, jobs, pure=False))

            def ingest_on_cluster(cfg):
                futures = {
                    t: client.submit(
                        ingest_table, t, s, cfg.data.root, cfg.ingest, store, pure=False
                    )
                    for t, s in cfg.data.sources.items()
                }
                return {t: f.result() for t, f in futures.items()}

            partitions = Partitions(
                cfg.dask.partition_rows, on_cluster, max_bytes=cfg.dask.partition_bytes
            )
            validated, views = _stages(cfg, store, ingest_on_cluster, partitions)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "counts": validated.counts,
                "validated": validated.fingerprint,
                "views": views.fingerprint,
            }
        )
    )


if __name__ == "__main__":
    main()

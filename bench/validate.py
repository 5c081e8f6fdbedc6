"""Benchmark: validate 1M synthetic event rows against the events contract.

Side by side with Great Expectations alone running the same expectations on the same
frame (GX's default result format), so the cost of row-level outcomes (failing rows mapped
back, cross-table membership, the quarantine and accepted frames) shows as a ratio.
Target: validate_table <= 2x GX alone.

    .venv/bin/python bench/validate.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header

from data_contracts import load_contract, validate_table
from data_contracts.gx_suite import RESULT_FORMAT, build_suite, new_batch, new_context
from data_contracts.rules import compile_rules

logger = logging.getLogger("bench.validate")
REFERENCE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
ITEMS = 20_000


def synthetic_events(rows: int, seed: int = 0) -> pd.DataFrame:
    """Events shaped like ingestion writes them, with about 1% bad rows of several kinds."""
    rng = np.random.default_rng(seed)
    item_ids = np.array([f"item-{i:06d}" for i in range(ITEMS + 200)], dtype=object)
    user_ids = np.array([f"user-{i:06d}" for i in range(50_000)], dtype=object)
    event_types = np.array(["view", "click", "cart", "purchase", "rating", "bogus"], dtype=object)
    start = pd.Timestamp("2024-01-01", tz="UTC").value // 1000
    end = pd.Timestamp("2024-12-31", tz="UTC").value // 1000
    ts = rng.integers(start, end, rows)
    ts[rng.random(rows) < 0.002] = pd.Timestamp("2099-01-01", tz="UTC").value // 1000
    value = rng.gamma(2.0, 10.0, rows)
    value[rng.random(rows) < 0.002] = -1.0
    return pd.DataFrame(
        {
            "user_id": pd.array(user_ids[rng.integers(0, len(user_ids), rows)], dtype="str"),
            # ids past ITEMS are unknown to the catalogue: ~1% orphans.
            "item_id": pd.array(item_ids[rng.integers(0, len(item_ids), rows)], dtype="str"),
            "event_type": pd.array(
                event_types[rng.choice(6, rows, p=[0.5, 0.3, 0.1, 0.05, 0.048, 0.002])],
                dtype="str",
            ),
            "value": value,
            "ts": pd.to_datetime(ts, unit="us", utc=True),
            "session_id": pd.array([f"s{i % 99_991}" for i in range(rows)], dtype="str"),
            "_source": pd.array(["events.parquet"] * rows, dtype="str"),
            "_row": np.arange(1, rows + 1, dtype=np.int64),
            "_ingest_error": pd.array([None] * rows, dtype="str"),
        }
    )


def gx_alone(frame: pd.DataFrame, rules: list, result_format: object = None) -> float:
    """Seconds for GX to build the same suite and validate the frame (default result format)."""
    began = time.perf_counter()
    context = new_context()
    suite = build_suite(rules, "events")
    batch = new_batch(context, frame, "events")
    options = {} if result_format is None else {"result_format": result_format}
    batch.validate(suite, **options)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # GX logs every ephemeral context it creates at INFO (one of its modules pins its logger
    # to INFO when imported); import it first, then keep the figures readable.
    import great_expectations  # noqa: F401

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logger.setLevel(logging.INFO)

    contract = load_contract("events")
    frame = synthetic_events(args.rows)
    known = {"items.item_id": [f"item-{i:06d}" for i in range(ITEMS)]}
    rules = [r for r in compile_rules(contract, REFERENCE) if r.engine == "great_expectations"]
    gx_alone(frame.head(1000), rules)  # warm imports and GX's registries for both sides

    gx_times, complete, ours, result = [], [], [], None
    for _ in range(args.repeat):
        gx_times.append(gx_alone(frame, rules))
        complete.append(gx_alone(frame, rules, RESULT_FORMAT))
        began = time.perf_counter()
        result = validate_table(frame, contract, reference_time=REFERENCE, known=known)
        ours.append(time.perf_counter() - began)
    gx_s, ours_s = statistics.median(gx_times), statistics.median(ours)

    command = "bench/validate.py " + " ".join(sys.argv[1:])
    logger.info("%s", header("validate_table vs Great Expectations alone", command.strip()))
    logger.info("# time:   %s", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    logger.info("rows:     %s events, %d GX expectations", f"{args.rows:,}", len(rules))
    logger.info(
        "outcome:  %s accepted, %s quarantined",
        f"{result.rows_accepted:,}",
        f"{result.rows_quarantined:,}",
    )
    logger.info("GX alone:       %.3f s (median of %d)", gx_s, args.repeat)
    logger.info("  (GX alone with COMPLETE row lists: %.3f s)", statistics.median(complete))
    logger.info("validate_table: %.3f s (median of %d)", ours_s, args.repeat)
    logger.info("ratio:          %.2fx (target <= 2x)", ours_s / gx_s)


if __name__ == "__main__":
    main()

"""Ingestion throughput and peak memory, karpa versus a bare pyarrow read-and-write.

Each measurement runs in a fresh subprocess so its peak RSS is its own. For scale 1 and
scale 10 of the demo world it prints, side by side: wall time, event rows per second,
all rows per second, and peak memory; then the scale-10/scale-1 memory ratio.

    .venv/bin/python bench/ingest.py            # scales 1 and 10
    .venv/bin/python bench/ingest.py --scales 1 # quicker
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header

from karpa.config import CONFIGS

ROOT = Path(__file__).resolve().parents[1]

KARPA = """
import json, resource, sys, time
from karpa.config import load_config
from karpa.ingest.stage import ingest_table
from karpa.store import Store
cfg = load_config(sys.argv[1], data_root=sys.argv[2])
store = Store(sys.argv[3])
t0 = time.perf_counter(); rows = {}
for table, spec in cfg.data.sources.items():
    rows[table] = ingest_table(table, spec, cfg.data.root, cfg.ingest, store).rows
seconds = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": rss}))
"""

# The same files read and written with pyarrow alone: no mapping, no type conversion, no
# provenance, no fingerprints. Parquet and CSV are streamed like karpa does, so the
# comparison is about karpa's own overhead, not about a different I/O strategy.
BARE = """
import json, pathlib, resource, sys, time
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.json as pajson, pyarrow.parquet as pq
root = pathlib.Path(sys.argv[2]); out = pathlib.Path(sys.argv[3]); out.mkdir(parents=True)
t0 = time.perf_counter(); rows = {}
def stream(name, batches, schema):
    n = 0
    with pq.ParquetWriter(out / f"{name}.parquet", schema) as w:
        for b in batches:
            w.write_batch(b); n += b.num_rows
    rows[name] = n
r = pq.ParquetFile(root / "events.parquet")
stream("events", r.iter_batches(65536), r.schema_arrow)
for name in ("items", "news"):
    r = pacsv.open_csv(root / f"{name}.csv",
                       parse_options=pacsv.ParseOptions(newlines_in_values=True))
    stream(name, r, r.schema)
t = pajson.read_json(root / "messages.jsonl")
pq.write_table(t, out / "messages.parquet"); rows["messages"] = t.num_rows
files = sorted((root / "images").iterdir())
t = pa.table({"name": [f.name for f in files], "bytes": [f.read_bytes() for f in files]})
pq.write_table(t, out / "images.parquet"); rows["images"] = t.num_rows
seconds = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": rss}))
"""


def measure(code: str, data: Path, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, str(CONFIGS / "demo.yaml"), str(data), str(out)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    args = parser.parse_args()
    from karpa.demo import generate_world

    command = "python bench/ingest.py"
    if args.scales != [1.0, 10.0]:
        command += " --scales " + " ".join(f"{s:g}" for s in args.scales)
    print(header("karpa ingestion vs bare pyarrow", command))
    print(
        f"{'scale':>5} {'engine':<8} {'seconds':>8} {'event rows/s':>13} {'rows/s':>10} "
        f"{'peak MB':>8}"
    )
    peaks: dict[float, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            data = Path(tmp) / f"world-{scale:g}"
            generate_world(data, scale=scale, seed=0)
            for engine, code in (("karpa", KARPA), ("pyarrow", BARE)):
                r = measure(code, data, Path(tmp) / f"out-{engine}-{scale:g}")
                total = sum(r["rows"].values())
                print(
                    f"{scale:>5g} {engine:<8} {r['seconds']:>8.2f} "
                    f"{r['rows']['events'] / r['seconds']:>13,.0f} "
                    f"{total / r['seconds']:>10,.0f} {r['peak_mb']:>8.0f}"
                )
                if engine == "karpa":
                    peaks[scale] = r["peak_mb"]
    if len(peaks) > 1:
        low, high = min(peaks), max(peaks)
        print(
            f"karpa peak memory, scale {high:g} / scale {low:g}: "
            f"{peaks[high] / peaks[low]:.2f} (target <= 1.5)"
        )


if __name__ == "__main__":
    main()

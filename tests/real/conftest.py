"""Fixtures for the real-data tests: hand-made files in the published layouts, subsamples
of the shared datasets, and a local HTTP server standing in for a dataset mirror."""

from __future__ import annotations

import csv
import gzip
import http.server
import json
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from karpa.config import CONFIGS

ROOT = Path(__file__).resolve().parents[2]
PRESETS = CONFIGS / "real"


def write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file of unsigned bytes (gzipped when the name ends in .gz)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_clinc(folder: Path) -> Path:
    """A tiny data_full.json: three intents, every split, out-of-scope queries."""
    intents = ("balance", "transfer", "pin_change")
    data: dict[str, list[list[str]]] = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        data[split] = [
            [f"{split} query {i} about {intent}", intent] for intent in intents for i in range(n)
        ]
        data[f"oos_{split}"] = [
            [f"{split} what is the weather on mars {i}", "oos"] for i in range(2)
        ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data_full.json").write_text(json.dumps(data))
    return folder / "data_full.json"


GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def write_ml100k(folder: Path, users: int = 12, items: int = 8) -> Path:
    """u.data, u.item (latin-1, one accented title) and u.genre in the ml-100k layout."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)) + "\n")
    lines = []
    for item in range(1, items + 1):
        flags = ["0"] * len(GENRES)
        flags[1 + item % 5] = "1"
        flags[8] = "1"
        title = "Café Society (1995)" if item == 3 else f"Movie {item} (1995)"
        lines.append(
            f"{item}|{title}|01-Jan-1995||http://us.imdb.com/M/title-exact?{item}|"
            + "|".join(flags)
        )
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    rows = []
    start = 884_000_000  # 1998-01-05, inside the dataset's real range
    for user in range(1, users + 1):
        for k in range(5):
            item = (user + k) % items + 1
            rows.append(f"{user}\t{item}\t{1 + (user + k) % 5}\t{start + user * 1000 + k * 60}")
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    return folder


def _every(rows: list, step: int) -> list:
    return rows[::step]


def subsample(name: str, shared: Path, out: Path) -> Path:
    """A small, consistent sample of a preset's data, written under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    if name == "banking77":
        for split in ("train", "test"):
            with (shared / "banking77" / f"{split}.csv").open(newline="") as f:
                rows = list(csv.reader(f))
            with (out / f"{split}.csv").open("w", newline="") as f:
                csv.writer(f).writerows([rows[0], *_every(rows[1:], 20)])
    elif name in ("phrasebank", "phrasebank_allagree"):
        file = "Sentences_50Agree.txt" if name == "phrasebank" else "Sentences_AllAgree.txt"
        lines = (shared / "financial_phrasebank" / file).read_bytes().splitlines(keepends=True)
        (out / file).write_bytes(b"".join(_every(lines, 10)))
    elif name == "movielens":
        src = shared / "movielens_latest_small"
        (out / "tags.csv").write_bytes((src / "tags.csv").read_bytes())
        lines = (src / "ratings.csv").read_text().splitlines(keepends=True)
        # The first 110 users, whole (sequences stay intact for leave-last-out), and the
        # movies they rated (so coverage figures mean what they mean on the full data).
        kept = [ln for ln in lines[1:] if int(ln.split(",", 1)[0]) <= 110]
        (out / "ratings.csv").write_text(lines[0] + "".join(kept))
        rated = {ln.split(",")[1] for ln in kept}
        with (src / "movies.csv").open(newline="") as f:
            movies = list(csv.reader(f))
        with (out / "movies.csv").open("w", newline="") as f:
            csv.writer(f).writerows([movies[0], *(m for m in movies[1:] if m[0] in rated)])
    elif name == "mnist":
        src = shared / "mnist_test"
        with gzip.open(src / "t10k-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read()[16 : 16 + 300 * 784], dtype=np.uint8)
        with gzip.open(src / "t10k-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read()[8 : 8 + 300], dtype=np.uint8)
        write_idx(out / "t10k-images-idx3-ubyte.gz", images.reshape(300, 28, 28))
        write_idx(out / "t10k-labels-idx1-ubyte.gz", labels)
    elif name == "clinc150":
        write_clinc(out)
    elif name == "movielens_100k":
        write_ml100k(out, users=110)
    else:
        raise ValueError(f"no subsample for {name!r}")
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:
        type(self).requests.append(self.path)


@contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 (a free port) serving `folder`: (base URL, paths asked)."""
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def real_files() -> dict[str, Callable]:
    """Writers of hand-made files in the published layouts, and the subsampler."""
    return {
        "idx": write_idx,
        "clinc": write_clinc,
        "ml100k": write_ml100k,
        "subsample": subsample,
        "serve": serve,
    }

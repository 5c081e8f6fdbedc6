"""Download a registered public dataset into `<home>/datasets/<name>/`, verified.

pooch downloads each file into a temporary file in the target folder and renames it into place
only when its checksum matches the registry's, so a failed or corrupted download leaves
nothing behind that looks like data; a file already present with the right checksum is not
downloaded again. Archives are then unpacked into the same folder (through a temporary folder,
member paths checked so none escapes it, leading folders stripped).

`KARPA_DATASETS_MIRROR` (or `mirror=`) replaces every canonical address with
`<mirror>/<dataset>/<file name>`: an internal mirror for machines without internet access,
and a local HTTP server in tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pooch
import requests

from karpa.datasets.registry import DatasetError, PublicDataset, RemoteFile, get

log = logging.getLogger(__name__)

MIRROR_ENV = "KARPA_DATASETS_MIRROR"
CHUNK = 1 << 20
TIMEOUT_S = 60
RECORD = "karpa-fetch.json"  # what was fetched from where, with its licence, beside the data
_GOT = re.compile(r"but got ([0-9a-fA-F]+)")  # the computed hash in pooch's mismatch message


def file_url(dataset: PublicDataset, remote: RemoteFile, mirror: str | None) -> str:
    if mirror:
        return f"{mirror.rstrip('/')}/{dataset.name}/{remote.name}"
    return remote.url


def _pin(remote: RemoteFile) -> tuple[str, str]:
    """(algorithm, hex digest) of the registry's pin: the sha256, else the publisher's md5."""
    return ("sha256", remote.sha256.lower()) if remote.sha256 else ("md5", str(remote.md5).lower())


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    # pooch logs every download to stderr through a handler of its own; we log our own lines.
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reason(exc: requests.RequestException) -> str:
    """A few words on why a request failed: the HTTP status, else the innermost cause."""
    if exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    root: BaseException = exc
    seen = {id(root)}
    while (inner := root.__cause__ or root.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        root = inner
    return str(root) or type(root).__name__


def _retrieve(url: str, target: Path, remote: RemoteFile, dataset: str) -> dict[str, str]:
    """Download `remote` to `target` unless a verified copy is there; its digests."""
    kind, want = _pin(remote)
    try:
        with _quiet_pooch():
            pooch.retrieve(
                url,
                known_hash=f"{kind}:{want}",
                fname=target.name,
                path=target.parent,
                downloader=pooch.HTTPDownloader(progressbar=False, timeout=TIMEOUT_S),
            )
    except ValueError as exc:  # pooch's checksum mismatch; it has deleted the download
        got = _GOT.search(str(exc))
        if got is None:
            raise
        raise DatasetError(
            f"{dataset}/{remote.name}: the file downloaded from {url} is not the registered one "
            f"(its {kind} {got.group(1).lower()} does not match the registry's {want}), "
            "so nothing was kept"
        ) from None
    except (requests.RequestException, OSError) as exc:
        reason = _reason(exc) if isinstance(exc, requests.RequestException) else exc
        raise DatasetError(
            f"{dataset}/{remote.name}: download from {url} failed ({reason}); nothing was kept"
        ) from None
    digests = {"sha256": pooch.file_hash(str(target), alg="sha256")}
    if remote.md5:
        digests["md5"] = pooch.file_hash(str(target), alg="md5")
    return digests


def _member_path(name: str, strip: int, archive: Path) -> PurePosixPath | None:
    """The member's path inside the dataset folder; None for what stripping removes."""
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts:
        raise DatasetError(
            f"{archive.name}: member {name!r} would land outside the dataset "
            "folder; refusing to unpack"
        )
    kept = parts[strip:]
    return PurePosixPath(*kept) if kept else None


def _unpack(archive: Path, folder: Path, strip: int) -> list[str]:
    """Extract regular files into `folder` (via a temporary folder); their relative paths."""
    staging = folder / f".unpack-{uuid.uuid4().hex[:8]}"
    written: list[str] = []
    try:
        staging.mkdir()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    rel = None if info.is_dir() else _member_path(info.filename, strip, archive)
                    if rel is not None:
                        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(info) as src, (staging / rel).open("wb") as dst:
                            shutil.copyfileobj(src, dst, CHUNK)
                        written.append(str(rel))
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    rel = _member_path(member.name, strip, archive) if member.isfile() else None
                    src = tf.extractfile(member) if rel is not None else None
                    if rel is not None and src is not None:
                        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                        with src, (staging / rel).open("wb") as dst:
                            shutil.copyfileobj(src, dst, CHUNK)
                        written.append(str(rel))
        else:
            raise DatasetError(f"{archive.name}: not a zip or tar archive; cannot unpack")
        for rel in written:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, folder / rel)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise DatasetError(f"{archive.name}: corrupt archive ({exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def fetch(dataset: str | PublicDataset, dest: Path, mirror: str | None = None) -> Path:
    """Download, verify and unpack every file of `dataset` into `dest` (the CLI's default:
    `<home>/datasets/NAME`); the folder holding them."""
    ds = get(dataset) if isinstance(dataset, str) else dataset
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "dataset": ds.name,
        "title": ds.title,
        "license": ds.license,
        "citation": ds.citation,
        "fetched_at": dt.datetime.now(dt.UTC).isoformat(),
        "files": [],
    }
    for remote in ds.files:
        url = file_url(ds, remote, mirror)
        target = folder / remote.name
        digests = _retrieve(url, target, remote, ds.name)
        log.info("%s/%s: in place, checksum verified (source %s)", ds.name, remote.name, url)
        if not remote.sha256:
            log.info(
                "%s/%s: sha256 %s (the registry pins only its md5)",
                ds.name,
                remote.name,
                digests["sha256"],
            )
        entry: dict[str, object] = {"name": remote.name, "url": url, **digests}
        if remote.unpack:
            entry["unpacked"] = _unpack(target, folder, remote.strip_components)
            log.info("%s/%s: unpacked %d files", ds.name, remote.name, len(entry["unpacked"]))
        record["files"].append(entry)
    tmp = folder / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, folder / RECORD)
    return folder

"""Download a registered public dataset into `<home>/datasets/<name>/`, verified.

Each file streams into a hidden temporary file in the target folder while it is hashed; only
a file whose checksum matches the registry is renamed into place, so a failed or corrupted
download leaves nothing behind that looks like data. Archives are then unpacked into the
same folder (through a temporary folder, member paths checked so none escapes it). A file
already present with the right checksum is not downloaded again.

`KARPA_DATASETS_MIRROR` (or `mirror=`) replaces every canonical address with
`<mirror>/<dataset>/<file name>`: an internal mirror for machines without internet access,
and a local HTTP server in tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from karpa.datasets.registry import DatasetError, PublicDataset, RemoteFile, get

log = logging.getLogger(__name__)

MIRROR_ENV = "KARPA_DATASETS_MIRROR"
CHUNK = 1 << 20
TIMEOUT_S = 60
RECORD = "karpa-fetch.json"  # what was fetched from where, with its licence, beside the data


def file_url(dataset: PublicDataset, remote: RemoteFile, mirror: str | None) -> str:
    if mirror:
        return f"{mirror.rstrip('/')}/{dataset.name}/{remote.name}"
    return remote.url


def _hashers(remote: RemoteFile) -> dict[str, hashlib._Hash]:
    return {"sha256": hashlib.sha256(), **({"md5": hashlib.md5()} if remote.md5 else {})}


def _mismatch(remote: RemoteFile, digests: dict[str, str]) -> str | None:
    """'sha256 <got> ... <want>' for the first pinned checksum that differs, else None."""
    for kind in ("sha256", "md5"):
        want = getattr(remote, kind)
        if want and digests[kind] != want.lower():
            return f"its {kind} {digests[kind]} does not match the registry's {want}"
    return None


def _digest_file(path: Path, remote: RemoteFile) -> dict[str, str]:
    hashers = _hashers(remote)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {k: h.hexdigest() for k, h in hashers.items()}


def _download(url: str, target: Path, remote: RemoteFile, dataset: str) -> dict[str, str]:
    part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    hashers = _hashers(remote)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, part.open("wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                for h in hashers.values():
                    h.update(chunk)
        digests = {k: h.hexdigest() for k, h in hashers.items()}
        problem = _mismatch(remote, digests)
        if problem:
            raise DatasetError(
                f"{dataset}/{remote.name}: the file downloaded from {url} is not the registered "
                f"one ({problem}), so nothing was kept"
            )
        os.replace(part, target)
        return digests
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        else:
            reason = getattr(exc, "reason", None) or exc
        raise DatasetError(
            f"{dataset}/{remote.name}: download from {url} failed ({reason}); nothing was kept"
        ) from None
    finally:
        part.unlink(missing_ok=True)


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
        target = folder / remote.name
        url = file_url(ds, remote, mirror)
        digests = _digest_file(target, remote) if target.is_file() else None
        if digests is not None and _mismatch(remote, digests) is None:
            log.info("%s/%s: present, checksum verified", ds.name, remote.name)
        else:
            log.info("%s/%s: downloading %s", ds.name, remote.name, url)
            digests = _download(url, target, remote, ds.name)
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

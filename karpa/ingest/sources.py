"""Find the files of a source (local path, folder, glob or fsspec URI) and fingerprint them."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs

from karpa.config import SourceSpec
from karpa.errors import SourceError
from karpa.fingerprint import digest_file

EXTENSIONS = {
    "csv": (".csv", ".tsv", ".txt"),
    "jsonl": (".jsonl", ".json", ".ndjson"),
    "parquet": (".parquet", ".pq"),
    "image_folder": (".png", ".jpg", ".jpeg"),
}


@dataclass(frozen=True)
class SourceFile:
    """One file of a source: its URL (as fsspec opens it), size and content digest."""

    url: str
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return posixpath.basename(self.url)


def resolve_url(root: str, path: str) -> str:
    """`path` as given when it is absolute or has a protocol, else relative to `root`."""
    if "://" in path or path.startswith("/"):
        return path
    return posixpath.join(root, path) if root else path


def list_files(table: str, url: str, spec: SourceSpec) -> list[str]:
    """The files behind a source URL, sorted so that row numbers are stable."""
    fs, path = url_to_fs(url)
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    prefix = "" if protocol in ("file", "local") else f"{protocol}://"
    if any(ch in path for ch in "*?["):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        found = sorted(p for p in fs.find(path) if p.lower().endswith(EXTENSIONS[spec.format]))
    elif fs.exists(path):
        found = [path]
    else:
        raise SourceError(
            f"{table}: source {url!r} does not exist (data.sources.{table}.path={spec.path!r})"
        )
    if not found and spec.format != "image_folder":
        raise SourceError(f"{table}: source {url!r} matches no {spec.format} files")
    return [prefix + p for p in found]


def describe_files(urls: list[str]) -> list[SourceFile]:
    """Size and sha256 of every file: what the ingestion fingerprint is made of."""
    out = []
    for url in urls:
        with fsspec.open(url, "rb") as f:
            size = f.size if hasattr(f, "size") else None
        out.append(SourceFile(url=url, size=int(size or 0), sha256=digest_file(url)))
    return out

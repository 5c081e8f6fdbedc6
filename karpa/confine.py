"""Keep local source paths inside the data folder.

A source path is relative to `data.root`; one with `../`, an absolute path, a `file://` URI
or a symlink that leads out of the folder would let a config (or a deployment form's
override) read any file the worker can read. Every local path is resolved, symlinks
followed, and must land inside `data.root`; otherwise the run is refused in one sentence
that names the config key and the path, never the content of the file. Remote fsspec URIs
(`s3://`, `gs://`, ...) are not local paths and are left alone.

Checked twice: at config resolution on the configured paths (before any work), and at
ingestion on every file a folder or glob expands to (a symlink inside the data folder).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from karpa.errors import ConfigError, SourceError

if TYPE_CHECKING:
    from karpa.config import RunConfig

_GLOB = "*?["


def local_path(url: str) -> str | None:
    """The filesystem path of a local URL (plain path or `file://`), else None."""
    if url.startswith("file://"):
        return url[len("file://") :]
    if "://" in url:
        return None
    return url


def _resolve(path: str) -> Path:
    """`path` made absolute with its symlinks followed; a symlink loop raises OSError(ELOOP)."""
    try:
        return Path(path).resolve()
    except RuntimeError as exc:  # Python < 3.13 reports a loop as RuntimeError
        raise OSError(errno.ELOOP, "symlink loop", path) from exc


def _glob_free_prefix(path: str) -> str:
    """The part of a glob before its first wildcard component (the folder it searches)."""
    parts = Path(path).parts
    for index, part in enumerate(parts):
        if any(ch in part for ch in _GLOB):
            return str(Path(*parts[:index])) if index else "."
    return path


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def outside_reason(root: str, path: str) -> str | None:
    """Why local `path` (relative to `root` unless absolute) is not inside `root`, or None.

    Remote URIs are not checked (None), nor relative paths under a remote `root`.
    """
    root_path = local_path(root) if root else "."
    target = local_path(path)
    if target is None:
        return None
    if root_path is None:  # a remote data.root: a relative path is read from it too
        if os.path.isabs(target) or path.startswith("file://"):
            return f"{path!r} is a local path, outside data.root {root!r}"
        return None
    joined = os.path.join(root_path, _glob_free_prefix(target))
    try:
        resolved = _resolve(joined)
        root_resolved = _resolve(root_path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path!r} runs into a symlink loop"
        raise
    if _inside(resolved, root_resolved):
        return None
    # Say how it got out: by its spelling (`../`, absolute) or through a symlink.
    if _inside(Path(os.path.abspath(joined)), Path(os.path.abspath(root_path))):
        how = "follows a symlink"
    else:
        how = "is" if os.path.isabs(target) else "leads"
    return f"{path!r} {how} outside data.root {root!r} (to {str(resolved)!r})"


def check_sources_confined(cfg: RunConfig) -> RunConfig:
    """Refuse, in one sentence, a local source path that resolves outside `data.root`."""
    for table, spec in cfg.data.sources.items():
        keyed = [(f"data.sources.{table}.path", spec.path)] + [
            (f"data.sources.{table}.with_files.{role}", p) for role, p in spec.with_files.items()
        ]
        for key, path in keyed:
            reason = outside_reason(cfg.data.root, path)
            if reason:
                rule = "; sources must be inside the data folder" if "outside" in reason else ""
                raise ConfigError(f"{key}: {reason}{rule}")
    return cfg


def check_files_confined(table: str, root: str, urls: list[str]) -> None:
    """Refuse a file a folder or glob expanded to that resolves outside `root` (a symlink
    inside the data folder) or is a symlink loop, before a byte of it is read."""
    root_path = local_path(root) if root else "."
    if root_path is None:
        return
    root_resolved = _resolve(root_path)
    for url in urls:
        path = local_path(url)
        if path is None:
            continue
        try:
            resolved = _resolve(path)
            os.stat(resolved)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SourceError(
                    f"{table}: {url!r} is a symlink loop; remove it or point it at a file"
                ) from None
            raise SourceError(f"{table}: {url!r} cannot be read ({exc.strerror})") from None
        if not _inside(resolved, root_resolved):
            raise SourceError(
                f"{table}: {url!r} is a symlink to {str(resolved)!r}, outside data.root "
                f"{root!r}; sources must be inside the data folder"
            )

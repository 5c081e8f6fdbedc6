"""`karpa data fetch` against a local HTTP server standing in for the publishers."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import socket
import tarfile
import zipfile

import pooch
import pytest

from karpa.datasets.fetch import MIRROR_ENV, fetch
from karpa.datasets.registry import DatasetError, PublicDataset, RemoteFile
from karpa_cli.main import main


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dataset(name: str, *files: RemoteFile) -> PublicDataset:
    return PublicDataset(
        name=name, title="test", license="test", citation="test", presets=(), files=files
    )


@pytest.fixture
def mirror(shared_datasets, real_files, monkeypatch):
    """The shared datasets served over HTTP on 127.0.0.1 and set as the mirror."""
    with real_files["serve"](shared_datasets) as (url, requests):
        monkeypatch.setenv(MIRROR_ENV, url)
        yield url, requests


@pytest.mark.parametrize("name", ["banking77", "financial_phrasebank", "mnist_test"])
def test_fetch_from_mirror_verifies_every_file(name, mirror, shared_datasets, tmp_path):
    folder = fetch(name, dest=tmp_path / name)
    record = json.loads((folder / "karpa-fetch.json").read_text())
    assert record["dataset"] == name and record["license"]
    for entry in record["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert data == (shared_datasets / name / entry["name"]).read_bytes()
        assert entry["sha256"] == _sha(data) and entry["url"].startswith(mirror[0])
    assert not list(folder.glob(".*part"))


def test_second_fetch_verifies_without_downloading(mirror, tmp_path):
    _, requests = mirror
    fetch("mnist_test", dest=tmp_path / "m")
    asked = len(requests)
    assert asked == 2
    fetch("mnist_test", dest=tmp_path / "m")
    assert len(requests) == asked


def test_checksum_mismatch_is_one_sentence_and_keeps_nothing(mirror, tmp_path):
    wrong = _dataset("banking77", RemoteFile("test.csv", "unused", sha256="0" * 64))
    with pytest.raises(DatasetError) as err:
        fetch(wrong, dest=tmp_path / "b")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("banking77/test.csv: the file downloaded from http://127.0.0.1:")
    assert "its sha256 d12d6e3bc4c31039" in message and "nothing was kept" in message
    assert list((tmp_path / "b").iterdir()) == []


def test_corrupt_copy_on_disk_is_replaced(mirror, shared_datasets, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"half a file")
    fetch("mnist_test", dest=folder)
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == (
        shared_datasets / "mnist_test" / "t10k-labels-idx1-ubyte.gz"
    ).read_bytes()


def test_missing_file_on_server_is_one_sentence(mirror, tmp_path):
    absent = _dataset("banking77", RemoteFile("nope.csv", "unused", sha256="0" * 64))
    with pytest.raises(
        DatasetError,
        match=r"banking77/nope.csv: download from .* failed "
        r"\(HTTP 404 File not found\); nothing was kept",
    ):
        fetch(absent, dest=tmp_path / "b")
    assert list((tmp_path / "b").iterdir()) == []


def test_unreachable_mirror_is_one_sentence_naming_the_url(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(DatasetError) as err:
        fetch("banking77", dest=tmp_path / "b", mirror=url)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(
        f"banking77/train.csv: download from {url}/banking77/train.csv failed ("
    )
    assert message.endswith("; nothing was kept")
    assert list((tmp_path / "b").iterdir()) == []


def test_fetch_prints_nothing_and_pooch_logs_nothing(mirror, tmp_path, capsys):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = pooch.get_logger()  # pooch's own logger, with its own stderr handler
    level = logger.level
    logger.addHandler(handler)
    try:
        fetch("mnist_test", dest=tmp_path / "m")
        fetch("mnist_test", dest=tmp_path / "m")
    finally:
        logger.removeHandler(handler)
    assert records == [] and logger.level == level
    assert capsys.readouterr().out == ""


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(("archive", "pack"), [("ml.zip", _zip), ("ml.tar.gz", _tar_gz)])
def test_archives_are_unpacked_with_leading_folder_stripped(archive, pack, tmp_path, real_files):
    members = {
        "ml-latest-small/ratings.csv": b"userId,movieId,rating,timestamp\n1,1,4.0,9\n",
        "ml-latest-small/sub/README.txt": b"readme",
    }
    served = tmp_path / "served" / "ml"
    served.mkdir(parents=True)
    data = pack(members)
    (served / archive).write_bytes(data)
    dataset = _dataset(
        "ml", RemoteFile(archive, "unused", sha256=_sha(data), unpack=True, strip_components=1)
    )
    with real_files["serve"](tmp_path / "served") as (url, _):
        folder = fetch(dataset, dest=tmp_path / "out", mirror=url)
    assert (folder / "ratings.csv").read_bytes() == members["ml-latest-small/ratings.csv"]
    assert (folder / "sub" / "README.txt").read_bytes() == b"readme"
    record = json.loads((folder / "karpa-fetch.json").read_text())
    assert sorted(record["files"][0]["unpacked"]) == ["ratings.csv", "sub/README.txt"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".unpack")]


def test_archive_member_escaping_the_folder_is_refused(tmp_path, real_files):
    data = _zip({"../evil.txt": b"x", "ok.txt": b"y"})
    (tmp_path / "served" / "z").mkdir(parents=True)
    (tmp_path / "served" / "z" / "z.zip").write_bytes(data)
    dataset = _dataset("z", RemoteFile("z.zip", "unused", sha256=_sha(data), unpack=True))
    with (
        real_files["serve"](tmp_path / "served") as (url, _),
        pytest.raises(
            DatasetError,
            match=r"z\.zip: member '\.\./evil\.txt' would land "
            r"outside the dataset folder",
        ),
    ):
        fetch(dataset, dest=tmp_path / "out", mirror=url)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "ok.txt").exists()


def test_md5_only_pin_is_verified(tmp_path, real_files):
    data = b"u.data contents"
    (tmp_path / "served" / "d").mkdir(parents=True)
    (tmp_path / "served" / "d" / "f.txt").write_bytes(data)
    good = _dataset("d", RemoteFile("f.txt", "unused", md5=hashlib.md5(data).hexdigest()))
    bad = _dataset("d", RemoteFile("f.txt", "unused", md5="0" * 32))
    with real_files["serve"](tmp_path / "served") as (url, _):
        assert (fetch(good, dest=tmp_path / "a", mirror=url) / "f.txt").read_bytes() == data
        with pytest.raises(DatasetError, match=r"its md5 .* does not match"):
            fetch(bad, dest=tmp_path / "b", mirror=url)


def test_cli_fetches_into_the_home_and_names_the_preset(mirror, tmp_path, capsys):
    assert main(["--home", str(tmp_path / "home"), "data", "fetch", "banking77"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "home" / "datasets" / "banking77"
    assert (folder / "train.csv").is_file() and str(folder) in out
    assert "karpa run --config configs/real/banking77.yaml" in out


def test_cli_unknown_dataset_is_one_line(capsys):
    assert main(["data", "fetch", "imagenet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("karpa: error: unknown dataset 'imagenet' (known: banking77,")
    assert "\n" not in err

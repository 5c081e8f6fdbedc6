"""Issue 21 item 2: a source path never reads a file outside the data folder.

`../`, an absolute path, a `file://` URI, a symlink (to a file or a folder) and a deployment
form's override are each refused in one sentence at config resolution, before any work, and
the sentence never quotes the refused file's content. A symlink found inside a source folder
is refused at ingestion before it is read. Remote URIs are left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from karpa.config import IngestConfig, SourceSpec, load_config
from karpa.errors import ConfigError, SourceError
from karpa.ingest.stage import ingest_table
from karpa.store import Store

SECRET = "root:x:0:0:SECRET-FIRST-LINE"


@pytest.fixture
def world(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "messages.csv").write_text("message_id,text,ts\nm1,hello,2024-01-01\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd.csv").write_text(SECRET + "\n")
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        yaml.safe_dump(
            {
                "data": {
                    "root": str(data),
                    "sources": {"messages": {"path": "messages.csv", "format": "csv"}},
                },
            }
        )
    )
    return data, outside, preset


def _refused(preset: Path, overrides: list[str], key: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(preset, overrides)
    sentence = str(err.value)
    assert "\n" not in sentence and key in sentence and "outside data.root" in sentence
    assert "SECRET" not in sentence
    return sentence


def test_escaping_paths_are_refused_at_resolution(world, tmp_path):
    """A source path outside data.root (`../`, absolute, `file://`, a glob, a symlink to a file or
    folder) is refused in one sentence before any work; remote URIs pass."""
    data, outside, preset = world
    key = "data.sources.messages.path"
    _refused(preset, [f"{key}=../outside/passwd.csv"], key)
    _refused(preset, [f"{key}={outside / 'passwd.csv'}"], key)
    _refused(preset, [f"{key}=file://{outside / 'passwd.csv'}"], key)
    _refused(preset, [f"{key}=../outside/*.csv"], key)
    os.symlink(outside / "passwd.csv", data / "link.csv")
    assert "symlink" in _refused(preset, [f"{key}=link.csv"], key)
    os.symlink(outside, data / "linked_folder")
    _refused(preset, [f"{key}=linked_folder/passwd.csv"], key)
    # Inside the folder stays fine, also absolute or as a file:// URI.
    assert load_config(preset, [f"{key}={data / 'messages.csv'}"])
    assert load_config(preset, [f"{key}=file://{data / 'messages.csv'}"])
    # Remote URIs are not local paths.
    assert load_config(preset, [f"{key}=s3://bucket/messages.csv"])
    # Under a remote data.root a local file is still outside it.
    _refused(preset, ["data.root=s3://bucket/data", f"{key}={outside / 'passwd.csv'}"], key)
    assert load_config(preset, ["data.root=s3://bucket/data"])


def test_deployment_form_override_goes_through_the_same_check(world):
    """The same escaping path given in a deployment's form is refused by the same check."""
    from flows.params import RetrainParams

    _, _, preset = world
    params = RetrainParams(
        config=str(preset), overrides=["data.sources.messages.path=../outside/passwd.csv"]
    )
    with pytest.raises(ConfigError, match=r"data\.sources\.messages\.path: .*outside data\.root"):
        params.resolve()


def test_symlink_inside_a_source_folder_is_refused_at_ingest(world, tmp_path):
    """A symlink to an outside file inside a source folder is refused at ingest, unread."""
    data, outside, _ = world
    folder = data / "msgs"
    folder.mkdir()
    (folder / "a.csv").write_text("message_id,text,ts\nm1,hello,2024-01-01\n")
    os.symlink(outside / "passwd.csv", folder / "b.csv")
    with pytest.raises(SourceError, match=r"b\.csv' is a symlink to .*outside data.root") as err:
        ingest_table(
            "messages",
            SourceSpec(path="msgs", format="csv"),
            str(data),
            IngestConfig(batch_rows=1000),
            Store(tmp_path / "store"),
        )
    assert "SECRET" not in str(err.value)


def test_symlink_loop_is_one_sentence(world, tmp_path):
    """A symlink loop, as the source path or inside a source folder, is one sentence."""
    data, _, preset = world
    os.symlink("loop.csv", data / "loop.csv")
    with pytest.raises(
        ConfigError,
        match=r"data\.sources\.messages\.path: 'loop\.csv' runs into a "
        "symlink loop",
    ):
        load_config(preset, ["data.sources.messages.path=loop.csv"])
    folder = data / "msgs"
    folder.mkdir()
    (folder / "a.csv").write_text("message_id,text,ts\nm1,hello,2024-01-01\n")
    os.symlink("b.csv", folder / "b.csv")
    with pytest.raises(SourceError, match=r"b\.csv' is a symlink loop"):
        ingest_table(
            "messages",
            SourceSpec(path="msgs", format="csv"),
            str(data),
            IngestConfig(batch_rows=1000),
            Store(tmp_path / "store"),
        )

"""Batch scoring's pure parts: inputs are refused with one sentence before any model loads."""

from __future__ import annotations

import pandas as pd
import pytest

from karpa.errors import KarpaError, SourceError
from karpa.scoring import read_inputs, requests_for, user_history, write_atomic


def test_unknown_suffix_and_missing_file_are_one_sentence(tmp_path):
    with pytest.raises(SourceError, match=r"cannot score a \.txt file"):
        read_inputs(tmp_path / "in.txt")
    with pytest.raises(SourceError, match="file not found"):
        read_inputs(tmp_path / "in.csv")


def test_requests_name_the_missing_column(tmp_path):
    frame = pd.DataFrame({"body": ["hello"]})
    with pytest.raises(SourceError, match="missing column 'text'"):
        requests_for("intent", frame, "in.csv", tmp_path)
    with pytest.raises(SourceError, match="missing column 'user_id'"):
        requests_for("recommend", frame, "in.csv", tmp_path)
    texts = requests_for("sentiment", pd.DataFrame({"text": ["up"], "x": [1]}), "s", tmp_path)
    assert list(texts.columns) == ["text"]


def test_history_needs_aligned_views(tmp_path):
    with pytest.raises(KarpaError, match="no aligned views"):
        user_history(tmp_path / "store", "u1")


def test_output_is_replaced_whole(tmp_path):
    out = tmp_path / "deep" / "out.parquet"
    write_atomic(pd.DataFrame({"a": [1, 2]}), out)
    assert pd.read_parquet(out)["a"].tolist() == [1, 2]
    assert [p.name for p in out.parent.iterdir()] == ["out.parquet"]

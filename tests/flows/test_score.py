"""Batch scoring refuses bad input with one sentence before loading any model."""

import pytest

from flows.score import ScoreParams, score
from karpa.errors import SourceError


def test_score_without_champion_is_one_sentence(prefect_api, home, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("text\nwhere is my parcel\n")
    with pytest.raises(SourceError, match="karpa-intent has no @champion version yet"):
        score(ScoreParams(application="intent", input=str(src), output=str(tmp_path / "o.pq")))


def test_params_refuse_unknown_application():
    with pytest.raises(ValueError, match="application"):
        ScoreParams(application="churn", input="x.csv", output="y.parquet")

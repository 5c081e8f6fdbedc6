"""environment_kept: what a block writes to os.environ is undone when it ends."""

from __future__ import annotations

import os

import pytest

from karpa.environment import environment_kept


def test_changed_variables_are_put_back_and_new_ones_removed(monkeypatch):
    monkeypatch.setenv("KARPA_TEST_SET", "before")
    monkeypatch.delenv("KARPA_TEST_UNSET", raising=False)
    with pytest.raises(RuntimeError), environment_kept(["KARPA_TEST_SET", "KARPA_TEST_UNSET"]):
        os.environ["KARPA_TEST_SET"] = "during"
        os.environ["KARPA_TEST_UNSET"] = "during"
        os.environ["KARPA_TEST_OTHER"] = "kept"  # not named: left as the block set it
        raise RuntimeError("the block fails; the environment is still put back")
    assert os.environ["KARPA_TEST_SET"] == "before"
    assert "KARPA_TEST_UNSET" not in os.environ
    assert os.environ.pop("KARPA_TEST_OTHER") == "kept"

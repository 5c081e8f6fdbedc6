"""The champion foundation of an empty registry: an on-demand fine-tune stops with one
sentence saying what to run first."""

from __future__ import annotations

import pytest

from karpa.errors import StageStop
from karpa.tracking.foundation import champion_foundation
from karpa.tracking.registry import Registry


def test_no_champion_stops_with_what_to_run_first(home):
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    with pytest.raises(StageStop) as stopped:
        champion_foundation(registry, "karpa-foundation", home.store / "registry")
    message = str(stopped.value)
    assert "no champion of 'karpa-foundation'" in message and home.tracking_uri in message
    assert "karpa run" in message and "\n" not in message

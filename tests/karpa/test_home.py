"""The home's settings: how long karpa waits for a server it starts, and which setting wins."""

from __future__ import annotations

import pytest

from karpa.errors import ConfigError
from karpa.home import (
    DEFAULT_SERVER_TIMEOUT_S,
    PREFECT_EPHEMERAL_TIMEOUT_VAR,
    SERVER_TIMEOUT_VAR,
    ServerTimeout,
    ephemeral_server_timeout,
    server_timeout,
)


def test_server_timeout_defaults_to_karpas_and_reads_its_variable(monkeypatch):
    monkeypatch.delenv(SERVER_TIMEOUT_VAR, raising=False)
    monkeypatch.delenv(PREFECT_EPHEMERAL_TIMEOUT_VAR, raising=False)
    assert server_timeout() == ServerTimeout(DEFAULT_SERVER_TIMEOUT_S, SERVER_TIMEOUT_VAR)
    assert ephemeral_server_timeout() == server_timeout()
    monkeypatch.setenv(SERVER_TIMEOUT_VAR, "42.5")
    assert server_timeout() == ServerTimeout(42.5, SERVER_TIMEOUT_VAR)
    assert ephemeral_server_timeout() == ServerTimeout(42.5, SERVER_TIMEOUT_VAR)


def test_prefects_own_variable_wins_for_the_embedded_server_only(monkeypatch):
    monkeypatch.setenv(SERVER_TIMEOUT_VAR, "42")
    monkeypatch.setenv(PREFECT_EPHEMERAL_TIMEOUT_VAR, "7")
    assert ephemeral_server_timeout() == ServerTimeout(7.0, PREFECT_EPHEMERAL_TIMEOUT_VAR)
    assert server_timeout() == ServerTimeout(42.0, SERVER_TIMEOUT_VAR)


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "nan", "inf"])
def test_a_bad_timeout_is_one_sentence_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(SERVER_TIMEOUT_VAR, raw)
    with pytest.raises(ConfigError, match=rf"^{SERVER_TIMEOUT_VAR}='{raw}': must be a positive"):
        server_timeout()

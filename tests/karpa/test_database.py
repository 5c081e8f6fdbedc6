"""The database URL of `karpa deploy`: the forms a user writes, the driver URL each server
gets, one sentence for a bad or unreachable one, and never the password."""

from __future__ import annotations

import pytest

from karpa.database import (
    DATABASE_URL_VAR,
    DatabaseError,
    configured_database,
    ensure_databases,
    parse_database_url,
)
from karpa.servers import free_port

SECRET = "pa:ss@w/rd"  # characters that must be percent-encoded in a URL
ENCODED = "pa%3Ass%40w%2Frd"


@pytest.mark.parametrize(
    "scheme",
    ["postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2", "postgresql+asyncpg"],
)
def test_each_usual_form_gives_each_server_its_driver_and_database(scheme):
    url = parse_database_url(f"{scheme}://team:{ENCODED}@db.internal:6543/ml", "--database-url")
    assert (url.user, url.password, url.host, url.port) == ("team", SECRET, "db.internal", 6543)
    assert url.prefect_url() == "postgresql+asyncpg://team@db.internal:6543/ml_prefect"
    assert url.mlflow_url() == "postgresql+psycopg://team@db.internal:6543/ml_mlflow"
    assert url.server_env() == {"PGPASSWORD": SECRET}
    assert url.address == "team@db.internal:6543/ml"
    assert SECRET not in repr(url) and ENCODED not in str(url)


def test_defaults_port_database_and_no_password():
    url = parse_database_url("postgresql://team@db", "--database-url")
    assert (url.port, url.database, url.server_env()) == (5432, "karpa", {})
    assert url.prefect_url() == "postgresql+asyncpg://team@db:5432/karpa_prefect"


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (f"mysql://u:{ENCODED}@h/db", "is not PostgreSQL"),
        (f"sqlite:///{ENCODED}.db", "is not PostgreSQL"),
        (f"postgresql://u:{ENCODED}@/db", "no host"),
        (f"postgresql://u:{ENCODED}@h:notaport/db", "not a valid URL"),
        (f"postgresql://u:{ENCODED}@h/db?sslmode=require", "query options"),
    ],
)
def test_a_bad_url_is_one_sentence_naming_its_source_without_the_password(raw, rule):
    with pytest.raises(DatabaseError) as refused:
        parse_database_url(raw, "--database-url")
    message = str(refused.value)
    assert message.startswith("--database-url: ") and rule in message
    assert "\n" not in message and ENCODED not in message and SECRET not in message


def test_the_flag_wins_over_the_variable(monkeypatch):
    monkeypatch.setenv(DATABASE_URL_VAR, "postgresql://env@envhost/e")
    assert configured_database(None).host == "envhost"
    assert configured_database(None).source == DATABASE_URL_VAR
    assert configured_database("postgresql://flag@flaghost/f").host == "flaghost"
    monkeypatch.setenv(DATABASE_URL_VAR, " ")
    assert configured_database(None) is None


def test_an_unreachable_server_is_one_sentence_naming_postgresql_and_the_address():
    port = free_port()  # nothing listens there
    url = parse_database_url(f"postgresql://team:{ENCODED}@127.0.0.1:{port}/k", DATABASE_URL_VAR)
    with pytest.raises(DatabaseError) as refused:
        ensure_databases(url)
    message = str(refused.value)
    assert message.startswith(
        f"cannot connect to PostgreSQL at team@127.0.0.1:{port}/k ({DATABASE_URL_VAR}): "
    )
    assert "refused" in message.lower()
    assert "\n" not in message and SECRET not in message and ENCODED not in message

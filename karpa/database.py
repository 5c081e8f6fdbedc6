"""A team's PostgreSQL server for `karpa deploy`: one URL, a database for each server.

The user gives one URL (`--database-url`, else `KARPA_DATABASE_URL`) in any of the usual
forms (`postgresql://`, `postgres://`, `postgresql+psycopg://`, `postgresql+asyncpg://`…).
The Prefect server and the MLflow server each get a database of their own on that server,
named after the URL's (`<name>_prefect`, `<name>_mlflow`), created when missing, and each
is given the driver it runs on: asyncpg for Prefect (installed with Prefect), psycopg 3 for
MLflow's SQLAlchemy store.

The password never leaves this module in a URL: the servers get password-free URLs and the
password in `PGPASSWORD` (which libpq and asyncpg both read), and every message names the
server by `user@host:port/database` alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from karpa.errors import KarpaError

DATABASE_URL_VAR = "KARPA_DATABASE_URL"
SCHEMES = (
    "postgresql",
    "postgres",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
    "postgresql+pg8000",
)
DEFAULT_DATABASE = "karpa"
DEFAULT_PORT = 5432
CONNECT_TIMEOUT_S = 10
# The servers each karpa deploy runs on the URL, and the suffix of their database.
COMPONENTS = {"prefect": "Prefect server", "mlflow": "MLflow server"}


class DatabaseError(KarpaError):
    """The database URL is malformed, or its server cannot be reached or used."""


@dataclass(frozen=True)
class DatabaseUrl:
    """A PostgreSQL address, parsed once; `password` is never part of what it prints."""

    user: str | None
    password: str | None
    host: str
    port: int
    database: str
    source: str  # where the URL came from: "--database-url" or the variable's name

    @property
    def address(self) -> str:
        """`user@host:port/database`: what messages and logs say, never the password."""
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.host}:{self.port}/{self.database}"

    def database_of(self, component: str) -> str:
        return f"{self.database}_{component}"

    def sqlalchemy_url(self, driver: str, database: str | None = None) -> str:
        """A password-free URL for the given driver (`asyncpg`, `psycopg`)."""
        who = f"{quote(self.user, safe='')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql+{driver}://{who}{host}:{self.port}/{database or self.database}"

    def prefect_url(self) -> str:
        return self.sqlalchemy_url("asyncpg", self.database_of("prefect"))

    def mlflow_url(self) -> str:
        return self.sqlalchemy_url("psycopg", self.database_of("mlflow"))

    def server_env(self) -> dict[str, str]:
        """What a server's environment needs beside its URL: the password, if any."""
        return {"PGPASSWORD": self.password} if self.password is not None else {}

    def __repr__(self) -> str:  # a dataclass repr would show the password
        return f"DatabaseUrl({self.address!r}, source={self.source!r})"

    __str__ = __repr__


def parse_database_url(raw: str, source: str) -> DatabaseUrl:
    """A PostgreSQL URL, or one sentence naming its source and the rule it breaks (the
    password, if it could be found, is not repeated)."""
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError as exc:
        raise DatabaseError(
            f"{source}: not a valid URL ({exc}); expected postgresql://USER:PASSWORD@HOST:PORT/NAME"
        ) from None
    if parts.scheme not in SCHEMES:
        raise DatabaseError(
            f"{source}: the scheme {parts.scheme + '://' if parts.scheme else '(none)'} is not "
            f"PostgreSQL; expected one of {', '.join(s + '://' for s in SCHEMES[:4])}"
        )
    if not parts.hostname:
        raise DatabaseError(
            f"{source}: no host in the URL; expected postgresql://USER:PASSWORD@HOST:PORT/NAME"
        )
    database = unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE
    if "/" in database:
        raise DatabaseError(f"{source}: the database name {database!r} may not contain '/'")
    if parts.query:
        raise DatabaseError(
            f"{source}: query options ({parts.query.split('=')[0]}=…) are not supported; "
            "give user, password, host, port and database only"
        )
    return DatabaseUrl(
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=port or DEFAULT_PORT,
        database=database,
        source=source,
    )


def configured_database(flag: str | None) -> DatabaseUrl | None:
    """The URL of `--database-url`, else of `KARPA_DATABASE_URL`, else None (the home's
    SQLite stores)."""
    if flag:
        return parse_database_url(flag, "--database-url")
    raw = os.environ.get(DATABASE_URL_VAR, "").strip()
    return parse_database_url(raw, DATABASE_URL_VAR) if raw else None


def _reason(exc: Exception, url: DatabaseUrl) -> str:
    """The driver's own reason on one line, with the password blanked should it appear."""
    text = " ".join(str(exc).split())
    if url.password:
        text = text.replace(url.password, "***")
    return text.removeprefix("connection failed: ")


def ensure_databases(url: DatabaseUrl) -> list[str]:
    """Create the Prefect and MLflow databases on the server when missing; the names of
    those created. An unreachable server, refused credentials or missing rights are one
    sentence naming PostgreSQL and the address."""
    import psycopg
    from psycopg import sql

    def connect(database: str):
        return psycopg.connect(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            dbname=database,
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=True,
        )

    try:
        try:
            conn = connect(url.database)
        except psycopg.OperationalError as exc:
            if "does not exist" not in str(exc):
                raise
            conn = connect("postgres")  # the given database is only a prefix here
        with conn:
            existing = {
                row[0] for row in conn.execute("SELECT datname FROM pg_database").fetchall()
            }
            created = []
            for component in COMPONENTS:
                name = url.database_of(component)
                if name not in existing:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    created.append(name)
            return created
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {url.address} ({url.source}): {_reason(exc, url)}"
        ) from None
    except psycopg.Error as exc:
        raise DatabaseError(
            f"PostgreSQL at {url.address} ({url.source}) refused to create the databases "
            f"{url.database_of('prefect')} and {url.database_of('mlflow')}: "
            f"{_reason(exc, url)}; create them or grant CREATEDB"
        ) from None

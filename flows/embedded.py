"""The embedded Prefect API that `karpa run` uses when no Prefect server is configured.

Prefect starts a temporary API server (a subprocess on a free local port) the first time a
flow needs one and waits 20 s for it; on a cold 2-core machine the first run on a fresh home
took longer and died with a traceback. karpa starts that same server itself, before any
flow run exists, so that the wait is karpa's setting (`KARPA_SERVER_TIMEOUT`, unless the
user set Prefect's own `PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`), a server that
does not answer is one sentence with nothing half-started, and Prefect's own lazy start
later finds the server running and reuses it. Prefect stops it when the process exits.
"""

from __future__ import annotations

import os

from karpa.errors import ServerStartError
from karpa.home import Home, ephemeral_server_timeout
from karpa.servers import prepare_prefect_database


def start_embedded_api(home: Home) -> str | None:
    """Start (or find running) the embedded Prefect API for this process; return its URL,
    or None when `PREFECT_API_URL` names a server to use instead."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    prepare_prefect_database(home)
    from prefect.server.api.server import SubprocessASGIServer

    wait = ephemeral_server_timeout()
    server = SubprocessASGIServer()
    try:
        server.start(timeout=wait.seconds)  # type: ignore[arg-type]  # a float works
    except Exception as exc:  # Prefect raises RuntimeError on time-out, HTTPError on a 5xx
        server.stop()
        if "Timed out" in str(exc):
            raise ServerStartError(
                f"the embedded Prefect API server did not answer within {wait.seconds:g} s "
                f"(home {home.root}); raise {wait.setting}, or set PREFECT_API_URL to a "
                "running Prefect server"
            ) from None
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServerStartError(
            f"the embedded Prefect API server failed to start (home {home.root}): {first_line}"
        ) from None
    return server.api_url

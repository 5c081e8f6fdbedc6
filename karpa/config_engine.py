"""Where the data stages run: `engine: local` (one process, the default) or `engine: dask`.

With `dask`, validation fans out one Prefect task per partition onto a Dask cluster,
through Prefect's own `prefect-dask` task runner: an existing scheduler at
`engine_address`, or a local cluster that karpa starts for the run and closes after it.
The results are the same as with `local`; only where the work runs differs.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Engine = Literal["local", "dask"]
ENGINES: tuple[str, ...] = ("local", "dask")

# tcp://host:port (Dask's default protocol), or tls:// for a secured scheduler.
ADDRESS_PATTERN = r"^(tcp|tls)://[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$"


class DaskConfig(BaseModel):
    """The Dask side of `engine: dask`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Worker processes of the local cluster karpa starts when no "
        "engine_address is given (one thread each).",
    )
    partition_rows: int = Field(
        250_000,
        ge=100,
        le=10_000_000,
        description="Rows per validation partition: what one worker holds in memory at once.",
    )
    partition_mb: int = Field(
        4,
        ge=1,
        le=65_536,
        description="About how many MiB of a table's uncompressed Parquet data one "
        "validation partition holds (the rows of images or long texts are many times an "
        "event's); whichever of this and partition_rows is reached first ends a partition.",
    )

    @property
    def partition_bytes(self) -> int:
        return self.partition_mb * 2**20

    memory_limit: str = Field(
        "auto",
        pattern=r"^(auto|[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|KiB|MiB|GiB))$",
        description="Memory limit per local worker (Dask's form: auto, 2GiB, 500MB).",
    )
    connect_timeout_s: float = Field(
        10.0, gt=0, le=600, description="How long to wait for the scheduler at engine_address."
    )


def address_host(address: str) -> str:
    """The host part of a scheduler address (`tcp://10.0.0.5:8786` -> `10.0.0.5`)."""
    match = re.match(r"^[a-z]+://(.*):[0-9]+$", address)
    return match.group(1) if match else address

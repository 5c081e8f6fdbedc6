"""The pretrain keys that say how many processes pretrain, on how many machines.

`pretrain.nproc_per_node` (default 1: one process, the pipeline's own) and, for several
machines, `pretrain.nnodes`, `pretrain.node_rank` and `pretrain.rdzv_endpoint`. With more
than one process the pretrain stage launches `torchrun` (karpa/pretraining/torchrun.py).
They are mixed into `PretrainConfig` (karpa/config.py) so that the keys stay flat under
`pretrain.`; none of them changes what is learned from a global batch, so none is part
of the foundation's key (the same checkpoint resumes on another layout).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

# host:port, the host a name, an IPv4 address or a bracketed IPv6 address.
_ENDPOINT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$")


class TorchrunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nproc_per_node: int = Field(
        1,
        ge=1,
        le=64,
        description="Pretraining processes on this machine (one per GPU on CUDA); above 1 "
        "the pretrain stage launches torchrun.",
    )
    nnodes: int = Field(
        1, ge=1, le=1024, description="Machines that pretrain together (torchrun --nnodes)."
    )
    node_rank: int = Field(
        0, ge=0, le=1023, description="This machine's rank among them (0: the one that reports)."
    )
    rdzv_endpoint: str | None = Field(
        None,
        description="host:port where the machines meet (torchrun --rdzv-endpoint); needed "
        "when nnodes > 1.",
    )

    @model_validator(mode="after")
    def _layout(self) -> TorchrunSettings:
        if self.rdzv_endpoint is not None:
            match = _ENDPOINT.match(self.rdzv_endpoint)
            if match is None or not 0 < int(match.group(3)) < 65536:
                raise ValueError(
                    f"rdzv_endpoint {self.rdzv_endpoint!r} is not host:port "
                    "(for example 10.0.0.5:29400)"
                )
        if self.nnodes > 1 and self.rdzv_endpoint is None:
            raise ValueError(
                f"nnodes is {self.nnodes} but rdzv_endpoint is not set: machines that "
                "pretrain together meet at a host:port that every one of them can reach"
            )
        if self.node_rank >= self.nnodes:
            raise ValueError(
                f"node_rank {self.node_rank} is not below nnodes {self.nnodes} "
                f"(the machines are ranked 0 to {self.nnodes - 1})"
            )
        return self

    @property
    def distributed(self) -> bool:
        """Whether pretraining runs under torchrun rather than in the pipeline's process."""
        return self.nproc_per_node > 1 or self.nnodes > 1

"""The CPU runtime: one command gives the same weights twice, whatever the thread count."""

from __future__ import annotations

import pytest
import torch

from karpa_models.runtime import init_runtime


@pytest.fixture
def two_threads():
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before[0])
    torch.use_deterministic_algorithms(before[1])


def _indexed_grads(repeats: int = 6) -> list[torch.Tensor]:
    """The gradient of a table read by advanced indexing (a gather of item rows), whose
    backward is index_put_(accumulate=True), computed `repeats` times."""
    g = torch.Generator().manual_seed(0)
    table = torch.randn(500, 64, generator=g, requires_grad=True)
    rows = torch.randint(0, 500, (100_000,), generator=g)
    weights = torch.randn(100_000, 64, generator=g)
    grads = []
    for _ in range(repeats):
        table.grad = None
        (table[rows] * weights).sum().backward()
        grads.append(table.grad.clone())
    return grads


def test_a_cpu_runtime_gives_indexed_gradients_that_are_the_same_every_time(two_threads):
    init_runtime("cpu")
    assert torch.are_deterministic_algorithms_enabled()
    grads = _indexed_grads()
    assert all(torch.equal(grads[0], g) for g in grads[1:])

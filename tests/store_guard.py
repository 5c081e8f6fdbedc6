"""A pytest plugin: a test errors if it leaves MLflow's own default store in the folder
pytest was started from (the checkout, under `make test`).

MLflow falls back to `sqlite:///mlflow.db` (or a `mlruns/` folder) in the working directory
when a call is not told which store to use. karpa always names its store, so one of those
appearing in the directory pytest was started from means some call fell back to MLflow's
default: the kind of leak that made a registry call read the wrong store. The check runs
around each test's whole protocol (setup, call, teardown), so module and session fixtures
set up or torn down there are covered too, and it reports through the teardown report, which
pytest-xdist carries back from its workers like any other.

Self-contained on purpose: tests/conftest.py registers it, and its own test runs it as the
conftest of a throwaway project.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# What MLflow creates in the working directory when no store is named.
DEFAULT_STORES = ("mlflow.db", "mlruns")

_BEFORE = pytest.StashKey[dict[Path, float | None]]()


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _stamps(config: pytest.Config) -> dict[Path, float | None]:
    root = config.invocation_params.dir
    return {root / name: _mtime(root / name) for name in DEFAULT_STORES}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    item.stash[_BEFORE] = _stamps(item.config)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    before = item.stash.get(_BEFORE, None)
    if call.when != "teardown" or before is None:
        return
    after = _stamps(item.config)
    # Created or written to: a store that was already there (a developer's own `mlflow ui`,
    # say) is left alone until a test writes to it.
    touched = sorted(str(p) for p, t in after.items() if t is not None and t != before[p])
    if touched and not report.failed:
        report.outcome = "failed"
        report.longrepr = (
            f"{', '.join(touched)} created or changed during this test: some MLflow call fell "
            "back to MLflow's default store in the working directory instead of the store "
            "karpa named (under pytest-xdist, the test beside it on another worker may be "
            "the one)"
        )

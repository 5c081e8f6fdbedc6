"""The two UIs in a real browser (Debian's headless Chromium): the Prefect deployment page
shows the run, the MLflow run page shows it with its parameters and headline metrics, and
the MLflow run's link leads back to the Prefect flow run. Screenshots are kept under
`.karpa/test-artifacts/`."""

from __future__ import annotations

import os
import shutil

import pytest

from karpa.servers import free_port
from karpa.tracking.runs import run_page_url

from .conftest import artifacts_dir, mlflow_parent
from .webdriver import Browser, missing

pytestmark = pytest.mark.server


@pytest.fixture
def browser(tmp_path):
    if why := missing():
        if os.environ.get("CI") == "true":  # `make test` installs it: missing is a failure
            pytest.fail(f"CI=true and the browser test cannot run: {why}")
        pytest.skip(why)
    b = Browser(free_port(), tmp_path / "profile", tmp_path / "chromedriver.log")
    try:
        yield b
    finally:
        b.close()


def _keep(path):
    shutil.copy2(path, artifacts_dir() / path.name)
    return path


def test_uis_show_the_run_its_parameters_and_metrics(stack, validated, browser, tmp_path):
    flow_run = validated.flow_run
    parent = mlflow_parent(stack, flow_run.id)

    browser.open(f"{stack.ui_url}/deployments/deployment/{validated.deployment_id}")
    browser.wait_for_text(["validate-data", "karpa-local", flow_run.name, "Completed"])
    _keep(browser.screenshot(tmp_path / "prefect-deployment.png"))

    browser.open(run_page_url(stack.mlflow_url, parent.info.experiment_id, parent.info.run_id))
    rows_in = f"{int(parent.data.metrics['rows.in'])}"
    text = browser.wait_for_text(
        [parent.info.run_name, "rows.in", rows_in, "seconds.validate", "pretrain.steps"]
    )
    assert flow_run.name in text  # the run name carries the Prefect flow run's name
    _keep(browser.screenshot(tmp_path / "mlflow-run.png"))

    browser.open(parent.data.tags["prefect.flow_run_url"])
    browser.wait_for_text([flow_run.name, "validate-data", "Completed"])
    _keep(browser.screenshot(tmp_path / "prefect-flow-run.png"))


def test_uis_show_the_finetune_run_and_its_headline(stack, finetuned, browser, tmp_path):
    """The on-demand fine-tune created through the API: its deployment page in Prefect, and
    its MLflow run with the parameters it was given and the application's headline."""
    flow_run = finetuned.flow_run
    parent = mlflow_parent(stack, flow_run.id)

    browser.open(f"{stack.ui_url}/deployments/deployment/{finetuned.deployment_id}")
    browser.wait_for_text(["finetune", "karpa-local", flow_run.name, "Completed"])
    _keep(browser.screenshot(tmp_path / "prefect-finetune-deployment.png"))

    browser.open(run_page_url(stack.mlflow_url, parent.info.experiment_id, parent.info.run_id))
    text = browser.wait_for_text(
        [parent.info.run_name, "intent.headline", "seconds.finetune", "finetune.foundation"]
    )
    assert flow_run.name in text and "champion" in text
    _keep(browser.screenshot(tmp_path / "mlflow-finetune-run.png"))

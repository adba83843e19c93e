"""The MLflow UI on nnplug's runs, in a real browser.

A small store of runs is served by ``mlflow server`` on 127.0.0.1 and opened in Debian's headless
Chromium, driven by Playwright (never a browser Playwright downloads). Set ``NNPLUG_UPDATE_DOCS=1``
to write the screenshot the README shows, docs/mlflow-ui.png; otherwise it goes to a temporary
folder, so a test run changes no tracked file.
"""
import os
from pathlib import Path

import pytest

from servers import mlflow_server

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling hosts this machine cannot reach.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DOCS = Path(__file__).resolve().parent.parent / "docs"
JOBS = {"optim=sgd": [0.31, 0.62, 0.78, 0.84], "optim=adam": [0.35, 0.88, 0.94, 0.97]}
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A SQLite store holding an experiment with one finished run per job in ``JOBS``."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("nnplug", artifact_location=(folder / "mlartifacts").as_uri())
    for name, curve in JOBS.items():
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        for epoch, value in enumerate(curve):
            client.log_metric(run_id, "val_acc", value, step=epoch)
        client.log_metric(run_id, "best_val_acc", max(curve))
        client.log_param(run_id, "optim.name", name.split("=")[1])
        client.set_terminated(run_id)
    return {"uri": uri, "folder": folder, "experiment_id": experiment_id}


@pytest.fixture(scope="module")
def ui(store):
    with mlflow_server(store["uri"], store["folder"] / "served-artifacts") as url:
        yield url


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def open_training_runs(page, ui, experiment_id):
    """The experiment's runs page in the UI's model-training mode (MLflow 3 opens in GenAI mode)."""
    page.goto(f"{ui}/#/experiments/{experiment_id}/runs")
    page.get_by_text(next(iter(JOBS))).first.wait_for()
    assistant = page.get_by_role("button", name="Close")
    if assistant.count():  # the assistant panel opens beside the runs and hides their columns
        assistant.first.click()
    mode = page.get_by_text("Model training", exact=True)
    if mode.count():
        mode.first.click()
    for name in JOBS:  # the table is drawn again in the new mode
        page.get_by_text(name, exact=True).first.wait_for()


def test_the_runs_page_shows_the_experiment_its_runs_and_their_metric_charts(page, ui, store, tmp_path):
    open_training_runs(page, ui, store["experiment_id"])
    assert page.get_by_test_id("experiment-link").first.inner_text() == "nnplug"
    assert "2 matching runs" in page.inner_text("body")

    page.locator('label:has(input[name="runs-view-mode"][value="CHART"])').click()
    page.get_by_text("val_acc", exact=True).first.wait_for()
    page.get_by_text("best_val_acc", exact=True).first.wait_for()
    for best in ("0.97", "0.84"):  # each run's best_val_acc, drawn as a bar label
        page.get_by_text(best, exact=True).first.wait_for()
    page.wait_for_timeout(1000)  # let the charts finish their entry animation
    target = DOCS / "mlflow-ui.png" if os.environ.get("NNPLUG_UPDATE_DOCS") else tmp_path / "mlflow-ui.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 20_000  # a real page, not a blank one


def test_a_run_page_shows_its_metrics_and_params(page, ui, store):
    open_training_runs(page, ui, store["experiment_id"])
    page.get_by_text("optim=adam", exact=True).first.click()
    page.get_by_text("best_val_acc", exact=True).first.wait_for()
    assert "/runs/" in page.url
    body = page.inner_text("body")
    assert "optim.name" in body and "adam" in body
    assert "0.97" in body

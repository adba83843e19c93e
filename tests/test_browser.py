"""The MLflow UI on a real nnplug sweep, in a real browser.

A small sweep runs through ``python -m nnplug -m`` into the default local store; the UI command
nnplug prints at the end is started on 127.0.0.1 and the page is opened in Debian's headless
Chromium, driven by Playwright (never a browser Playwright downloads).

Set ``NNPLUG_UPDATE_DOCS=1`` to write the screenshot the README shows, docs/mlflow-ui.png;
otherwise it goes to a temporary folder, so a test run changes no tracked file.
"""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from servers import mlflow_server
from system import require_debian_package

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling hosts this machine cannot reach.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DOCS = Path(__file__).resolve().parent.parent / "docs"
SWEEP = ["optim=sgd,sgd_momentum,adam", "solver.num_epochs=5", "solver.verbose=false"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module", autouse=True)
def chromium():
    """Before the sweep and the server start: without a browser there is nothing to look with."""
    require_debian_package(os.path.exists(CHROMIUM), "chromium")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Run the sweep; return the UI command it printed and its runs as MLflow reads them."""
    from mlflow import MlflowClient

    cwd = tmp_path_factory.mktemp("project")
    result = subprocess.run([sys.executable, "-m", "nnplug", "-m", *SWEEP], cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    printed = re.findall(r"Open the UI: (mlflow ui .*), then open (http://127.0.0.1:5000/\S+)",
                         result.stdout + result.stderr)
    assert printed, "nnplug did not print the command that starts the UI and the page to open"
    command, page = shlex.split(printed[-1][0]), printed[-1][1]
    uri = command[command.index("--backend-store-uri") + 1]
    assert uri == f"sqlite:///{cwd / 'outputs' / 'mlflow.db'}"  # the default store, by absolute path

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("nnplug")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # a model-training experiment
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    # the sweep ends with its jobs ranked, and one picture of their validation curves on the parent
    ranking = result.stdout[result.stdout.index("Sweep ranking"):].splitlines()
    ranked = sorted(children, key=lambda r: -r.data.metrics["best_val_acc"])
    assert [line.split()[0] for line in ranking[3:6]] == ["1", "2", "3"]
    assert ranked[0].info.run_name in ranking[3]
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["sweep_val_acc.png"]
    return {"command": command, "page": page.replace("http://127.0.0.1:5000", ""), "cwd": cwd,
            "experiment_id": experiment.experiment_id, "parent": parent, "children": children, "client": client}


@pytest.fixture(scope="module")
def ui(sweep):
    with mlflow_server(sweep["command"], sweep["cwd"]) as url:
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


def open_runs(page, ui, sweep):
    """The page nnplug printed, on the server the test started: the experiment's runs, at once."""
    page.goto(f"{ui}{sweep['page']}")
    page.get_by_text(sweep["parent"].info.run_name).first.wait_for()
    assistant = page.get_by_role("button", name="Close")
    if assistant.count():  # the assistant panel opens beside the runs and hides their columns
        assistant.first.click()


def test_the_ui_opens_on_the_experiments_runs_not_on_its_genai_view(page, ui, sweep):
    open_runs(page, ui, sweep)

    assert page.get_by_role("heading", name="Runs", exact=True).count() == 1
    for genai in ("Training runs", "Detect Issues", "Judges", "Traces\n0"):  # the GenAI view's own
        assert genai not in page.inner_text("body"), genai


def test_the_sweep_appears_as_a_parent_run_with_its_jobs_and_their_metrics(page, ui, sweep, tmp_path):
    open_runs(page, ui, sweep)
    assert page.get_by_test_id("experiment-link").first.inner_text() == "nnplug"
    assert f"{len(sweep['children']) + 1} matching runs" in page.inner_text("body")
    page.locator('[role="gridcell"][col-id*="Run Name"] button').first.click()  # unfold the parent
    for child in sweep["children"]:
        page.get_by_text(child.info.run_name, exact=True).first.wait_for()

    page.locator('label:has(input[name="runs-view-mode"][value="CHART"])').click()
    page.get_by_text("best_val_acc", exact=True).first.wait_for()
    # the charts the page opens on (it draws the others as they are scrolled to): the run's own, sorted by
    # name, before the per-layer diagnostics
    titles = page.locator("h4").all_inner_texts()
    assert titles[:4] == ["best_val_acc", "epoch_loss", "learning_rate", "loss"], titles
    assert not [title for title in titles if title.startswith(("watch.", "diag/"))], titles
    # each run also has its per-layer watch.* charts, drawn only when scrolled to: filter first
    page.get_by_placeholder("Search metric charts").fill("val_acc")
    page.get_by_text("best_val_acc", exact=True).first.wait_for()
    page.get_by_text("val_acc", exact=True).first.wait_for()
    for child in sweep["children"]:  # each job's best_val_acc is a labelled bar
        page.get_by_text(f"{child.data.metrics['best_val_acc']:.2f}", exact=True).first.wait_for()
    page.wait_for_timeout(1000)  # let the charts finish their entry animation
    target = DOCS / "mlflow-ui.png" if os.environ.get("NNPLUG_UPDATE_DOCS") else tmp_path / "mlflow-ui.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 20_000  # a drawn page, not a blank one


def test_a_job_page_shows_its_metrics_params_and_curves(page, ui, sweep):
    child = max(sweep["children"], key=lambda r: r.data.metrics["best_val_acc"])
    page.goto(f"{ui}/#/experiments/{sweep['experiment_id']}/runs/{child.info.run_id}")
    page.get_by_text("test_acc", exact=True).first.wait_for()
    body = page.inner_text("body")
    for metric in ("best_val_acc", "test_acc"):
        assert f"{metric}\n{child.data.metrics[metric]}" in body
    assert f"optim.name\n{child.data.params['optim.name']}" in body

    page.get_by_text("Artifacts", exact=True).first.click()
    for picture in ("confusion_matrix.png", "misclassified.png", "first_layer_weights.png"):
        page.get_by_text(picture, exact=True).first.wait_for()
    page.get_by_text("curves.png", exact=True).first.click()
    image = page.locator('img[alt="curves.png"]')  # its src is a blob the page fetched from the server
    image.first.wait_for()
    from PIL import Image

    with Image.open(Path(child.data.tags["nnplug.output_dir"]) / "curves.png") as drawn:
        assert image.first.evaluate("img => img.complete && img.naturalWidth") == drawn.width


def test_each_jobs_model_is_named_after_it_with_its_end_metrics_and_params(page, ui, sweep):
    child = max(sweep["children"], key=lambda r: r.data.metrics["best_val_acc"])
    model_id = child.data.tags["nnplug.model_id"]
    page.goto(f"{ui}/#/experiments/{sweep['experiment_id']}/models/{model_id}")
    name = child.info.run_name.replace(":", "-")  # a LoggedModel's name may hold no ':'
    page.get_by_text(name, exact=True).first.wait_for()
    page.get_by_text("Metrics (3)", exact=True).first.wait_for()

    body = page.inner_text("body")
    for metric in ("best_val_acc", "test_acc", "train_seconds"):
        assert metric in body, metric
    assert f"Parameters ({len(child.data.params)})" in body
    assert sweep["client"].get_logged_model(model_id).name == name

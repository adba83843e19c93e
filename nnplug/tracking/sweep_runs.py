"""A sweep as one MLflow parent run whose children are its jobs' runs.

MLflow is imported inside the functions: importing it takes seconds (``nnplug.tracking``).
"""
from nnplug.tracking import models, runs
from nnplug.tracking.store import connect, open_experiment

BEST_METRIC = "best_val_acc"


def start_sweep_run(uri, experiment, run_name, tags):
    """Create the parent run of a sweep; ``(its id, its experiment's id)``. The jobs become its children."""
    client, experiment_id = open_experiment(uri, experiment)
    return runs.create_run(client, experiment_id, run_name, tags=tags), experiment_id


def resume_sweep_run(uri, run_id):
    """Reopen the parent run of a stopped sweep that is resumed; its experiment's id."""
    return runs.reopen_run(connect(uri), run_id).info.experiment_id


def sweep_children(client, parent_run_id):
    """The runs of a sweep's jobs: the children of its parent run."""
    parent = client.get_run(parent_run_id)
    return client.search_runs([parent.info.experiment_id],
                              filter_string=f"tags.`{runs.PARENT_RUN_TAG}` = '{parent_run_id}'", max_results=50000)


def ranked(children):
    """A sweep's children best first, by the one rule for the whole sweep (its ranking table, the
    ``Best:`` line, the parent's tags and the registered model): the finished runs by the highest
    ``best_val_acc``, of equal ones the lowest job number (the first in the sweep's order, as Optuna's
    best trial and scikit-learn's ``GridSearchCV`` take the first of equals; never the store's or the
    launcher's order); then the runs that did not finish or have no score, by job number."""
    def key(run):
        scored = run.info.status == "FINISHED" and BEST_METRIC in run.data.metrics
        return not scored, -run.data.metrics.get(BEST_METRIC, 0.0) if scored else 0.0, job_number(run)

    return sorted(children, key=key)


def job_number(run):
    """The run's job number in its sweep (its tag), else its start time: what orders equals."""
    number = run.data.tags.get(runs.JOB_TAG, "")
    return (0, int(number)) if number.isdigit() else (1, run.info.start_time)


def finish_sweep_run(uri, parent_run_id, completed=True):
    """Give the parent run its best child's params, metrics and name, end it, and return what it found.

    Returns ``(best child run or None, the children best first, number failed)`` (``ranked``). The
    parent ends FAILED when the sweep did not complete or no child finished. A stopped sweep gets its best child's metrics and
    tags but not its params: MLflow params cannot change, and the resumed sweep's best may differ.
    """
    from mlflow.entities import Metric, Param, RunTag

    client = connect(uri)
    children = ranked(sweep_children(client, parent_run_id))
    failed = sum(c.info.status == "FAILED" for c in children)
    tags = [RunTag("nnplug.children", str(len(children))), RunTag("nnplug.children_failed", str(failed))]
    if not completed:
        tags.append(RunTag(runs.FAILURE_TAG, f"the sweep ended with an error; {failed} of {len(children)} runs failed"))
    best = children[0] if children and children[0].info.status == "FINISHED" and BEST_METRIC in \
        children[0].data.metrics else None
    metrics, params = [], []
    if best is not None:
        now = runs.now_ms()
        metrics = [Metric(key, value, now, 0) for key, value in best.data.metrics.items()
                   if key in (BEST_METRIC, "test_acc")]
        if completed:
            params = [Param(key, value) for key, value in best.data.params.items()]
        tags += [RunTag("nnplug.best_child_run_id", best.info.run_id),
                 RunTag("nnplug.best_child_run_name", best.info.run_name or "")]
    try:
        client.log_batch(parent_run_id, metrics=metrics, params=params, tags=tags)
    finally:
        client.set_terminated(parent_run_id, "FINISHED" if completed and best is not None else "FAILED")
    return best, children, failed


def register_best(uri, parent_run_id, best, name):
    """Register the best child's model as the next version of ``name``; the parent run names it in its tags.

    Returns the ``ModelVersion``.
    """
    from mlflow.entities import RunTag

    client = connect(uri)
    version = models.register(client, name, best.info.run_id)
    client.log_batch(parent_run_id, tags=[RunTag("nnplug.registered_model", name),
                                          RunTag("nnplug.registered_version", str(version.version))])
    return version


def validation_curves(uri, children):
    """Each child's validation accuracy per epoch, by run name: ``{name: [acc, ...]}``."""
    client = connect(uri)
    return {child.info.run_name: [m.value for m in sorted(client.get_metric_history(child.info.run_id, "val_acc"),
                                                          key=lambda m: m.step)]
            for child in children}


def log_figure(uri, run_id, figure, artifact_file):
    """Log a matplotlib figure as a PNG artifact of run ``run_id``."""
    connect(uri).log_figure(run_id, figure, artifact_file)

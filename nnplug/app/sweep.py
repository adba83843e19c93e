"""The Hydra callback that checks a sweep, then gives it one MLflow parent run with its jobs as children.

On multirun start, in the sweep process and before any job: every job's config is composed and
validated (an invalid job stops the sweep before anything exists); the tracking store is opened
(a new SQLite store is created here, once) and the parent run created. Its id goes into a file in
the sweep folder, where every job reads it, whichever process or machine runs the job. On
multirun end the parent gets the best child's params and metrics and a tag naming it, the jobs
are ranked and their validation curves drawn; with ``tracking.register=NAME`` the best child's
model becomes the next version of NAME (jobs do not register their own) and the parent names it.
Hydra skips multirun end when the sweeper raises (the basic sweeper does after a failed job): the
command then ends the parent FAILED itself (``end_unfinished``) as it returns.

A sweep resumed in its folder (``solver.resume=true hydra.sweep.dir=...``) reopens the parent run
that folder names, and each job resumes its own run (``nnplug.app.experiment``).
"""
import itertools
import logging
from pathlib import Path

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback

from nnplug.app import stopping
from nnplug.app.errors import ConfigError, hydra_one_line, is_user_error, print_error
from nnplug.app.validate import validate
from nnplug.contract.registry import default_registry
from nnplug.display.plots import save, sweep_curves
from nnplug.display.tables import jobs_from_runs, print_ranking
from nnplug.tracking import store, sweep_runs
from nnplug.tracking.store import ui_hint

log = logging.getLogger(__name__)

PARENT_RUN_FILE = "mlflow_parent_run_id"
_unfinished = []  # the sweeps of this process whose parent run Hydra has not ended (on_multirun_end)


def sweep_dir(hydra_cfg):
    """The absolute sweep folder (the Hydra sweep dir is relative to where nnplug was started)."""
    return Path(hydra_cfg.runtime.cwd) / str(hydra_cfg.sweep.dir)


def parent_run_id(hydra_cfg):
    """The parent run id a sweep job logs under; None outside a sweep or when it has none."""
    path = sweep_dir(hydra_cfg) / PARENT_RUN_FILE
    return path.read_text().strip() if path.is_file() else None


def job_overrides(task_overrides):
    """Every job's overrides of a sweep's discrete choices (``optim=sgd,adam``), in Hydra's order.

    Overrides a sweeper searches (``interval(...)``, ``tag(log, ...)``) are left to the sweeper.
    """
    choices = []
    for override in OverridesParser.create().parse_overrides(list(task_overrides)):
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices.append([f"{key}={override.get_value_element_as_str()}"])
        elif override.is_discrete_sweep():
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
    return [list(combination) for combination in itertools.product(*choices)]


def check_jobs(config):
    """Compose and validate every job of the sweep; ``ConfigError`` naming the job of each problem."""
    hydra_overrides = [o for o in config.hydra.overrides.hydra if not o.startswith("hydra.mode=")]
    problems = []
    for number, overrides in enumerate(job_overrides(config.hydra.overrides.task)):
        try:
            validate(compose(config_name="config", overrides=[*overrides, *hydra_overrides]), default_registry())
        except ConfigError as error:
            problems += [f"job {number} ({' '.join(overrides)}): {problem}" for problem in error.problems]
        except HydraException as error:  # an option missing from a group, a key not in the config
            problems.append(f"job {number} ({' '.join(overrides)}): {hydra_one_line(error)}")
    if problems:
        raise ConfigError(problems)


class SweepTracking(Callback):
    def __init__(self):
        self.uri = None
        self.run_id = None
        self.experiment_id = None
        self.folder = None
        self.register = None

    def on_multirun_start(self, config, **kwargs):
        try:
            check_jobs(config)
            self._start(config)
        except Exception as error:  # an invalid job, the tracking server is down, the parent run is gone, ...
            if is_user_error(error) and not config.hydra.verbose:
                print_error(error)
            else:
                log.exception("the sweep could not be started")
            # Hydra turns an exception raised here into a warning and runs the jobs anyway, with
            # no parent run; a sweep that cannot be tracked must not start.
            raise SystemExit(1) from None
        _unfinished.append(self)
        stopping.watch_sweep(self.folder, resumable=bool(config.solver.checkpoint))

    def _start(self, config):
        hydra_cfg = config.hydra
        self.uri = store.tracking_uri(config.tracking.uri, hydra_cfg.runtime.cwd)
        self.register = config.tracking.get("register")
        folder = self.folder = sweep_dir(hydra_cfg)
        parent_file = folder / PARENT_RUN_FILE
        if config.solver.resume and parent_file.is_file():
            self.run_id = parent_file.read_text().strip()
            self.experiment_id = sweep_runs.resume_sweep_run(self.uri, self.run_id)
            log.info(f"Resuming the sweep in {folder}: MLflow parent run {self.run_id} at {self.uri}")
            return
        if config.solver.resume:
            log.info(f"solver.resume=true: no sweep to resume in {folder}; starting it")
        overrides = " ".join(hydra_cfg.overrides.task)
        # Hydra adds hydra.mode=MULTIRUN for -m; the launcher and sweeper choices are the user's.
        chosen = [o for o in hydra_cfg.overrides.hydra if not o.startswith("hydra.mode=")]
        self.run_id, self.experiment_id = sweep_runs.start_sweep_run(
            self.uri,
            config.tracking.experiment,
            run_name=f"sweep {overrides}".strip(),
            tags={
                "nnplug.sweep": "parent",
                "nnplug.command": " ".join(["nnplug", "-m", *hydra_cfg.overrides.task, *chosen]),
                "nnplug.sweep_dir": str(folder),
                "nnplug.sweeper": hydra_cfg.sweeper._target_.rsplit(".", 1)[-1],
                "nnplug.launcher": hydra_cfg.launcher._target_.rsplit(".", 1)[-1],
            },
        )
        folder.mkdir(parents=True, exist_ok=True)
        parent_file.write_text(self.run_id + "\n")
        log.info(f"MLflow parent run {self.run_id} at {self.uri}")

    def on_multirun_end(self, config, **kwargs):
        _unfinished.remove(self)
        children = self._finish(completed=True)
        if children:
            self._rank_jobs(children)

    def _rank_jobs(self, children):
        """Print the jobs best first and log one picture of their validation curves on the parent."""
        print_ranking(jobs_from_runs(children))
        figure = sweep_curves(sweep_runs.validation_curves(self.uri, children))
        save(figure, self.folder / "sweep_val_acc.png")
        sweep_runs.log_figure(self.uri, self.run_id, figure, "sweep_val_acc.png")

    def _finish(self, completed):
        best, children, failed = sweep_runs.finish_sweep_run(self.uri, self.run_id, completed)
        failures = f", {failed} failed" if failed else ""
        log.info(f"Sweep: {len(children)} runs{failures}; MLflow parent run {self.run_id}")
        if best is not None:
            value = best.data.metrics[sweep_runs.BEST_METRIC]
            log.info(f"Best: {best.info.run_name} ({sweep_runs.BEST_METRIC} {value:.4f}), run {best.info.run_id}")
            if completed and self.register:  # a sweep that stopped short registers nothing
                version = sweep_runs.register_best(self.uri, self.run_id, best, self.register)
                log.info(f"Registered its model as models:/{self.register}/{version.version}")
        log.info(f"Open the UI: {ui_hint(self.uri, self.experiment_id)}")
        return children


def end_unfinished():
    """End the parent run of every sweep of this process that stopped short (a failed job, a signal):
    the parent gets the best child so far and the sweep's stop, as ``on_multirun_end`` would."""
    while _unfinished:
        _unfinished.pop()._finish(completed=False)

"""The Hydra callback that gives a sweep one MLflow parent run, with its jobs as children.

On multirun start, in the Hydra process and before any job, it opens the tracking store (a new
SQLite store is migrated here, once: parallel jobs migrating it together crash) and creates the
parent run. Its id goes into a file in the sweep folder, where every job reads it, whichever
process or machine runs the job. On multirun end the parent gets the best child's params and
metrics and a tag naming it. Hydra skips multirun end when the sweeper raises (the basic
sweeper does after a failed job), so an exit handler then closes the parent as FAILED.

A sweep resumed in its folder (``solver.resume=true hydra.sweep.dir=...``) reopens the parent run
that folder names, and each job resumes its own run (``nnplug.experiment``).
"""
import atexit
import logging
from pathlib import Path

from hydra.experimental.callback import Callback

from nnplug import collector

log = logging.getLogger(__name__)

PARENT_RUN_FILE = "mlflow_parent_run_id"


def sweep_dir(hydra_cfg):
    """The absolute sweep folder (the Hydra sweep dir is relative to where nnplug was started)."""
    return Path(hydra_cfg.runtime.cwd) / str(hydra_cfg.sweep.dir)


def parent_run_id(hydra_cfg):
    """The parent run id a sweep job logs under; None outside a sweep or when it has none."""
    path = sweep_dir(hydra_cfg) / PARENT_RUN_FILE
    return path.read_text().strip() if path.is_file() else None


class SweepTracking(Callback):
    def __init__(self):
        self.uri = None
        self.run_id = None
        self.folder = None

    def on_multirun_start(self, config, **kwargs):
        from nnplug.app import is_user_error, print_error

        try:
            self._start(config)
        except Exception as error:  # the tracking server is down, the parent run to resume is gone, ...
            if is_user_error(error) and not config.hydra.verbose:
                print_error(error)
            else:
                log.exception("the sweep's MLflow parent run could not be started")
            # Hydra turns an exception raised here into a warning and runs the jobs anyway, with
            # no parent run; a sweep that cannot be tracked must not start.
            raise SystemExit(1) from None
        atexit.register(self._finish, completed=False)
        collector.settle()  # the store is open: what the sweep process lives on is imported

    def _start(self, config):
        from nnplug import tracking

        hydra_cfg = config.hydra
        self.uri = tracking.tracking_uri(config.tracking.uri, hydra_cfg.runtime.cwd)
        folder = self.folder = sweep_dir(hydra_cfg)
        parent_file = folder / PARENT_RUN_FILE
        if config.solver.resume and parent_file.is_file():
            self.run_id = parent_file.read_text().strip()
            tracking.resume_sweep_run(self.uri, self.run_id)
            log.info(f"Resuming the sweep in {folder}: MLflow parent run {self.run_id} at {self.uri}")
            return
        if config.solver.resume:
            log.info(f"solver.resume=true: no sweep to resume in {folder}; starting it")
        overrides = " ".join(hydra_cfg.overrides.task)
        # Hydra adds hydra.mode=MULTIRUN for -m; the launcher and sweeper choices are the user's.
        chosen = [o for o in hydra_cfg.overrides.hydra if not o.startswith("hydra.mode=")]
        self.run_id = tracking.start_sweep_run(
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
        atexit.unregister(self._finish)
        self._rank_jobs(self._finish(completed=True), config)

    def _rank_jobs(self, children, config):
        """Print the jobs best first and log one picture of their validation curves on the parent."""
        from nnplug import tracking, workers
        from nnplug.progress import jobs_from_runs, print_ranking

        if children:
            print_ranking(jobs_from_runs(children))
            workers.call_in_a_worker(config, tracking.log_sweep_curves, self.uri, self.run_id, children,
                                     self.folder / "sweep_val_acc.png")

    def _finish(self, completed):
        from nnplug import tracking

        best, children, failed = tracking.finish_sweep_run(self.uri, self.run_id, completed)
        failures = f", {failed} failed" if failed else ""
        log.info(f"Sweep: {len(children)} runs{failures}; MLflow parent run {self.run_id}")
        if best is not None:
            value = best.data.metrics[tracking.BEST_METRIC]
            log.info(f"Best: {best.info.run_name} ({tracking.BEST_METRIC} {value:.4f}), run {best.info.run_id}")
        log.info(f"Open the UI: {tracking.ui_hint(self.uri)}")
        return children

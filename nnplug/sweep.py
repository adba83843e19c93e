"""The Hydra callback that gives a sweep one MLflow parent run, with its jobs as children.

On multirun start, in the Hydra process and before any job, it opens the tracking store (a new
SQLite store is migrated here, once: parallel jobs migrating it together crash) and creates the
parent run. Its id goes into a file in the sweep folder, where every job reads it, whichever
process or machine runs the job. On multirun end the parent gets the best child's params and
metrics and a tag naming it. Hydra skips multirun end when the sweeper raises (the basic
sweeper does after a failed job), so an exit handler then closes the parent as FAILED.
"""
import atexit
import logging
from pathlib import Path

from hydra.experimental.callback import Callback

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

    def on_multirun_start(self, config, **kwargs):
        from nnplug import tracking

        hydra_cfg = config.hydra
        self.uri = tracking.tracking_uri(config.tracking.uri, hydra_cfg.runtime.cwd)
        overrides = " ".join(hydra_cfg.overrides.task)
        # Hydra adds hydra.mode=MULTIRUN for -m; the launcher and sweeper choices are the user's.
        chosen = [o for o in hydra_cfg.overrides.hydra if not o.startswith("hydra.mode=")]
        folder = sweep_dir(hydra_cfg)
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
        (folder / PARENT_RUN_FILE).write_text(self.run_id + "\n")
        log.info(f"MLflow parent run {self.run_id} at {self.uri}")
        atexit.register(self._finish, completed=False)

    def on_multirun_end(self, config, **kwargs):
        atexit.unregister(self._finish)
        self._finish(completed=True)

    def _finish(self, completed):
        from nnplug import tracking

        best, jobs, failed = tracking.finish_sweep_run(self.uri, self.run_id, completed)
        failures = f", {failed} failed" if failed else ""
        log.info(f"Sweep: {jobs} runs{failures}; MLflow parent run {self.run_id}")
        if best is not None:
            value = best.data.metrics[tracking.BEST_METRIC]
            log.info(f"Best: {best.info.run_name} ({tracking.BEST_METRIC} {value:.4f}), run {best.info.run_id}")
        log.info(f"Open the UI: {tracking.ui_hint(self.uri)}")

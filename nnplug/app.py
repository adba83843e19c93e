"""The Hydra app behind ``nnplug`` and ``python -m nnplug``: one experiment per Hydra job.

The config tree ships inside the package as ``nnplug.conf`` (the top-level ``conf/`` folder,
mapped by pyproject), so ``pkg://nnplug.conf`` finds it from a checkout and from a wheel alike.

How a failure ends depends on what kind of run it is:
- a single run stops with one line on stderr and exit status 1 when the user caused it (bad
  config, unknown plugin, bad data, a diverging loss); anything else is a bug and keeps its
  traceback, as does everything when ``hydra.verbose`` is set;
- a sweep job logs the failure and raises ``JobFailed``, so Hydra records the job as failed and
  the sweeper applies its own policy: the basic sweeper finishes the batch (with the joblib
  launcher, every job) and then stops; the Optuna search tolerates failed trials
  (``max_failure_rate``).
Either way the job's MLflow run is already FAILED with the reason.

SIGTERM or SIGINT (Ctrl-C) during training is not a failure: the Solver checkpoints, the MLflow
run ends KILLED, and one line tells the command that resumes it; a single run then exits with
128 + the signal number, a sweep stops (the command resumes the whole sweep).
"""
import logging
import os
import shlex
import signal
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode

from nnplug import collector, worker_signals

log = logging.getLogger("nnplug")


@hydra.main(config_path="pkg://nnplug.conf", config_name="config", version_base="1.3")
def main(cfg):
    """Train the composed experiment; return its best validation accuracy (what Optuna maximises)."""
    hydra_cfg = HydraConfig.get()
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        with worker_signals.job():
            return _train(cfg, hydra_cfg, sweeping)
    finally:
        collector.skip_final_collection()  # the worker processes of parallel sweeps exit this way too


def _train(cfg, hydra_cfg, sweeping):
    from nnplug import blas, experiment, sweep
    from nnplug.solver import TrainingInterrupted

    try:
        side_by_side = _side_by_side(hydra_cfg)
        # Jobs side by side get one BLAS thread each: two jobs each using every core for small
        # matrix products run many times slower than two single-threaded ones. No core is left
        # for a metric writer process or a minibatch gatherer either.
        with blas.limited(1 if side_by_side else None):
            result = experiment.run(
                cfg,
                output_dir=hydra_cfg.runtime.output_dir,
                cwd=hydra_cfg.runtime.cwd,
                parent_run_id=sweep.parent_run_id(hydra_cfg) if sweeping else None,
                command=" ".join(["nnplug", *hydra_cfg.overrides.task]),
                job=hydra_cfg.job.num if sweeping else None,
                shares_cores=side_by_side,
            )
    except TrainingInterrupted as interrupted:
        if not worker_signals.in_a_worker():  # the sweep process says it once for all its workers
            print(stopped_line(interrupted.signum, cfg, hydra_cfg, sweeping), file=sys.stderr)
        if sweeping:
            raise  # every job of the sweep stops, not only this one
        raise SystemExit(interrupted.exit_code) from None
    except Exception as error:
        if hydra_cfg.verbose or not (sweeping or is_user_error(error)):
            raise
        if not sweeping:
            print_error(error)
            raise SystemExit(1) from None
        raise JobFailed(_report_failed_job(error, hydra_cfg)) from error
    _summarise(result)
    if cfg.solver.verbose and not sweeping:  # a sweep ranks its jobs at the end instead
        _print_summary(cfg, result)
    return result.best_val_acc


def stopped_line(signum, cfg, hydra_cfg, sweeping):
    """What stopped training, and the command that resumes it (when checkpoints were kept)."""
    then = (f"resume with: {resume_command(hydra_cfg, sweeping)}" if cfg.solver.checkpoint
            else "solver.checkpoint=false, so it cannot be resumed")
    return f"nnplug: training stopped by {signal.Signals(signum).name}; {then}"


def _print_summary(cfg, result):
    from nnplug.experiment import describe_model
    from nnplug.progress import print_summary

    optim = f"{cfg.optim.name} (learning rate {cfg.optim.learning_rate:g})"
    print_summary(cfg.data.name, describe_model(cfg), optim, result.best_val_acc, result.test_acc,
                  result.seconds, result.samples_per_second, _run_link(result))


def _run_link(result):
    """Where the run is: its page on a tracking server, else its id."""
    if result.tracking_uri.startswith(("http://", "https://")):
        return f"{result.tracking_uri.rstrip('/')}/#/experiments/{result.experiment_id}/runs/{result.run_id}"
    return f"{result.run_id} (experiment {result.experiment_id})"


class JobFailed(CompactHydraException):
    """A sweep job failed and its reason is logged: Hydra shows this one line, not a traceback."""


def is_user_error(error):
    """Errors whose message tells the user what to change; they need no traceback.

    ValueError includes a bad config, a resume that does not fit, and a tracking server that does
    not answer (``tracking.TrackingUnavailable``).
    """
    from nnplug.checkpoint import CheckpointError
    from nnplug.registry import PluginError
    from nnplug.solver import DivergenceError

    return isinstance(error, (ValueError, PluginError, DivergenceError, FileNotFoundError, CheckpointError))


def resume_command(hydra_cfg, sweeping):
    """The command line the user typed, set to resume this run (or sweep) in its own folder."""
    from nnplug import sweep

    if sweeping:
        replaced, folder = "hydra.sweep.dir", sweep.sweep_dir(hydra_cfg)
    else:
        replaced, folder = "hydra.run.dir", hydra_cfg.runtime.output_dir
    program = ["python", "-m", "nnplug"] if os.path.basename(sys.argv[0]) == "__main__.py" else ["nnplug"]
    kept = [arg for arg in sys.argv[1:] if arg.lstrip("+~").split("=", 1)[0] not in ("solver.resume", replaced)]
    return shlex.join([*program, *kept, "solver.resume=true", f"{replaced}={folder}"])


def print_error(error):
    """One line on stderr per problem the error describes."""
    for line in str(error).splitlines() or [type(error).__name__]:
        print(f"nnplug: error: {line}", file=sys.stderr)


def _side_by_side(hydra_cfg):
    """Whether the launcher runs this job beside others (joblib, submitit), not one after another."""
    return hydra_cfg.mode == RunMode.MULTIRUN and not hydra_cfg.launcher._target_.endswith(".BasicLauncher")


def _report_failed_job(error, hydra_cfg):
    """Log why a sweep job failed (a bug with its traceback) and return that as one line."""
    reason = " ".join(str(error).split()) or type(error).__name__
    line = f"job {hydra_cfg.job.num} ({hydra_cfg.job.override_dirname or 'no overrides'}) failed: {reason}"
    if is_user_error(error):
        log.error(line)
    else:
        log.exception(line)
    return line


def _summarise(result):
    from nnplug.tracking import ui_hint

    log.info(
        f"{result.name}: best val acc {result.best_val_acc:.4f}, test acc {result.test_acc:.4f} "
        f"(best params); last train/val acc {result.train_acc:.4f}/{result.val_acc:.4f}; "
        f"trained in {result.seconds:.1f} s"
    )
    log.info(f"MLflow run {result.run_id} (experiment {result.experiment_id}) in {result.tracking_uri}")
    log.info(f"Open the UI: {ui_hint(result.tracking_uri, result.experiment_id, result.run_id)}")
    log.info(f"Outputs: {result.output_dir}")

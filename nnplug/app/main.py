"""The Hydra app behind ``nnplug`` and ``python -m nnplug``: one experiment per Hydra job.

The config tree ships inside the package as ``nnplug.conf`` (the top-level ``conf/`` folder,
mapped by pyproject), so ``pkg://nnplug.conf`` finds it from a checkout and from a wheel alike.

How a failure ends depends on what kind of run it is:
- a single run stops with one line on stderr and exit status 1 when the user caused it; anything
  else is a bug and keeps its traceback, as does everything when ``hydra.verbose`` is set;
- a sweep job logs the failure and raises ``JobFailed``, so Hydra records the job as failed and
  the sweeper applies its own policy: the basic sweeper finishes the batch (with the joblib
  launcher, every job) and then stops; the Optuna search tolerates failed trials
  (``max_failure_rate``).
Either way the job's MLflow run is already FAILED with the reason.

SIGTERM or SIGINT (Ctrl-C) is not a failure: see ``nnplug.app.stopping``.
"""
import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from nnplug.app import experiment, stopping
from nnplug.app.errors import JobFailed, is_user_error, print_error
from nnplug.app.run_lock import LOCK_FILE
from nnplug.app.run_record import CHECKPOINT_DIR
from nnplug.app.sweep import parent_run_id, sweep_dir
from nnplug.display.tables import print_summary
from nnplug.tracking.store import run_url, ui_hint

log = logging.getLogger("nnplug")


@hydra.main(config_path="pkg://nnplug.conf", config_name="config", version_base="1.3")
def main(cfg):
    """Train the composed experiment; return its best validation accuracy (what Optuna maximises)."""
    hydra_cfg = HydraConfig.get()
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    where = ("hydra.sweep.dir", sweep_dir(hydra_cfg)) if sweeping else ("hydra.run.dir", hydra_cfg.runtime.output_dir)
    try:
        with stopping.job(*where, resumable=bool(cfg.solver.checkpoint)):
            result = _run(cfg, hydra_cfg, sweeping)
    except stopping.RunStopped as stopped:
        if sweeping:
            raise  # the launcher records the job; the command says it once for the sweep
        print(stopping.stopped_line(stopped.stop), file=sys.stderr)
        raise SystemExit(stopped.stop.exit_code) from None
    _summarise(result)
    if cfg.solver.verbose and not sweeping:  # a sweep ranks its jobs at the end instead
        _print_summary(cfg, result)
    return result.best_val_acc


def _run(cfg, hydra_cfg, sweeping):
    """``experiment.run`` for this Hydra job; a user's mistake becomes one line (a sweep: a failed job)."""
    try:
        return experiment.run(
            cfg,
            output_dir=hydra_cfg.runtime.output_dir,
            cwd=hydra_cfg.runtime.cwd,
            parent_run_id=parent_run_id(hydra_cfg) if sweeping else None,
            command=" ".join(["nnplug", *hydra_cfg.overrides.task]),
            job=hydra_cfg.job.num if sweeping else None,
        )
    except Exception as error:
        if is_user_error(error):
            discard_unused_folder(hydra_cfg.runtime.output_dir, hydra_cfg.runtime.cwd)
        if hydra_cfg.verbose or not (sweeping or is_user_error(error)):
            raise
        if not sweeping:
            print_error(error)
            raise SystemExit(1) from None
        raise JobFailed(_report_failed_job(error, hydra_cfg)) from error


def discard_unused_folder(output_dir, cwd):
    """Remove the job folder Hydra made if it holds nothing but Hydra's files and nnplug's lock (a
    job that never started), then its parents up to ``cwd`` as far as they are empty: a mistake
    leaves nothing behind.
    """
    folder = Path(output_dir)
    unused = {Path(".hydra"), Path(CHECKPOINT_DIR) / LOCK_FILE}
    files = [p.relative_to(folder) for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    if not folder.is_dir() or any(f.suffix != ".log" and f not in unused and f.parts[0] != ".hydra" for f in files):
        return
    shutil.rmtree(folder, ignore_errors=True)
    top = Path(cwd).resolve()
    for parent in folder.resolve().parents:
        if parent == top or top not in parent.parents:
            break
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def _print_summary(cfg, result):
    optim = f"{cfg.optim.name} (learning rate {cfg.optim.learning_rate:g})"
    link = run_url(result.tracking_uri, result.experiment_id, result.run_id)
    settings = OmegaConf.to_container(cfg, resolve=True)
    print_summary(cfg.data.name, experiment.describe_model(settings), optim, result.best_val_acc, result.test_acc,
                  result.seconds, result.samples_per_second,
                  link or f"{result.run_id} (experiment {result.experiment_id})", test_acc_tta=result.test_acc_tta)


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
    tta = "" if result.test_acc_tta is None else f" ({result.test_acc_tta:.4f} with test-time augmentation)"
    log.info(
        f"{result.name}: best val acc {result.best_val_acc:.4f}, test acc {result.test_acc:.4f}{tta} "
        f"(best params); last train/val acc {result.train_acc:.4f}/{result.val_acc:.4f}; "
        f"trained in {result.seconds:.1f} s"
    )
    log.info(f"MLflow run {result.run_id} (experiment {result.experiment_id}) in {result.tracking_uri}")
    if result.run_id is not None and HydraConfig.get().mode != RunMode.MULTIRUN:  # a sweep says it once, at its end
        log.info(f"Open the UI: {ui_hint(result.tracking_uri, result.experiment_id, result.run_id)}")
    log.info(f"Outputs: {result.output_dir}")

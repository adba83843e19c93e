"""``run.json`` in a run folder's ``checkpoint/``: which MLflow run the folder trains, where, with what config.

Written as soon as the MLflow run exists; ``solver.resume=true`` reads it to continue exactly that
run, in the same MLflow run and store, from the folder's last checkpoint.
"""
import json
import logging

from nnplug.app.errors import ConfigError
from nnplug.core import checkpoint
from nnplug.core.nested import differences, flatten, shown

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
RUN_RECORD = "run.json"


def resumable_config(settings):
    """The settings a resumed run must share with the run it continues: all but ``solver.resume``."""
    flat = flatten(settings)
    del flat["solver.resume"]
    return json.loads(json.dumps(flat))  # as run.json gives it back: lists, not tuples


def write(checkpoint_dir, tracker, settings):
    """Record the MLflow run that ``tracker`` opened, where a resume will look for it."""
    record = {"run_id": tracker.run_id, "experiment_id": tracker.experiment_id, "tracking_uri": tracker.uri,
              "config": resumable_config(settings)}
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_write(checkpoint_dir / RUN_RECORD, lambda f: f.write(json.dumps(record, indent=1).encode()))


def read(output_dir, settings, in_sweep):
    """The run recorded in ``output_dir``, after checking that ``settings`` are the ones it trains.

    Returns the record (``run_id``, ``experiment_id``, ``tracking_uri``, ``config``), or None for a
    sweep job without one: the stopped sweep never started it. Raises ``ConfigError`` when there is
    nothing to resume or the config differs, ``CheckpointError`` when the record is damaged.
    """
    path = output_dir / CHECKPOINT_DIR / RUN_RECORD
    if not path.is_file():
        if in_sweep:
            log.info(f"solver.resume=true: nothing to resume in {output_dir}; this job starts afresh")
            return None
        raise ConfigError([f"solver.resume=true: nothing to resume in {output_dir} "
                           f"(set hydra.run.dir to the run's folder)"])
    try:
        record = json.loads(path.read_text())
        recorded = dict(record["config"])
        if not all(isinstance(record[key], str) for key in ("run_id", "experiment_id", "tracking_uri")):
            raise TypeError("run_id, experiment_id and tracking_uri must be strings")
    except (OSError, ValueError, LookupError, TypeError) as exc:
        raise checkpoint.CheckpointError(path, f"not a readable run record ({type(exc).__name__}: {exc})") from None
    changed = differences(recorded, resumable_config(settings))
    if changed:
        listed = "; ".join(f"{key} {shown(there)} there, {shown(now)} now" for key, there, now in changed)
        raise ConfigError([f"solver.resume=true: the run in {output_dir} has another config: {listed} "
                           f"(resume it with the overrides it ran with)"])
    return record

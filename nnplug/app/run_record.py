"""``run.json`` in a run folder's ``checkpoint/``: which MLflow run the folder trains, where, with what config.

Written twice: before the MLflow run exists, claiming the folder with a token the run will be
tagged with (``nnplug.run_token``) and no run id, and again as soon as the run exists, with its id.
``solver.resume=true`` reads it to continue exactly that run, in the same MLflow run and store,
from the folder's last checkpoint; a process killed between the two writes left a run that the
resume finds by its token (or none, and then it starts the run afresh in the folder).

``ResumeCheck``, a Hydra callback, refuses ``solver.resume=true`` for a folder nnplug never started
a run in before Hydra writes its files into it.
"""
import json
import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from nnplug.app.errors import ConfigError
from nnplug.core import checkpoint
from nnplug.core.nested import differences, flatten, shown

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
RUN_RECORD = "run.json"
LOCK_FILE = "lock"  # nnplug.app.run_lock's: taken before anything else of a run happens in its folder


def resumable_config(settings):
    """The settings a resumed run must share with the run it continues: all but ``solver.resume``."""
    flat = flatten(settings)
    del flat["solver.resume"]
    return json.loads(json.dumps(flat))  # as run.json gives it back: lists, not tuples


def write(checkpoint_dir, tracker, settings, token):
    """Record the MLflow run of ``tracker`` (its id None before the run exists), tagged with ``token``,
    where a resume will look for it."""
    record = {"run_id": tracker.run_id, "token": token, "experiment_id": tracker.experiment_id,
              "tracking_uri": tracker.uri, "config": resumable_config(settings)}
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_write(checkpoint_dir / RUN_RECORD, lambda f: f.write(json.dumps(record, indent=1).encode()))


def read(output_dir, settings, in_sweep):
    """The run recorded in ``output_dir``, after checking that ``settings`` are the ones it trains.

    Returns the record (``run_id``, or None when the run was not recorded yet, ``token``,
    ``experiment_id``, ``tracking_uri``, ``config``), or None for a folder without one that nnplug
    started (a sweep job the stopped sweep never started, a run killed before its record): it starts
    afresh. Raises ``ConfigError`` when there is nothing to resume or the config differs,
    ``CheckpointError`` when the record is damaged.
    """
    path = output_dir / CHECKPOINT_DIR / RUN_RECORD
    if not path.is_file():
        if in_sweep or started(output_dir):
            log.info(f"solver.resume=true: no run recorded in {output_dir} yet; it starts afresh")
            return None
        raise ConfigError([nothing_to_resume(output_dir)])
    try:
        record = json.loads(path.read_text())
        recorded = dict(record["config"])
        record["token"] = record.get("token")  # records written before tokens have their run's id
        if not (all(isinstance(record[key], str) for key in ("experiment_id", "tracking_uri"))
                and (isinstance(record["run_id"], str) or record["run_id"] is None and isinstance(record["token"], str))):
            raise TypeError("run_id (or a token), experiment_id and tracking_uri must be strings")
    except (OSError, ValueError, LookupError, TypeError) as exc:
        raise checkpoint.CheckpointError(path, f"not a readable run record ({type(exc).__name__}: {exc})") from None
    changed = differences(recorded, resumable_config(settings))
    if changed:
        listed = "; ".join(f"{key} {shown(there)} there, {shown(now)} now" for key, there, now in changed)
        raise ConfigError([f"solver.resume=true: the run in {output_dir} has another config: {listed} "
                           f"(resume it with the overrides it ran with)"])
    return record


def started(output_dir):
    """Whether nnplug began a run in ``output_dir``: its record or its lock is there."""
    folder = Path(output_dir) / CHECKPOINT_DIR
    return (folder / RUN_RECORD).is_file() or (folder / LOCK_FILE).is_file()


def nothing_to_resume(output_dir):
    return f"solver.resume=true: nothing to resume in {output_dir} (set hydra.run.dir to the run's folder)"


class ResumeCheck(Callback):
    """Before a single run's folder and Hydra's files in it exist: ``solver.resume=true`` for a folder
    nnplug never started a run in stops in one line, leaving the folder as it was."""

    def on_run_start(self, config, **kwargs):
        if not config.solver.get("resume"):
            return
        folder = Path(config.hydra.runtime.cwd) / str(config.hydra.run.dir)
        if not started(folder):
            print(f"nnplug: error: {nothing_to_resume(folder)}", file=sys.stderr)
            raise SystemExit(1)  # Hydra turns an exception raised here into a warning and goes on

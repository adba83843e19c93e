"""What the forkserver behind a joblib sweep imports before it forks workers (``nnplug.workers``).

Nothing else imports this module. Each worker is forked with these modules loaded, so its first
job starts without importing them. The database store (SQLAlchemy, Alembic) is preloaded apart,
only when the sweep logs to one.
"""
import atexit
import os

from nnplug import collector, worker_signals

# Off while the imports below and the database store's run, and in every worker forked from here
# until its first job settles (``nnplug.collector``): no worker walks what it inherits.
collector.pause()

import nnplug.app  # noqa: F401  Hydra and the app
import nnplug.experiment  # noqa: F401  numpy, the registry, the Solver, the tracking module
import mlflow.tracking  # noqa: F401  the MLflow client: 1.3 s of a worker's 2.5 s start
# matplotlib's figure and Agg canvas, for the pictures each job draws at its end: 0.35 s of a first job
import matplotlib.backends.backend_agg  # noqa: F401
import matplotlib.figure  # noqa: F401

# Signals reach the workers from the sweep process alone, and stop their jobs, never the workers
# (``nnplug.worker_signals``): a terminal's Ctrl-C goes to the foreground process group only.
os.setpgid(0, 0)
worker_signals.catch_signals_in_workers()

# The forkserver outlives the sweep process by its exit, and holds the sweep's output open until
# then. It has nothing to close or flush (it only forks), so it leaves at once, without the
# interpreter's teardown of everything imported above: its last garbage collections took 0.5 s,
# the rest of the teardown 0.08 s. Registered after the imports above, it runs before their exit
# handlers. Its workers never run it; they leave through os._exit.
atexit.register(os._exit, 0)

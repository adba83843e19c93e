"""The joblib launcher's workers: they start with a job's imports done, and draw the sweep's picture.

Hydra's joblib launcher runs jobs in loky workers, and loky starts each worker as a fresh
interpreter: before its first job, every worker imports Hydra, numpy, nnplug, MLflow with its
store and matplotlib (2.5 s from launch to a first epoch on a 2-core machine), after the sweep
process has imported most of the same. Loky can instead fork its workers from the standard library's
forkserver, a process that imports a list of modules once and then forks a worker per request in
milliseconds. This callback starts that forkserver as the sweep starts, so its imports run while
the sweep process opens the tracking store, and points loky at it.

The forkserver, not a plain fork of the sweep process: by launch time that process holds an open
store connection and loky's own threads, which a forked child must not inherit. Forked workers do
not get the thread-limiting environment variables loky sets for fresh ones; a job that runs beside
others limits its BLAS threads itself (``nnplug.app``).

At the sweep's end the sweep process hands its one call that needs matplotlib to an idle worker
(``call_in_a_worker``), which has it imported.
"""
from hydra.experimental.callback import Callback

JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
PRELOAD = "nnplug.forkserver_preload"
DATABASE_STORE = "mlflow.store.tracking.sqlalchemy_store"  # SQLAlchemy and Alembic: 0.9 s more
# MLflow's database stores by URI scheme (its mlflow.store.db.db_types.DATABASE_ENGINES, which
# cannot be imported here: importing any of mlflow costs the 1.3 s this overlap hides)
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")


class WarmWorkers(Callback):
    def on_multirun_start(self, config, **kwargs):
        import multiprocessing

        if config.hydra.launcher._target_ != JOBLIB_LAUNCHER:
            return
        if "forkserver" not in multiprocessing.get_all_start_methods():
            return  # Windows: loky's fresh workers it is
        from multiprocessing import forkserver

        from joblib.externals.loky.backend.context import set_start_method

        from nnplug import tracking

        uri = tracking.tracking_uri(config.tracking.uri, config.hydra.runtime.cwd)
        database = uri.split(":", 1)[0].split("+", 1)[0] in DATABASES  # postgresql+psycopg2://...
        multiprocessing.set_forkserver_preload([PRELOAD, DATABASE_STORE] if database else [PRELOAD])
        set_start_method("forkserver", force=True)
        forkserver.ensure_running()


def call_in_a_worker(config, function, *args):
    """``function(*args)`` in a worker of the joblib launcher when the sweep ran on it, else here.

    When a joblib sweep ends its workers are idle, and they hold what the sweep process would
    have to load to draw the sweep's picture: matplotlib, which the forkserver imported (0.3 s
    in the sweep process), and an open connection to the store. The call goes to the executor
    the launcher used, which loky keeps for reuse: the same options reuse the same workers.
    """
    if config.hydra.launcher._target_ != JOBLIB_LAUNCHER:
        return function(*args)
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
    from joblib import Parallel, delayed
    from omegaconf import OmegaConf

    options = OmegaConf.to_container(config.hydra.launcher, resolve=True)
    del options["_target_"]
    options["backend"] = "loky"  # what the launcher sets
    process_joblib_cfg(options)
    return Parallel(**options)([delayed(function)(*args)])[0]

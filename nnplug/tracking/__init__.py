"""Tracking: the MLflow store a run logs to (``store``), the Solver listener that logs one run
(``listener``), and the parent runs of sweeps (``sweep_runs``).

The only room that imports MLflow, and only inside functions: importing MLflow takes seconds,
which ``nnplug --help`` must not pay. Everything goes through ``MlflowClient`` with explicit run
ids, never through the fluent ``mlflow.start_run`` stack: the joblib launcher reuses worker
processes, and a process-wide "active run" left over from one job must not leak into the next.
"""

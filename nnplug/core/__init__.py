"""The numpy core: networks composed from layer plugins, the Solver, learning-rate schedules,
checkpoints and numeric gradient checks.

Imports the plugin contract and numpy only: no Hydra, no MLflow, no processes or threads.
"""

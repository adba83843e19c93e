"""Shared test set-up. Append fixtures below; keep this header first."""
import os

# One BLAS thread per process: on two cores a second thread contends with the other test
# processes (servers, sweep jobs) and small GEMMs collapse 10-100x (FACTS.md). Subprocesses inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

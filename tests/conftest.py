"""Shared test set-up. Append fixtures below; keep this header first."""
import os

# One BLAS thread per process: tests run beside servers and sweep jobs, and BLAS threads that
# share cores with other processes make small matrix products far slower. Subprocesses inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

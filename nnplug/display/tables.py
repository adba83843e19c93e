"""Plain-text tables for the terminal and for logs: a run's summary, a sweep's ranking, aligned columns.

Plain text because the same output goes to a terminal, a CI log and a Hydra log file alike.
"""
import sys


def format_table(headers, rows, align=None):
    """Rows of values as aligned columns under ``headers``, with a rule below the header.

    ``align`` is a string of 'l'/'r' per column (left by default); values are shown with ``str``.
    """
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or "l" * len(headers)

    def line(row):
        parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def _cell(value):
    return "-" if value is None else str(value)


def summary_table(data, model, update_rule, best_val_acc, test_acc, wall_time, samples_per_second,
                  mlflow_run=None):
    """The end-of-run summary as text; any value may be None when it is not known."""
    rows = [
        ("data set", data),
        ("model", model),
        ("update rule", update_rule),
        ("best val acc", _fraction(best_val_acc)),
        ("test acc", _fraction(test_acc)),
        ("wall time", None if wall_time is None else f"{wall_time:.1f} s"),
        ("samples/s", None if samples_per_second is None else f"{samples_per_second:,.0f}"),
        ("MLflow run", mlflow_run),
    ]
    width = max(len(key) for key, _ in rows)
    return "\n".join(["Run summary"] + [f"  {key:<{width}}  {'-' if value is None else value}" for key, value in rows])


def print_summary(*args, stream=None, **kwargs):
    """Print ``summary_table(...)`` with a blank line before it."""
    print("\n" + summary_table(*args, **kwargs), file=stream or sys.stdout, flush=True)


def ranking_table(jobs, metric="best_val_acc"):
    """A sweep's jobs, best first by ``metric``; jobs without it (failed, still running) last.

    Each job is a mapping with ``name`` and optionally ``best_val_acc``, ``test_acc``, ``status``
    and ``run_id``; ``jobs_from_runs`` makes them from MLflow runs.
    """
    ranked = sorted(jobs, key=lambda j: (j.get(metric) is None, -(j.get(metric) or 0.0)))
    rows = []
    for rank, job in enumerate(ranked, 1):
        scored = job.get(metric) is not None
        rows.append([rank if scored else "-", _fraction(job.get(metric)), _fraction(job.get("test_acc")),
                     job.get("status"), job.get("name"), job.get("run_id")])
    headers = ["rank", metric.replace("_", " "), "test acc", "status", "job", "MLflow run"]
    return format_table(headers, rows, align="rrrlll")


def print_ranking(jobs, metric="best_val_acc", stream=None):
    print("\nSweep ranking\n" + ranking_table(jobs, metric), file=stream or sys.stdout, flush=True)


def jobs_from_runs(runs):
    """``ranking_table``'s jobs from MLflow ``Run`` objects (read by attribute, mlflow not imported)."""
    return [{"name": run.info.run_name, "status": run.info.status, "run_id": run.info.run_id,
             "best_val_acc": run.data.metrics.get("best_val_acc"),
             "test_acc": run.data.metrics.get("test_acc")} for run in runs]


def _fraction(value):
    return None if value is None else f"{value:.4f}"

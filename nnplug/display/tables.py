"""Plain-text tables for the terminal and for logs: a run's summary, a sweep's ranking, aligned columns.

Plain text because the same output goes to a terminal, a CI log and a Hydra log file alike.
"""
import shutil
import sys


def fit_to_terminal(headers, rows, columns, stream=None):
    """``rows`` with the cells of ``columns`` (an index or a list of them) cut, ending in "…", so
    that the table fits the terminal.

    Only when ``stream`` (default stdout) is a terminal: pipes and files get every cell whole. The
    room left by the other columns is shared out: a narrow column keeps its width, the wide ones
    get equal parts of the rest. One column stays free: a line as wide as the window wraps on
    some terminals.
    """
    stream = stream or sys.stdout
    if not rows or not is_terminal(stream):
        return rows
    cut = [columns] if isinstance(columns, int) else list(columns)
    widths = [max(len(_cell(v)) for v in [headers[i], *(row[i] for row in rows)]) for i in range(len(headers))]
    room = shutil.get_terminal_size().columns - 1 - sum(w for i, w in enumerate(widths) if i not in cut)
    room -= 2 * (len(headers) - 1)
    limits = {}
    for i in sorted(cut, key=lambda i: widths[i]):  # the narrowest first: what they leave goes to the rest
        share = max(room // (len(cut) - len(limits)), 12)
        limits[i] = min(widths[i], share)
        room -= limits[i]
    return [[(_cell(v) if len(_cell(v)) <= limits[i] else _cell(v)[: limits[i] - 1] + "…") if i in limits else v
             for i, v in enumerate(row)] for row in rows]


def is_terminal(stream):
    """Whether ``stream`` is a terminal (a live display makes sense there, not in a file or pipe)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or a file-like object without a terminal
        return False


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
                  mlflow_run=None, test_acc_tta=None):
    """The end-of-run summary as text; any value may be None when it is not known (``test_acc_tta``,
    the test accuracy with test-time augmentation, is left out then)."""
    rows = [
        ("data set", data),
        ("model", model),
        ("update rule", update_rule),
        ("best val acc", _fraction(best_val_acc)),
        ("test acc", _fraction(test_acc)),
        *([("test acc tta", _fraction(test_acc_tta))] if test_acc_tta is not None else []),
        ("wall time", None if wall_time is None else f"{wall_time:.1f} s"),
        ("samples/s", None if samples_per_second is None else f"{samples_per_second:,.0f}"),
        ("MLflow run", mlflow_run),
    ]
    width = max(len(key) for key, _ in rows)
    return "\n".join(["Run summary"] + [f"  {key:<{width}}  {'-' if value is None else value}" for key, value in rows])


def print_summary(*args, stream=None, **kwargs):
    """Print ``summary_table(...)`` with a blank line before it."""
    print("\n" + summary_table(*args, **kwargs), file=stream or sys.stdout, flush=True)


def ranking_table(jobs, metric="best_val_acc", stream=None):
    """A sweep's jobs in the order given, best first (``nnplug.tracking.sweep_runs.ranked`` orders a
    sweep's: it settles ties, and the best job it names is the first row), numbered while they have
    ``metric``; jobs without it (failed, still running) unnumbered.

    Each job is a mapping with ``name`` and optionally ``best_val_acc``, ``test_acc``, ``status``
    and ``differs`` (the settings that tell it from the other jobs: an Optuna search's trials share
    one name); ``jobs_from_runs`` makes them from MLflow runs. On a terminal the settings are cut
    to fit its width; the sweep's log names the best run's id.
    """
    rows, rank = [], 0
    for job in jobs:
        scored = job.get(metric) is not None and job.get("status") in (None, "FINISHED")
        rank += scored
        rows.append([rank if scored else "-", _fraction(job.get(metric)), _fraction(job.get("test_acc")),
                     job.get("status"), job.get("name"), job.get("differs") or ""])
    headers = ["rank", metric.replace("_", " "), "test acc", "status", "job", "what differs"]
    return format_table(headers, fit_to_terminal(headers, rows, len(headers) - 1, stream), align="rrrlll")


def print_ranking(jobs, metric="best_val_acc", stream=None):
    """Print the ranking; jobs named alike (``digits:affine-relu:adam #3``) by their number under the shared name."""
    stream = stream or sys.stdout
    names = {job.get("name") or "" for job in jobs}
    shared = {name.rsplit(" #", 1)[0] for name in names}
    title = "Sweep ranking"
    if len(shared) == 1 and all(" #" in name for name in names):
        title += f" ({shared.pop()})"
        jobs = [{**job, "name": "#" + job["name"].rsplit(" #", 1)[1]} for job in jobs]
    print(f"\n{title}\n" + ranking_table(jobs, metric, stream), file=stream, flush=True)


def jobs_from_runs(runs):
    """``ranking_table``'s jobs from MLflow ``Run`` objects (read by attribute, mlflow not imported).

    ``differs`` names each run's params whose values are not the same in every run.
    """
    keys = sorted({key for run in runs for key in run.data.params})
    differing = [key for key in keys if len({run.data.params.get(key) for run in runs}) > 1]
    short = _short_keys(differing)
    return [{"name": run.info.run_name, "status": run.info.status, "run_id": run.info.run_id,
             "best_val_acc": run.data.metrics.get("best_val_acc"), "test_acc": run.data.metrics.get("test_acc"),
             "differs": " ".join(f"{short[key]}={_brief(run.data.params.get(key))}" for key in differing)}
            for run in runs]


def _brief(value):
    """A param as MLflow stores it (a string), numbers to 3 significant digits."""
    try:
        return f"{float(value):.3g}" if "." in value or "e" in value else value
    except (TypeError, ValueError):
        return value


def _short_keys(keys):
    """Each dotted key by its last part where that is unambiguous: ``optim.learning_rate`` -> ``learning_rate``."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: part if last.count(part) == 1 else key for key, part in zip(keys, last)}


def _fraction(value):
    return None if value is None else f"{value:.4f}"

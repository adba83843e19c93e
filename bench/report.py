"""The benchmark's table (plain text and Markdown), the machine it ran on, and its JSON."""
import json
import os
import platform


def machine():
    import numpy as np
    from threadpoolctl import threadpool_info

    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "load_average_at_start": os.getloadavg(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "blas": [{k: pool.get(k) for k in ("internal_api", "version", "architecture", "filepath")}
                     for pool in threadpool_info() if pool.get("user_api") == "blas"]}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def machine_line(m):
    blas = m["blas"][0] if m["blas"] else {}
    return (f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']} "
            f"({blas.get('internal_api')} {blas.get('version')}, {blas.get('architecture')} kernels), "
            f"torch {m['torch']}; load average {m['load_average_at_start'][0]:.1f} at start, "
            f"{m['load_average_at_end'][0]:.1f} at end (other processes on the machine skew wall times)")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


COLUMNS = ["workload", "nnplug", "+tracking", "bare", "torch", "nnplug/torch", "nnplug/bare",
           "+tracking/bare", "GEMM roofline"]


def rows(results):
    for r in results:
        sps = r["samples_per_second"]

        def rate(name):
            return f"{sps[name]:,.0f}" if name in sps else "-"

        def ratio(a, b):
            return f"{sps[a] / sps[b]:.2f}" if a in sps and b in sps else "-"

        yield [r["workload"], rate("nnplug"), rate("nnplug+tracking"), rate("bare"), rate("torch"),
               ratio("nnplug", "torch"), ratio("nnplug", "bare"), ratio("nnplug+tracking", "bare"),
               f"{100 * r['roofline_fraction']:.0f}% of {r['gemm']['gflops']:.0f} GFLOP/s"]


CPU_COLUMNS = ["workload (CPU time)", "nnplug/torch", "nnplug/bare", "+tracking/bare"]


def cpu_rows(results):
    """The ratios again from CPU time: with one thread, what other processes on the machine cannot skew."""
    for r in results:
        cpu = r["cpu_seconds_per_iteration"]

        def ratio(a, b):  # a rate ratio is the inverse time ratio
            return f"{cpu[b] / cpu[a]:.2f}" if a in cpu and b in cpu else "-"

        yield [r["workload"], ratio("nnplug", "torch"), ratio("nnplug", "bare"), ratio("nnplug+tracking", "bare")]


def text_table(results, columns=COLUMNS, make_rows=rows):
    table = [columns] + list(make_rows(results))
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in table]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(results, columns=COLUMNS, make_rows=rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in make_rows(results)]
    return "\n".join(lines)


def write_json(path, payload):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=str)

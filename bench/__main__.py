"""python -m bench [--quick] [--threads 1 2] [--reps 5] ...: the table of bench/RESULTS.md (see bench/__init__.py)."""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile

from bench import report, suite, sweep
from bench.workloads import NETS, TRAIN_SIZE, Workload


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="one row: 3072-100x4-10, batch 256, float32, 1 thread, 3 repetitions")
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    p.add_argument("--batches", nargs="+", type=int, default=[100, 256])
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--reps", type=int, default=5, help="repetitions per figure (the median is reported)")
    p.add_argument("--train-size", type=int, default=TRAIN_SIZE,
                   help="training rows; each repetition trains one epoch over them (default: CIFAR-10's 49,000)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--no-tracking", action="store_true", help="skip the Solver with the MLflow tracker")
    p.add_argument("--sweep-reps", type=int, default=5,
                   help="repetitions of the 4-job launcher comparisons (0 skips them; about a minute each)")
    p.add_argument("--startup", action="store_true",
                   help="also run bench/startup.py (--help and default-run wall times) and quote its output")
    p.add_argument("--diagnostics", action="store_true",
                   help="also run bench/diagnostics.py (what the training diagnostics cost the default run)")
    p.add_argument("--cifar", metavar="DIR",
                   help="a cifar-10-batches-py folder: also run bench/data_memory.py (peak memory of the load)")
    p.add_argument("--json", default=None, help="where to write the JSON (default bench/results/<time>.json)")
    p.add_argument("--markdown", default=None, help="also write the table as Markdown to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.nets, args.batches, args.dtypes, args.threads, args.reps = ["3072-100x4-10"], [256], ["float32"], [1], 3
        args.sweep_reps = 0
    return args


def main(argv=None):
    args = parse(argv)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path = args.json or os.path.join(os.path.dirname(__file__), "results", f"{stamp}.json")
    # threads innermost: neighbouring rows share their data and compare directly
    workloads = [Workload(net, batch, dtype, threads, train_size=args.train_size)
                 for dtype in args.dtypes for batch in args.batches for net in args.nets
                 for threads in args.threads]
    payload = {"machine": report.machine(), "results": []}
    with tempfile.TemporaryDirectory(prefix="nnplug-bench-") as store:
        tracking = None
        if not args.no_tracking:
            from bench.contenders import Tracking

            tracking = Tracking(store)
        for workload in workloads:
            print(f"running {workload.label} ...", file=sys.stderr, flush=True)
            payload["results"].append(suite.run_workload(workload, args.reps, tracking, not args.no_torch))
            report.write_json(json_path, payload)  # a partial table survives an interrupted run
    if args.sweep_reps:
        print("running the launcher comparison ...", file=sys.stderr, flush=True)
        payload["sweep"] = sweep.measure(args.sweep_reps)
    others = [["startup.py"]] if args.startup else []
    others += [["data_memory.py", args.cifar, "--dtype", "float32"]] if args.cifar else []
    others += [["diagnostics.py", "--runs", "5"]] if args.diagnostics else []
    payload["other_scripts"] = [_other_script(*command) for command in others]
    payload["machine"]["load_average_at_end"] = os.getloadavg()
    report.write_json(json_path, payload)

    results = payload["results"]
    print(report.text_table(results))
    print()
    print(report.text_table(results, report.CPU_COLUMNS, report.cpu_rows))
    for r in results:
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in r["loss_curve_max_rel_diff"].items())
        print(f"loss curves vs nnplug ({r['workload']}): largest relative difference {diffs}")
    notes = [report.machine_line(payload["machine"])]
    if "sweep" in payload:
        notes.append(sweep.text(payload["sweep"]))
    notes += payload.get("other_scripts", [])
    print("\n".join(notes))
    print(f"JSON: {json_path}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"`python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}`, {stamp}\n\n"
                    + report.markdown_table(results) + "\n\n"
                    + report.markdown_table(results, report.CPU_COLUMNS, report.cpu_rows) + "\n\n"
                    + "\n\n".join(notes) + "\n")

def _other_script(name, *args):
    """Run a sibling benchmark script (start-up time, data memory) and return what it printed."""
    print(f"running bench/{name} ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), name), *args],
                          capture_output=True, text=True)
    output = done.stdout.strip() or done.stderr.strip()[-2000:]
    command = " ".join([f"bench/{name}", *args])
    return f"{command}:\n\n" + "\n".join("    " + line for line in output.splitlines())


if __name__ == "__main__":
    main()

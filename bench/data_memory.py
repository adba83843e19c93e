"""Peak memory of loading and preparing all of CIFAR-10, against the size of the arrays it returns.

    python bench/data_memory.py CIFAR_DIR [--dtype float32|float64] [--normalize mean_image|per_channel|none]

CIFAR_DIR is an official "cifar-10-batches-py" folder. The load runs in a fresh subprocess, so the
process-wide high-water mark (ru_maxrss) belongs to this one load; tracemalloc, which sees numpy's
buffers, gives the peak of Python and numpy allocations made by the load itself. The goal: a peak
of at most about twice the final arrays.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

MB = 1 << 20


def measure(root, dtype, normalize):
    """Runs in the child: load once, report peaks and final sizes in bytes."""
    import tracemalloc

    from nnplug import data
    from nnplug.contract.registry import default_registry

    default_registry().get("datasets", "cifar10")  # plugin discovery and imports are not the load
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    tracemalloc.start()
    start = time.perf_counter()
    prepared = data.load("cifar10", root=root, dtype=dtype, normalize=normalize)
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    final = sum(v.nbytes for v in prepared.values() if hasattr(v, "nbytes"))
    return {"final": final, "traced_peak": traced_peak, "rss_before": rss_before,
            "rss_peak": rss_after, "seconds": seconds,
            "shapes": {k: list(v.shape) for k, v in prepared.items() if hasattr(v, "shape")}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--normalize", default="mean_image")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.root, args.dtype, args.normalize)))
        return
    child = subprocess.run([sys.executable, __file__, args.root, "--dtype", args.dtype,
                            "--normalize", args.normalize, "--child"],
                           check=True, capture_output=True, text=True)
    r = json.loads(child.stdout.strip().splitlines()[-1])
    final, rss_growth = r["final"], r["rss_peak"] - r["rss_before"]
    print(f"CIFAR-10 from {args.root}, {args.dtype}, normalize={args.normalize}: loaded in {r['seconds']:.1f} s")
    print(f"  final arrays       {final / MB:8.1f} MB  {r['shapes']}")
    print(f"  tracemalloc peak   {r['traced_peak'] / MB:8.1f} MB  = {r['traced_peak'] / final:.2f} x final")
    print(f"  ru_maxrss growth   {rss_growth / MB:8.1f} MB  = {rss_growth / final:.2f} x final "
          f"(process peak {r['rss_peak'] / MB:.0f} MB, {r['rss_before'] / MB:.0f} MB before the load)")


if __name__ == "__main__":
    main()

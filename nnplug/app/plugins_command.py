"""``nnplug plugins``: what is installed, from which distribution, and whether its gradients are right.

    nnplug plugins              # a table of every layer, loss, update rule and data set
    nnplug plugins --json       # the same for scripts
    nnplug plugins --check      # also gradient-check every layer and loss; exit 1 if any fails

Plugins that failed to load are listed too: a broken third-party plugin is exactly what a user
running this command is looking for.
"""
import argparse
import json
import shutil
import sys
import warnings

from nnplug.contract.registry import KINDS, LABELS, PluginError, Registry
from nnplug.core.gradcheck import check_layer, check_loss
from nnplug.display.tables import fit_to_terminal, format_table

CHECKED_KINDS = ("layers", "losses")
EXIT_CHECK_FAILED = 1
EXIT_REGISTRY_ERROR = 2


def main(argv=None):
    args = _parser().parse_args(argv)

    with warnings.catch_warnings():  # load failures are reported below, not as warnings
        warnings.simplefilter("ignore", RuntimeWarning)
        registry = Registry()
        try:
            entries = collect(registry)
        except PluginError as exc:  # two plugins claim one name: nothing can be listed reliably
            print(f"nnplug plugins: {exc}", file=sys.stderr)
            return EXIT_REGISTRY_ERROR
    if args.check:
        for entry in entries:
            if entry["kind"] in CHECKED_KINDS:
                entry["check"] = check(entry["kind"], registry.get(entry["kind"], entry["name"]), args.tol)
    failures = [{"source": f.source, "distribution": f.dist, "error": f"{type(f.error).__name__}: {f.error}"}
                for f in registry.failures]

    if args.json:
        print(json.dumps({"plugins": entries, "failures": failures}, indent=2))
    else:
        print(render(entries, failures, checked=args.check))
    checks = [e["check"] for e in entries if "check" in e]
    if args.check and (failures or not all(c["passed"] for c in checks)):
        return EXIT_CHECK_FAILED
    return 0


def _parser():
    parser = argparse.ArgumentParser(
        prog="nnplug plugins",
        description="List every installed layer, loss, update rule and data set plugin.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--check", action="store_true",
                        help="gradient-check every layer and loss; exit 1 if any fails or failed to load")
    parser.add_argument("--tol", type=float, default=1e-7,
                        help="largest relative error a gradient may have (default: %(default)g)")
    return parser


def collect(registry):
    """One dict per plugin: kind, name, distribution, version, module, description."""
    return [{"kind": kind, "name": p.name, "distribution": p.dist, "version": p.version,
             "module": p.module, "description": p.description}
            for kind in KINDS for p in registry.list(kind)]


def check(kind, plugin, tol):
    """Gradient-check one layer or loss: ``{"passed", "max_error", "errors"}`` or ``{"passed", "error"}``."""
    try:
        errors = check_layer(plugin) if kind == "layers" else check_loss(plugin)
    except Exception as exc:  # a plugin that cannot even be checked has failed its check
        return {"passed": False, "error": f"{type(exc).__name__}: {exc}"}
    worst = max(errors.values(), default=0.0)
    return {"passed": all(e < tol for e in errors.values()), "max_error": worst, "errors": errors}


def render(entries, failures, checked=False):

    headers = ["kind", "name", "distribution", "version"] + (["check"] if checked else []) + ["description"]
    rows = [[LABELS[e["kind"]], e["name"], e["distribution"], e["version"]]
            + ([_check_cell(e.get("check"))] if checked else []) + [e["description"]] for e in entries]
    rows = fit_to_terminal(headers, rows, len(headers) - 1)
    lines = [format_table(headers, rows)]
    if failures:
        lines += ["", "Failed to load:"]
        lines += [f"  {f['source']} (from {f['distribution']}): {f['error']}" for f in failures]
    if checked:
        results = [e["check"] for e in entries if "check" in e]
        failed = sum(not r["passed"] for r in results)
        lines += ["", f"Gradient check: {len(results) - failed} passed, {failed} failed"
                  + (f", {len(failures)} failed to load" if failures else "")]
    return "\n".join(lines)


def _check_cell(result):
    if result is None:
        return "-"
    if "error" in result:
        return "FAIL (" + result["error"].split(":")[0] + ")"
    return ("pass" if result["passed"] else "FAIL") + f" {result['max_error']:.0e}"

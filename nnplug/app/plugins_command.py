"""``nnplug plugins``: what is installed, from which distribution, with which options, and whether
each plugin keeps the contract.

    nnplug plugins                    # a table of every layer, loss, update rule and data set
    nnplug plugins --json             # the same for scripts
    nnplug plugins --check            # also check every layer, loss, update rule and transform; exit 1 if any fails
    nnplug plugins --check swish lamb # check and list only these (data sets are checked when named)

Plugins that failed to load, and names two plugins claim, are listed too: a broken third-party
plugin is exactly what a user running this command is looking for. Checking named plugins lists
those alone, and its exit status is theirs: another distribution that failed to load is reported,
not counted against them.
"""
import argparse
import json
import sys
import warnings

from nnplug.contract.conformance import KINDS, LABELS
from nnplug.contract.registry import PluginError, Registry
from nnplug.display.tables import fit_to_terminal, format_table
from nnplug.checks.plugins import TOLERANCE, check_dataset, check_layer, check_loss, check_transform, check_update_rule

CHECKED_BY_DEFAULT = ("layers", "losses", "optimizers", "transforms")  # a data set may need files to load
EXIT_CHECK_FAILED = 1


def main(argv=None):
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():  # load failures are reported below, not as warnings
        warnings.simplefilter("ignore", RuntimeWarning)
        registry = Registry()
        entries = collect(registry)
    unknown = []
    if args.check is not None:
        unknown = [name for name in args.check if not any(_named(e, name) for e in entries)]
        if args.check:  # the named plugins alone
            entries = [e for e in entries if any(_named(e, n) for n in args.check)]
        for entry in entries:
            if entry["kind"] in CHECKED_BY_DEFAULT or args.check:
                entry["check"] = check(registry, entry, args.tol)
    failures = [{"source": f.source, "distribution": f.dist, "error": f"{type(f.error).__name__}: {f.error}"}
                for f in registry.failures]
    conflicts = registry.conflicts()

    if args.json:
        print(json.dumps({"plugins": entries, "failures": failures, "conflicts": conflicts}, indent=2, default=str))
    else:
        print(render(entries, failures, conflicts, checked=args.check is not None))
    for name in unknown:
        print(f"nnplug plugins: error: no plugin named {name!r}", file=sys.stderr)
    checks = [e["check"] for e in entries if "check" in e]
    failed_to_load = failures and not args.check  # named plugins answer for themselves only
    if args.check is not None and (failed_to_load or unknown or not all(c["passed"] for c in checks)):
        return EXIT_CHECK_FAILED
    return 0


def _parser():
    parser = argparse.ArgumentParser(
        prog="nnplug plugins",
        description="List every installed layer, loss, update rule and data set plugin, with its options.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--check", nargs="*", metavar="NAME",
                        help="check the contract of every layer, loss, update rule and transform, or of the plugins named "
                             "(name or dist:name; data sets too); exit 1 if any fails or failed to load")
    parser.add_argument("--tol", type=float, default=TOLERANCE,
                        help="largest relative error a gradient may have (default: %(default)g)")
    return parser


def _named(entry, name):
    return name in (entry["name"], f"{entry['distribution']}:{entry['name']}")


def collect(registry):
    """One dict per plugin: kind, name, distribution, version, module, description and options."""
    return [{"kind": kind, "name": p.name, "distribution": p.dist, "version": p.version, "module": p.module,
             "description": p.description, "options": _options(kind, p.obj)}
            for kind in KINDS for p in registry.list(kind)]


def _options(kind, plugin):
    """A plugin's options and their defaults (an update rule's: its hyperparameters)."""
    return dict(plugin.defaults if kind == "optimizers" else plugin.options)


def check(registry, entry, tol):
    """``{"passed", "max_error", "problems"}`` for one plugin: its contract, its gradients."""
    plugin = registry.get(entry["kind"], f"{entry['distribution']}:{entry['name']}")
    try:
        report = {"layers": lambda: check_layer(plugin, tol), "losses": lambda: check_loss(plugin, tol),
                  "optimizers": lambda: check_update_rule(plugin), "datasets": lambda: check_dataset(plugin),
                  "transforms": lambda: check_transform(plugin)}[
            entry["kind"]]()
    except Exception as exc:  # noqa: BLE001  a plugin that cannot even be checked has failed its check
        return {"passed": False, "max_error": None, "problems": [f"{type(exc).__name__}: {exc}"]}
    return {"passed": report.passed, "max_error": report.max_error, "problems": report.problems}


def render(entries, failures, conflicts, checked=False):
    headers = ["kind", "name", "distribution", "version"] + (["check"] if checked else []) + ["options", "description"]
    rows = [[LABELS[e["kind"]], e["name"], e["distribution"], e["version"]]
            + ([_check_cell(e.get("check"))] if checked else [])
            + [", ".join(f"{k}={v}" for k, v in e["options"].items() if k != "md5") or "-", e["description"]]
            for e in entries]
    lines = [format_table(headers, fit_to_terminal(headers, rows, [len(headers) - 2, len(headers) - 1]))]
    if conflicts:
        lines += ["", "Names two plugins claim (name one of them as dist:name):"] + [f"  {c}" for c in conflicts]
    if failures:
        lines += ["", "Failed to load:"]
        lines += [f"  {f['source']} (from {f['distribution']}): {f['error']}" for f in failures]
    if checked:
        results = [e for e in entries if "check" in e]
        bad = [e for e in results if not e["check"]["passed"]]
        if bad:
            lines += ["", "Failed checks:"]
            lines += [f"  {LABELS[e['kind']]} {e['name']} ({e['distribution']}): {problem}"
                      for e in bad for problem in e["check"]["problems"]]
        lines += ["", f"Check: {len(results) - len(bad)} passed, {len(bad)} failed"
                  + (f", {len(failures)} failed to load" if failures else "")]
    return "\n".join(lines)


def _check_cell(result):
    if result is None:
        return "-"
    if not result["passed"]:
        return "FAIL"
    return "pass" + (f" {result['max_error']:.0e}" if result["max_error"] is not None else "")

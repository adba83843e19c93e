"""The ``nnplug`` command line: a subcommand when the first word names one, else the Hydra app.

``--help`` is answered here from the config folder's listing, without Hydra: Hydra's own help
composes every option of every group and takes over a second. ``--hydra-help`` is Hydra's.

Hydra reports a bad override (an unknown group option, a key not in the config, a syntax error)
in several lines ending with advice about HYDRA_FULL_ERROR. nnplug turns those into one line
instead; ``HYDRA_FULL_ERROR=1`` set by the user still shows Hydra's full traceback.

Hydra, numpy and MLflow are imported inside ``run_app``: ``nnplug --help`` must not pay for them.

``console`` is the process's entry point (the console script and ``python -m nnplug``); it is the
one place nnplug touches the garbage collector. A run's process holds several hundred thousand
objects made by importing Hydra, MLflow, SQLAlchemy and matplotlib, and the interpreter's final
collections at exit walk every one of them again, which the user waits for after the run is done.
``gc.freeze()`` as the command returns moves them out of the collector's sight, so the process
ends at once; their memory goes back to the system with the process. ``main`` (what tests and
other programs call in their own process) leaves the collector alone.
"""
import gc
import importlib
import os
import sys
from importlib.resources import files

import yaml

from nnplug.app.output import guarded_stdout
from nnplug.app import plugin_configs

# Commands that are not training runs: first word -> "module:function(argv)".
SUBCOMMANDS = {"plugins": "nnplug.app.plugins_command:main", "evaluate": "nnplug.app.evaluate_command:main",
               "predict": "nnplug.app.predict_command:main"}
FULL_ERROR = "HYDRA_FULL_ERROR"

USAGE = """\
usage: nnplug [group=option ...] [key=value ...]     train one experiment
       nnplug -m [group=a,b ...] [key=v1,v2 ...]     a sweep: one job per combination
       nnplug plugins [--json] [--check [NAME ...]]  the installed plugins, their options, their checks
       nnplug evaluate URI [data=NAME ...] [--log]   a logged model's test accuracy and confusion matrix
       nnplug predict URI FILE.npz                   a logged model's predictions for raw samples
       nnplug -p no:DIST ...                         leave out a plugin distribution
       (python -m nnplug ... is the same command)

Config groups (default in brackets; options plugins ship name their distribution):

{groups}

Any key of the composed config can be set: optim.learning_rate=3e-4 model.hidden_dims=[256,256]
solver.num_epochs=20 layer.block=[affine,my_layer,relu]; a leading + adds a key the config lacks:
+layer.options.leaky_relu.alpha=0.1.
  nnplug --cfg job                 print the composed config with every key (overrides apply)

Examples:
  nnplug layer=bn optim=sgd_momentum                      swap the hidden block and the update rule
  nnplug -m optim=sgd,adam layer=affine,bn                a sweep; MLflow groups it under a parent run
  nnplug -m optim=sgd,adam hydra/launcher=joblib          the same sweep, jobs in parallel processes
  nnplug hparams_search=optuna                            an Optuna search maximising val accuracy
  nnplug experiment=cifar10_bn_adam data.root=/data/cifar-10-batches-py
  nnplug <overrides> solver.resume=true hydra.run.dir=DIR       continue the stopped run in DIR
  nnplug -m <overrides> solver.resume=true hydra.sweep.dir=DIR   ... the stopped sweep in DIR
      (with the overrides it was started with; it goes on in the same MLflow runs)

Runs land in outputs/ (Hydra's run folders; MLflow store outputs/mlflow.db, artifacts outputs/mlartifacts).
  mlflow ui --backend-store-uri sqlite:///$PWD/outputs/mlflow.db --workers 1    browse them
tracking.uri=... or $MLFLOW_TRACKING_URI logs to a tracking server instead (tracking.uri=null and no
$MLFLOW_TRACKING_URI: back to the local store).
Hydra: --hydra-help, --info, --cfg job|hydra|all, hydra.verbose=true (tracebacks), -cd DIR (your configs)."""


def console():
    """The ``nnplug`` command as a process: ``main()``, then exit with its status (see the module's
    docstring for why the garbage collector is frozen first)."""
    try:
        status = main()
    finally:
        gc.freeze()
    sys.exit(status)


def main(argv=None):
    """Run the command ``nnplug ARGV`` (default: this process's arguments); returns the exit status."""
    with guarded_stdout() as output:
        status = command(sys.argv[1:] if argv is None else list(argv))
    return output.get("exit", status)


def command(args):
    """The command's work, by its first word; returns the exit status."""
    args = leave_out_blocked(args)
    if args and args[0] in SUBCOMMANDS:
        module, function = SUBCOMMANDS[args[0]].split(":")
        return getattr(importlib.import_module(module), function)(args[1:])
    if "--help" in args or "-h" in args:
        print(usage())
        return 0
    keyless = next((arg for arg in args if not arg.startswith("-") and arg.lstrip("+~").startswith("=")), None)
    if keyless is not None:  # Hydra takes it for a config group and fails deep inside its defaults list
        print(f"nnplug: error: {keyless}: an override needs a key before its '=' (key=value or group=option)",
              file=sys.stderr)
        return 1
    sys.argv = [sys.argv[0], *args]  # Hydra reads its overrides from sys.argv
    return run_app()


def leave_out_blocked(args):
    """``args`` without pytest-style ``-p no:NAME`` pairs; each NAME (a distribution, or
    ``dist:entry-point``) goes into ``NNPLUG_BLOCK``, which the registry, the config search path and
    the processes of a sweep read. (Hydra's own ``-p PACKAGE`` never starts with ``no:``.)"""
    kept, blocked, i = [], [], 0
    while i < len(args):
        if args[i] == "-p" and i + 1 < len(args) and args[i + 1].startswith("no:"):
            blocked.append(args[i + 1][3:])
            i += 2
            continue
        if args[i].startswith("-pno:"):
            blocked.append(args[i][5:])
        else:
            kept.append(args[i])
        i += 1
    if blocked:
        os.environ[plugin_configs.BLOCK_ENV] = ",".join(filter(None, [os.environ.get(plugin_configs.BLOCK_ENV, ""),
                                                                      *blocked]))
    return kept


def usage():
    """The help text, with the groups and options of nnplug's config folder and of the plugins installed."""
    conf = files("nnplug.conf")
    defaults = {}
    for entry in yaml.safe_load(conf.joinpath("config.yaml").read_text())["defaults"]:
        if isinstance(entry, dict):
            defaults.update({str(k): v for k, v in entry.items()})
    groups = {d.name: sorted(f.name[:-5] for f in d.iterdir() if f.name.endswith(".yaml"))
              for d in conf.iterdir() if d.is_dir() and not d.name.startswith("_")}
    shipped = {}  # group -> ["swish (nnplug-swish)", ...]
    for dist, package in plugin_configs.config_packages():
        for group, options in plugin_configs.group_files(package).items():
            shipped.setdefault(group, []).extend(f"{option} ({dist})" for option in options)
    lines = []
    for group in sorted(set(groups) | set(shipped)):
        shown = [f"[{o}]" if o == defaults.get(group) else o for o in groups.get(group, [])] + shipped.get(group, [])
        lines.append(f"  {group:<15} {', '.join(shown)}")
    return USAGE.format(groups="\n".join(lines))


def run_app():
    """The Hydra app, with Hydra's and nnplug's errors as one line and a stop as its exit status."""
    from hydra.errors import CompactHydraException

    from nnplug.app import schema, stopping
    from nnplug.app.errors import hydra_one_line
    from nnplug.app.main import main as hydra_main
    from nnplug.app.sweep import end_unfinished
    from nnplug.tracking.store import use_command_environment

    use_command_environment()
    schema.register()
    plugin_configs.register()
    full_error = os.environ.get(FULL_ERROR) == "1"  # the user's: Hydra's own reports stay
    os.environ[FULL_ERROR] = "1"  # Hydra then raises its errors to us instead of printing them
    try:
        with stopping.one_line_for_a_stop():
            hydra_main()
    except CompactHydraException as error:
        if full_error:
            raise
        print(f"nnplug: error: {hydra_one_line(error)}", file=sys.stderr)
        return 1
    except stopping.RunStopped as stopped:  # a job, or a sweep's first stopped job
        print(stopping.stopped_line(stopped.stop), file=sys.stderr)
        return stopped.stop.exit_code
    except yaml.YAMLError as error:  # a config file on the search path
        if full_error:
            raise
        mark = getattr(error, "problem_mark", None)
        where = f"{mark.name} line {mark.line + 1}" if mark else "a config file"
        print(f"nnplug: error: {where}: not valid YAML ({getattr(error, 'problem', None) or error})", file=sys.stderr)
        return 1
    except OSError as error:  # a folder Hydra may not write (its run folder, its log): no job began
        if full_error:
            raise
        where = f" {error.filename}" if error.filename else ""
        print(f"nnplug: error: cannot write{where}: {error.strerror or error}; run from a folder you may "
              f"write, or point hydra.run.dir (hydra.sweep.dir) elsewhere", file=sys.stderr)
        return 1
    finally:
        end_unfinished()  # a sweep Hydra stopped short of its end
        if not full_error:
            del os.environ[FULL_ERROR]
    stop = stopping.stopped()  # a sweeper that tolerates failed jobs (Optuna) returns normally
    if stop is not None:
        print(stopping.stopped_line(stop), file=sys.stderr)
        return stop.exit_code
    return 0

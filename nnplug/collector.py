"""When an nnplug command runs Python's cyclic garbage collector: not while it starts up, and
never over what it started up with.

The collector runs a full collection each time the objects it tracks grow by about a quarter. A
run imports Hydra, MLflow with SQLAlchemy, and matplotlib: some 300,000 objects that live as long
as the process and are never garbage, and every full collection walks all of them for nothing.
In a 4-job joblib sweep of ``experiment=mnist1d_mlp``, that was seven full collections (0.4 s) in
the sweep process and four (0.8 s) in each worker, 0.15-0.3 s apiece at a job's start and end
and in the middle of its metric batches.

So the command turns the collector off as it starts (``pause``). Once a job holds everything it
trains with, ``settle`` moves every object that exists into the permanent generation with
``gc.freeze``, where no collection looks, and turns the collector back on for what training
creates. Python's documentation advises the same around ``fork``, so that a forked worker's
collections do not write to the memory pages it shares with its parent. The garbage cycles made
before ``settle``, mostly Hydra composing the config, stay frozen with the rest: about 18,000
objects and 3 MB, once per process, where collecting them would cost a full collection.

``settle`` does nothing in a process that did not ``pause``: a program or notebook that imports
nnplug keeps its collector as it is.
"""
import atexit
import gc

_paused = False


def pause():
    """Turn the collector off until ``settle``: this process is starting up."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def settle():
    """Freeze what exists and turn the collector back on, if ``pause`` turned it off."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def skip_final_collection():
    """Have this process skip the interpreter's last garbage collections when it exits.

    By then every run is stored and closed. What those collections walk is the millions of objects
    MLflow, SQLAlchemy and Hydra leave behind: 0.7-0.8 s of a 4.3 s default run, as long again in
    each joblib worker when the sweep ends, which the sweep process waits for; the memory goes
    back to the OS at once anyway. Objects frozen by ``gc.freeze`` are not collected again.
    Called after each job: the exit handler registered last runs first, before the other
    handlers' garbage can set off a full collection.
    """
    atexit.unregister(gc.freeze)  # once, however many jobs this process runs
    atexit.register(gc.freeze)

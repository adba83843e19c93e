"""A child process that writes metrics to MLflow, so that training never waits for the store.

A local SQLite store spends about 70 us of Python (SQLAlchemy) on every metric row it writes:
an epoch of 490 losses costs 35-100 ms, 4-8% of a CIFAR-sized epoch at batch 100, and the
training thread would pay it. A thread would not help, as that work holds the GIL. This process
does it on another core, once per Python process, for every run that process trains, at the
lowest priority, so that it takes only CPU time that training leaves idle.

The parent writes one JSON document per line on the child's stdin and reads the answers on its
stdout; the pipe is made large enough for many epochs, so a slow start never blocks training:

    parent -> child   {"uri": ..., "run_id": ..., "metrics": [[key, value, timestamp_ms, step], ...]}
                      {"sync": n}      answer once everything sent before is stored
    child -> parent   {"synced": n}
                      {"error": "..."} a batch was refused; the child then exits

The child has its own session: Ctrl-C in a terminal stops the parent (which then waits for its
metrics), not the writer. When the parent dies, however it dies, the child still stores everything
it was sent, then sees the end of its input and exits.
"""
import atexit
import json
import os
import signal
import subprocess
import sys

from nnplug import collector

PIPE_BYTES = 1 << 20  # Linux's default ceiling: about 17,000 metrics in flight


class MetricsNotStored(RuntimeError):
    """The writer process could not store metrics it was sent (or died)."""


class MetricSender:
    """The parent's end: send batches of metric tuples, and wait for them with ``sync``."""

    def __init__(self):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.pid = os.getpid()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "nnplug.metric_sender"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env, start_new_session=True, pipesize=PIPE_BYTES)
        self._syncs = 0
        self._unconfirmed = False  # sent since the last sync answered
        self.error = None

    @property
    def alive(self):
        return self.error is None and self._process.poll() is None

    def send(self, uri, run_id, metrics):
        """Queue ``metrics`` ((key, value, timestamp_ms, step) tuples) for run ``run_id`` at ``uri``."""
        self._unconfirmed = True
        self._write({"uri": uri, "run_id": run_id, "metrics": metrics})

    def sync(self):
        """Return once everything sent so far is stored; ``MetricsNotStored`` if it cannot be."""
        if not self._unconfirmed:  # a round trip would wait for a child still starting up, for nothing
            return
        self._syncs += 1
        self._write({"sync": self._syncs})
        while True:
            answer = self._read()
            if answer.get("synced") == self._syncs:
                self._unconfirmed = False
                return

    def close(self):
        """Let the child store what it holds and exit; wait for it only while it holds metrics.

        Once a sync has confirmed everything, what is left of the child is its interpreter's exit
        (0.4 s with MLflow loaded), which nobody needs to wait for.
        """
        try:
            self._process.stdin.close()
        except OSError:  # it died with unread input
            pass
        if self._unconfirmed:
            self._process.wait()

    def _write(self, message):
        if self.error is not None:
            raise MetricsNotStored(self.error)
        try:
            self._process.stdin.write(json.dumps(message, separators=(",", ":")) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError):  # exited; its last answer says why
            self._read()

    def _read(self):
        line = self._process.stdout.readline()
        answer = json.loads(line) if line else {
            "error": f"the metric writer process exited with status {self._process.wait()}"}
        if "error" in answer:
            self.error = f"MLflow did not store the metrics: {answer['error']}"
            raise MetricsNotStored(self.error)
        return answer


_sender = None


def sender():
    """This process's writer, started on first use (and again after one died or failed)."""
    global _sender
    # a forked child must not write into its parent's pipe
    if _sender is None or _sender.pid != os.getpid() or not _sender.alive:
        _sender = MetricSender()
        atexit.register(_sender.close)
    return _sender


def main():
    # the protocol owns stdout; anything MLflow prints goes to stderr with its warnings
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collector.pause()  # until the first batch is stored: MLflow and its store are imported then
    # Spare CPU only: training threads (BLAS's among them, which wait for each other) come first,
    # and what falls behind is stored when the run ends, when leaving waits for it.
    os.nice(19)

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from nnplug.tracking import send_batches

    clients = {}
    for line in iter(sys.stdin.readline, ""):
        message = json.loads(line)
        if "sync" in message:
            answers.write(json.dumps({"synced": message["sync"]}) + "\n")
            continue
        uri = message["uri"]
        try:
            client = clients.get(uri) or clients.setdefault(uri, MlflowClient(tracking_uri=uri))
            send_batches(client, message["run_id"], metrics=[Metric(*m) for m in message["metrics"]])
            collector.settle()
        except Exception as exc:  # noqa: BLE001  any refusal ends the run; the parent names it
            answers.write(json.dumps({"error": " ".join(f"{type(exc).__name__}: {exc}".split())}) + "\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

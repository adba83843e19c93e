"""The command's standard output, guarded: a full device or a closed pipe ends it in one line, not tracebacks.

``nnplug ... > /dev/full`` would make every log record and print raise, and logging would print a
traceback for each; ``nnplug plugins | head -2`` would end with a ``BrokenPipeError`` traceback.
``guarded_stdout`` puts a stream in front of stdout that keeps the first error and drops what
follows. The command then says once what went wrong (a pipe closed by its reader is no error,
as for any Unix command) and exits non-zero.
"""
import contextlib
import os
import sys

EXIT_PIPE_CLOSED = 128 + 13  # what a shell reports for a process ended by SIGPIPE


class GuardedStream:
    """A text stream that passes writes on until one fails, then keeps that error and drops the rest."""

    def __init__(self, stream):
        self.stream = stream
        self.error = None

    def write(self, text):
        if self.error is None:
            try:
                return self.stream.write(text)
            except OSError as exc:
                self.error = exc
        return len(text)

    def flush(self):
        if self.error is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self.error = exc

    def __getattr__(self, name):  # isatty, encoding, fileno, ...: the real stream's
        return getattr(self.stream, name)


@contextlib.contextmanager
def guarded_stdout():
    """Run the command with ``sys.stdout`` guarded; yields a dict whose ``"exit"`` is set when output failed."""
    original = sys.stdout
    guarded = sys.stdout = GuardedStream(original)
    outcome = {}
    try:
        yield outcome
    finally:
        guarded.flush()
        sys.stdout = original
        if guarded.error is not None:
            # the real stdout cannot take more either: the interpreter's last flush must not fail again
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), original.fileno())
            if isinstance(guarded.error, BrokenPipeError):
                outcome["exit"] = EXIT_PIPE_CLOSED
            else:
                print(f"nnplug: error: cannot write the output: {guarded.error.strerror or guarded.error}",
                      file=sys.stderr)
                outcome["exit"] = 1

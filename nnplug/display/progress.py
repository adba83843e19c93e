"""What a person watching a run sees while it trains: a progress bar, or one line per epoch.

``Progress`` is a Solver listener. On a terminal it draws a live tqdm bar over the iterations with
the loss and the latest accuracies; when the output is a file or a pipe (CI, SLURM, Hydra logs) a
bar would be a smear of carriage returns, so it prints one plain line per accuracy check instead.

The Solver's own CS231n-style prints duplicate this, so a program that uses ``Progress`` creates
the Solver with ``verbose=False`` and hands its verbosity to ``Progress(enabled=...)``. Jobs that
share one terminal (a parallel sweep) should use ``live=False`` and a ``label`` each: bars from
several processes overwrite one another, labelled lines do not.
"""
import sys
import time

from nnplug.display.tables import is_terminal



class Progress:
    def __init__(self, enabled=True, stream=None, live=None, label=None):
        self.enabled = enabled
        self.prefix = f"{label} " if label else ""
        self.stream = stream if stream is not None else sys.stdout
        self.live = is_terminal(self.stream) if live is None else live
        self.bar = None
        self.train_acc = self.val_acc = None
        self.start_time = self.end_time = None
        self.start_iteration = 0
        self.samples = 0  # training samples seen by this call of train()
        self._loss_sum = 0.0
        self._loss_count = 0

    # Solver events

    def on_train_start(self, solver):
        self.start_time = time.perf_counter()
        self.start_iteration = solver.iteration
        if self.enabled and self.live:
            from tqdm import tqdm  # on first use: importing tqdm is not free

            # the accuracies before the bar: at a narrow width tqdm shrinks the bar, never them
            self.bar = tqdm(total=solver.num_iterations, initial=solver.iteration, file=self.stream,
                            unit="it", dynamic_ncols=True, leave=True, desc=self._epoch(solver, solver.epoch),
                            bar_format="{desc}{postfix} |{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]")

    def on_iteration(self, solver, iteration, loss):
        self.samples += solver.batch_size
        self._loss_sum += loss
        self._loss_count += 1
        if self.bar is not None:
            # refresh=False: tqdm redraws at most every 0.1 s, the postfix string is only stored
            self.bar.set_postfix_str(self._postfix(loss), refresh=False)
            self.bar.update(1)

    def on_epoch_end(self, solver, epoch, train_acc, val_acc, learning_rate):
        self.train_acc, self.val_acc = train_acc, val_acc
        mean_loss = self._loss_sum / self._loss_count if self._loss_count else float("nan")
        self._loss_sum, self._loss_count = 0.0, 0
        if not self.enabled:
            return
        if self.bar is not None:  # refreshed: the last epoch's bar must not end one epoch behind
            self.bar.set_description_str(self._epoch(solver, epoch), refresh=False)
            self.bar.set_postfix_str(self._postfix(solver.loss_history[-1]) if solver.loss_history else "")
            return
        width = len(str(solver.num_epochs))
        print(f"{self.prefix}epoch {epoch:>{width}}/{solver.num_epochs}  loss {mean_loss:.4f}  "
              f"train acc {train_acc:.4f}  val acc {val_acc:.4f}  lr {learning_rate:.3g}  "
              f"{self.elapsed:.1f} s", file=self.stream, flush=True)

    def on_train_end(self, solver):
        self.end_time = time.perf_counter()
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _epoch(self, solver, epoch):
        return f"{self.prefix}epoch {epoch}/{solver.num_epochs}"

    def _postfix(self, loss):
        text = f"loss {loss:.4f}"
        if self.val_acc is not None:
            text += f" train {self.train_acc:.3f} val {self.val_acc:.3f}"
        return text

    # Measurements for the summary

    @property
    def elapsed(self):
        """Seconds of training so far (or in all, once training ended)."""
        if self.start_time is None:
            return 0.0
        return (self.end_time or time.perf_counter()) - self.start_time

    @property
    def samples_per_second(self):
        return self.samples / self.elapsed if self.elapsed > 0 else 0.0

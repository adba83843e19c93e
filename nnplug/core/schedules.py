"""Learning-rate schedules: per epoch (``exponential``, ``step``, ``cosine``) and per step (``linear``).

A per-epoch schedule gives the rate for the epoch that starts after ``epoch`` epochs; the Solver
applies it at each epoch end. A per-step schedule gives the rate of every step; the Solver applies
it before each step, so a run's rate moves smoothly within an epoch (warm-up over the first few
hundred steps of a short run needs that).
"""
import math

PER_EPOCH = ("exponential", "step", "cosine")
PER_STEP = ("linear",)
SCHEDULES = PER_EPOCH + PER_STEP
# the Solver's options that shape the schedule, with their defaults
OPTIONS = {"lr_schedule": "exponential", "lr_decay": 1.0, "lr_step_size": 1, "lr_gamma": 0.1, "lr_min": 0.0,
           "lr_warmup": 0.0, "lr_warmup_start": 0.0}


def learning_rate(schedule, base_lr, epoch, *, lr_decay=1.0, step_size=1, gamma=0.1,
                  num_epochs=1, min_lr=0.0):
    """The rate of a per-epoch ``schedule`` for the epoch that starts after ``epoch`` epochs."""
    if schedule == "exponential":  # CS231n's lr_decay, applied once per epoch
        return base_lr * lr_decay ** epoch
    if schedule == "step":
        return base_lr * gamma ** (epoch // step_size)
    if schedule == "cosine":
        progress = min(epoch / max(num_epochs, 1), 1.0)
        return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown per-epoch lr_schedule {schedule!r}: expected one of {', '.join(PER_EPOCH)}")


def step_learning_rate(base_lr, step, num_steps, *, warmup=0.0, warmup_start=0.0, min_lr=0.0):
    """The rate of step ``step`` (0-based) of a run of ``num_steps``: linear warm-up, then linear decay.

    Inputs:
    - base_lr: the peak rate, reached when the warm-up ends
    - step, num_steps: which step, out of how many
    - warmup: the fraction of all steps the warm-up takes, in [0, 1); its ``int(warmup * num_steps)``
      steps rise linearly from ``warmup_start * base_lr`` (step 0) towards ``base_lr``
    - warmup_start: the first step's rate as a fraction of ``base_lr``
    - min_lr: the floor; the rate falls linearly from ``base_lr`` to reach it at step ``num_steps``
      (one past the last), and never goes below it

    Returns a float. PyTorch's ``LambdaLR`` stepped once per batch with this factor gives the same
    rates (so does airbench94's schedule with warmup=0.23, warmup_start=0.2, min_lr=0.07 * base_lr).
    """
    warmup_steps = int(warmup * num_steps)
    if step < warmup_steps:
        frac = step / warmup_steps
        return base_lr * ((1 - frac) * warmup_start + frac)
    frac = min((step - warmup_steps) / max(num_steps - warmup_steps, 1), 1.0)
    return max((1 - frac) * base_lr + frac * min_lr, min_lr)


def next_rate(solver, epoch_end=False):
    """The rate a Solver's schedule sets for its next step, after ``solver.iteration`` steps.

    ``epoch_end`` says whether an epoch just ended. None where the schedule leaves the rates as they
    are: a per-epoch schedule within an epoch, a per-step one at an epoch end, and ``exponential``,
    whose rates the Solver multiplies by ``lr_decay`` itself (CS231n's way, each config's own rate).
    """
    s = solver
    if s.lr_schedule in PER_STEP:
        return None if epoch_end else step_learning_rate(
            s.base_learning_rate, s.iteration, s.num_iterations, warmup=s.lr_warmup,
            warmup_start=s.lr_warmup_start, min_lr=s.lr_min)
    if not epoch_end or s.lr_schedule == "exponential":
        return None
    return learning_rate(s.lr_schedule, s.base_learning_rate, s.epoch, step_size=s.lr_step_size, gamma=s.lr_gamma,
                         num_epochs=s.num_epochs, min_lr=s.lr_min)

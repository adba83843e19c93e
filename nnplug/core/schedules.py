"""Learning-rate schedules: the rate for the epoch that starts after ``epoch`` epochs."""
import math

SCHEDULES = ("exponential", "step", "cosine")


def learning_rate(schedule, base_lr, epoch, *, lr_decay=1.0, step_size=1, gamma=0.1,
                  num_epochs=1, min_lr=0.0):
    if schedule == "exponential":  # CS231n's lr_decay, applied once per epoch
        return base_lr * lr_decay ** epoch
    if schedule == "step":
        return base_lr * gamma ** (epoch // step_size)
    if schedule == "cosine":
        progress = min(epoch / max(num_epochs, 1), 1.0)
        return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr_schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")

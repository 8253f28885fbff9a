"""Learning-rate schedules as pure functions of the optimiser step (resumable: the step is the only state)."""

from __future__ import annotations

import math

__all__ = ["SCHEDULES", "learning_rate"]

SCHEDULES = ("cosine", "constant", "poly")


def learning_rate(
    step: int, total_steps: int, max_lr: float, min_lr: float = 0.0, warmup_steps: int = 0, schedule: str = "cosine"
) -> float:
    """Learning rate at optimiser step ``step`` (0-based) of ``total_steps``.

    Linear warm-up from ``min_lr`` to ``max_lr`` over ``warmup_steps``, then ``schedule``:
    "cosine" anneals to ``min_lr`` at the last step (the PraNet recipe: 1e-4 -> 1e-7), "poly" decays with
    power 0.9, "constant" stays at ``max_lr``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    if warmup_steps > 0 and step < warmup_steps:
        return min_lr + (max_lr - min_lr) * (step + 1) / warmup_steps
    if schedule == "constant":
        return max_lr
    span = max(1, total_steps - warmup_steps - 1)
    progress = min(1.0, max(0.0, (step - warmup_steps) / span))
    if schedule == "cosine":
        return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
    return min_lr + (max_lr - min_lr) * (1.0 - progress) ** 0.9

"""Learning-rate schedules as pure functions of the optimiser step (resumable: the step is the only state)."""

from __future__ import annotations

import math
from typing import Callable

from kit.registry import Registry

__all__ = ["SCHEDULES", "learning_rate"]


#: schedule name -> its rate at a progress in [0, 1] after the warm-up: ``rate(progress, max_lr, min_lr)``
SCHEDULES: Registry[Callable[[float, float, float], float]] = Registry.of("schedule", {
    "cosine": lambda progress, high, low: low + 0.5 * (high - low) * (1.0 + math.cos(math.pi * progress)),
    "constant": lambda progress, high, low: high,
    "poly": lambda progress, high, low: low + (high - low) * (1.0 - progress) ** 0.9,
}, sort=False)


def learning_rate(
    step: int, total_steps: int, max_lr: float, min_lr: float = 0.0, warmup_steps: int = 0, schedule: str = "cosine"
) -> float:
    """Learning rate at optimiser step ``step`` (0-based) of ``total_steps``.

    Linear warm-up from ``min_lr`` to ``max_lr`` over ``warmup_steps``, then ``schedule``:
    "cosine" anneals to ``min_lr`` at the last step (the PraNet recipe: 1e-4 -> 1e-7), "poly" decays with
    power 0.9, "constant" stays at ``max_lr``.
    """
    rate = SCHEDULES.get(schedule)
    if warmup_steps > 0 and step < warmup_steps:
        return min_lr + (max_lr - min_lr) * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps - 1)
    progress = min(1.0, max(0.0, (step - warmup_steps) / span))
    return rate(progress, max_lr, min_lr)

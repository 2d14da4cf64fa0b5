"""AdamW with a learning-rate schedule that a resumed run follows exactly.

The rate warms up linearly, then decays as 1 / sqrt(step); the curve does not
depend on the number of epochs, so a run resumed with more epochs follows
the curve of a run that asked for them from the start.

>>> [round(schedule_factor(step, warmup_steps=4), 3) for step in range(6)]
[0.25, 0.5, 0.75, 1.0, 0.894, 0.816]
"""

from __future__ import annotations

import math


def schedule_factor(step: int, warmup_steps: int) -> float:
    """The share of the peak rate at `step` (0-based): a linear warm-up, then 1 / sqrt decay."""
    step += 1
    return min(step / warmup_steps, math.sqrt(warmup_steps / step))


class ScheduledOptimizer:
    """AdamW stepping its learning rate along `schedule_factor`.

    `run_epochs` calls `zero_grad`, `step`, `state_dict` and `load_state_dict`
    (through the checkpoints); the schedule's position is saved with the
    optimizer state.
    """

    def __init__(self, parameters, learning_rate: float, warmup_steps: int):
        import torch

        self.optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.01,
                                           fused=True)
        warmup_steps = max(1, warmup_steps)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: schedule_factor(step, warmup_steps))

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.optimizer.step()
        self.schedule.step()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])

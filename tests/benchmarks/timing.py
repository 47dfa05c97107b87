"""Timing helpers shared by the benchmark scripts of this folder (run as scripts, not tests)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor, nn


def training_step(
    loss_fn: Callable[[], Tensor], model: nn.Module, lr: float = 1e-4
) -> Callable[[], float]:
    """A function doing one step: loss, backward, AdamW update; it returns the loss."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

    def step() -> float:
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def time_calls(
    calls: dict[str, Callable[[], object]], warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Wall times in ms of each call, running the calls in turn (so that a slow phase of the
    machine hits every contestant alike)."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1000)
    return times

"""A small, readable training loop shared by the notebooks."""

from __future__ import annotations

from typing import Callable

import torch
from tqdm.auto import tqdm


def train(
    model: torch.nn.Module,
    next_batch: Callable[[], object],
    loss_fn: Callable[[torch.nn.Module, object], torch.Tensor],
    steps: int,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.01,
    clip_norm: float | None = 1.0,
    warmup_steps: int = 0,
    desc: str = "training",
    callback: Callable[[int, torch.nn.Module], None] | None = None,
) -> list[float]:
    """Train ``model`` for ``steps`` AdamW steps on batches from ``next_batch()``.

    ``loss_fn(model, batch)`` returns the scalar loss. Returns the loss of every step, for
    plotting. Gradients are clipped to ``clip_norm`` (None: no clipping). ``callback(step,
    model)``, if given, runs after every optimizer step (step counts from 1), e.g. to keep a
    snapshot of the model halfway through.

    With ``warmup_steps`` the learning rate rises linearly from near 0 over that many steps,
    then stays constant (BERT-style models train unstably without it).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    )
    model.train()
    losses = []
    progress = tqdm(range(steps), desc=desc)
    for step in progress:
        loss = loss_fn(model, next_batch())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step + 1, model)
        if len(losses) % 50 == 0:
            progress.set_postfix(loss=f"{sum(losses[-50:]) / 50:.3f}")
    model.eval()
    return losses

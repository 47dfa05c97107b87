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
    decay: bool = False,
    fused: bool = False,
    desc: str = "training",
    callback: Callable[[int, torch.nn.Module], None] | None = None,
    show_progress: bool = True,
) -> list[float]:
    """Taught in notebook 03, section 3.
    Train ``model`` for ``steps`` AdamW steps on batches from ``next_batch()``.

    ``loss_fn(model, batch)`` returns the scalar loss. Returns the loss of every step, for
    plotting. Gradients are clipped to ``clip_norm`` (None: no clipping). ``callback(step,
    model)``, if given, runs after every optimizer step (step counts from 1), e.g. to keep a
    snapshot of the model halfway through. ``show_progress=False`` hides the bar (for a caller
    that shows one bar over many runs).

    With ``warmup_steps`` the learning rate rises linearly from near 0 over that many steps,
    then stays constant (BERT-style models train unstably without it), or, with
    ``decay=True``, falls linearly to 0 at the last step (BERT's schedule: a short run
    gets most from its steps when the rate ends small).

    ``fused=True`` asks for PyTorch's fused AdamW (the same update in one kernel over all
    parameters; for a tiny model on a CPU a step of it takes about a third of the time of the
    default loop over parameters). Where the installed PyTorch lacks it, the default is used.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    try:
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=learning_rate, weight_decay=weight_decay, fused=fused or None
        )
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this PyTorch or device
        optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)

    def rate(step: int) -> float:  # a factor of learning_rate at optimizer step `step`
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        if not decay or step < warmup_steps:
            return warm
        return max(0.0, (steps - step) / max(1, steps - warmup_steps))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    model.train()
    losses = []
    progress = tqdm(range(steps), desc=desc, disable=not show_progress)  # off: the caller shows one bar
    for step in progress:
        loss = loss_fn(model, next_batch())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm, foreach=True)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step + 1, model)
        if len(losses) % 50 == 0:
            progress.set_postfix(loss=f"{sum(losses[-50:]) / 50:.3f}")
    model.eval()
    return losses

"""Generating output token by token."""

from __future__ import annotations

import torch


@torch.no_grad()
def greedy_decode(
    model: torch.nn.Module,
    src: torch.Tensor,
    src_mask: torch.Tensor | None,
    max_length: int,
    bos: int,
    eos: int,
    prefix: torch.Tensor | None = None,
) -> torch.Tensor:
    """Greedy decoding with an encoder-decoder: always append the most likely next token.

    ``model`` needs ``encode(src, src_mask)`` and ``decode(tgt, memory, memory_mask)`` (as
    ``course_utils.models.EncoderDecoderModel``). Decoding starts from ``prefix`` (default: just
    ``bos``) and stops when every sequence has produced ``eos`` or after ``max_length`` new tokens.
    Returns the generated tokens after the starting ``bos`` (the prefix's other tokens included),
    shape (batch, at most max_length + prefix length - 1); positions after an ``eos`` hold ``eos``.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    model.eval()
    memory = model.encode(src, src_mask)
    if prefix is None:
        prefix = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
    tokens = prefix.to(src.device)
    finished = (tokens[:, 1:] == eos).any(dim=1)
    for _ in range(max_length):
        if finished.all():
            break
        logits = model.decode(tokens, memory, memory_mask=src_mask)
        next_token = logits[:, -1].argmax(dim=-1)
        next_token = torch.where(finished, torch.full_like(next_token, eos), next_token)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= next_token == eos
    return tokens[:, 1:]

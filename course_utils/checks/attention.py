"""Checkers for the exercises of notebook 02 (attention, the causal mask, heads).

Expected answers come from ``course_utils.attention``, the package's reference implementation.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_utils.attention import causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from course_utils.checks.core import Case, run_checks
from course_utils.checks.tensors import explain_tensors, tensors_match


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def check_attention(function: Callable) -> None:
    """``function(query, key, value, mask=None)`` should return ``(output, weights)``."""
    cases = []
    shapes = [((3, 4), (3, 4), (3, 4)), ((2, 5, 8), (2, 7, 8), (2, 7, 6)), ((2, 3, 4, 16),) * 3]
    for seed, (q, k, v) in enumerate(shapes):
        query, key, value = _random(*q, seed=seed), _random(*k, seed=seed + 10), _random(*v, seed=seed + 20)
        cases.append(Case(
            (query, key, value), scaled_dot_product_attention(query, key, value),
            hint="weights = softmax(query @ key.transpose(-2, -1) / sqrt(d)) over the last "
                 "dimension; output = weights @ value",
        ))
    query, key, value = (_random(2, 5, 8, seed=s) for s in (30, 31, 32))
    mask = causal_mask(5)
    cases.append(Case(
        (query, key, value), scaled_dot_product_attention(query, key, value, mask), kwargs={"mask": mask},
        hint="where mask is False the score must be -inf before the softmax "
             "(scores.masked_fill(~mask, float('-inf')))",
    ))
    run_checks("attention", function, cases, same=tensors_match, explain=explain_tensors)


def check_causal_mask(function: Callable[[int], torch.Tensor]) -> None:
    """``function(length)`` should return a bool (length, length) mask, True on and below the diagonal."""
    cases = [Case((n,), causal_mask(n), hint="torch.tril(torch.ones(n, n, dtype=torch.bool))")
             for n in (1, 2, 4, 7)]
    run_checks("causal_mask", function, cases, same=tensors_match, explain=explain_tensors)


def check_split_heads(function: Callable) -> None:
    """``function(x, num_heads)`` should turn (batch, length, width) into (batch, heads, length, width / heads)."""
    cases = []
    for seed, (shape, heads) in enumerate([((1, 3, 4), 2), ((2, 5, 12), 3), ((2, 5, 12), 1), ((3, 2, 8), 8)]):
        x = _random(*shape, seed=seed)
        cases.append(Case((x, heads), split_heads(x, heads),
                          hint="x.view(batch, length, heads, width // heads).transpose(1, 2): "
                               "head h gets the h-th slice of width / heads features"))
    run_checks("split_heads", function, cases, same=tensors_match, explain=explain_tensors)


def check_merge_heads(function: Callable) -> None:
    """``function(x)`` should undo ``split_heads``: (batch, heads, length, d) -> (batch, length, heads * d)."""
    cases = []
    for seed, shape in enumerate([(1, 2, 3, 2), (2, 3, 5, 4), (2, 1, 5, 12)]):
        x = _random(*shape, seed=seed)
        cases.append(Case((x,), merge_heads(x),
                          hint="x.transpose(1, 2).reshape(batch, length, heads * d); "
                               "merge_heads(split_heads(x, h)) must give x back"))
    run_checks("merge_heads", function, cases, same=tensors_match, explain=explain_tensors)

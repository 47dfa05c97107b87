"""Checkers for the exercises of notebook 02 (attention, the causal mask, heads).

Expected answers come from ``course_utils.attention``, the package's reference implementation,
computed before the student's function runs; while it runs, the reference functions it rebuilds
refuse to work (``run_checks(..., forbid=...)``), so a thin wrapper around them fails here already.
Hints say what to do in words; a line of code is there only on request, ``code_hint(name)``.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_utils.attention import (
    causal_mask,
    fused_attention,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from course_utils.checks.core import Case, register_code_hints, run_checks
from course_utils.checks.tensors import explain_tensors, tensors_match

# The idea behind each exercise, in words (a failed check prints the one that fits).
HINTS = {
    "attention": (
        "score every query against every key with a dot product, divide the scores by the "
        "square root of the key width, turn each query's row of scores into weights that sum "
        "to one, then average the values with those weights; leading batch or head dimensions "
        "ride along untouched"
    ),
    "attention_mask": (
        "a pair the mask marks False must end with a weight of exactly zero: push its score "
        "to minus infinity before the softmax, not after it"
    ),
    "causal_mask": (
        "query i may look at keys 0 to i, so the entries on and below the diagonal are allowed "
        "and those above it are not; return a boolean tensor"
    ),
    "split_heads": (
        "cut each position's features into num_heads consecutive slices of equal width, then "
        "put the heads dimension in front of the length dimension, so that head h holds the "
        "h-th slice"
    ),
    "merge_heads": (
        "undo split_heads step by step in reverse order: bring the length dimension back in "
        "front of the heads, then lay each position's heads side by side; merging a split "
        "must give the input back"
    ),
}

register_code_hints({
    "attention": "scores = scores.masked_fill(~mask, float('-inf'))  # before the softmax",
    "causal_mask": "torch.ones(length, length, dtype=torch.bool).tril()",
    "split_heads": (
        "batch, length, width = x.shape\n"
        "x.view(batch, length, num_heads, width // num_heads)  # then swap dims 1 and 2"
    ),
    "merge_heads": (
        "batch, num_heads, length, head_dim = x.shape\n"
        "x.transpose(1, 2)  # (batch, length, num_heads, head_dim); then lay the heads side by side"
    ),
})


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def check_attention(function: Callable) -> None:
    """Taught in notebook 02, section 3.
    ``function(query, key, value, mask=None)`` should return ``(output, weights)``."""
    cases = []
    shapes = [((3, 4), (3, 4), (3, 4)), ((2, 5, 8), (2, 7, 8), (2, 7, 6)), ((2, 3, 4, 16),) * 3]
    for seed, (q, k, v) in enumerate(shapes):
        query, key, value = _random(*q, seed=seed), _random(*k, seed=seed + 10), _random(*v, seed=seed + 20)
        cases.append(Case((query, key, value), scaled_dot_product_attention(query, key, value),
                          hint=HINTS["attention"]))
    query, key, value = (_random(2, 5, 8, seed=s) for s in (30, 31, 32))
    mask = causal_mask(5)
    cases.append(Case(
        (query, key, value), scaled_dot_product_attention(query, key, value, mask), kwargs={"mask": mask},
        hint=HINTS["attention_mask"],
    ))
    run_checks("attention", function, cases, same=tensors_match, explain=explain_tensors,
               forbid=(scaled_dot_product_attention, fused_attention))


def check_causal_mask(function: Callable[[int], torch.Tensor]) -> None:
    """Taught in notebook 02, section 4.
    ``function(length)`` should return a bool (length, length) mask, True on and below the diagonal."""
    cases = [Case((n,), causal_mask(n), hint=HINTS["causal_mask"]) for n in (1, 2, 4, 7)]
    run_checks("causal_mask", function, cases, same=tensors_match, explain=explain_tensors,
               forbid=(causal_mask,))


def check_split_heads(function: Callable) -> None:
    """Taught in notebook 02, section 5.
    ``function(x, num_heads)`` should turn (batch, length, width) into (batch, heads, length, width / heads)."""
    cases = []
    for seed, (shape, heads) in enumerate([((1, 3, 4), 2), ((2, 5, 12), 3), ((2, 5, 12), 1), ((3, 2, 8), 8)]):
        x = _random(*shape, seed=seed)
        cases.append(Case((x, heads), split_heads(x, heads), hint=HINTS["split_heads"]))
    run_checks("split_heads", function, cases, same=tensors_match, explain=explain_tensors,
               forbid=(split_heads, merge_heads))


def check_merge_heads(function: Callable) -> None:
    """Taught in notebook 02, section 5.
    ``function(x)`` should undo ``split_heads``: (batch, heads, length, d) -> (batch, length, heads * d)."""
    cases = []
    for seed, shape in enumerate([(1, 2, 3, 2), (2, 3, 5, 4), (2, 1, 5, 12)]):
        x = _random(*shape, seed=seed)
        cases.append(Case((x,), merge_heads(x), hint=HINTS["merge_heads"]))
    run_checks("merge_heads", function, cases, same=tensors_match, explain=explain_tensors,
               forbid=(split_heads, merge_heads))

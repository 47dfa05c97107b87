"""Checkers for the exercises of notebook 06 (GPT): the next-token loss, nucleus (top-p)
filtering and GPT-1's combined fine-tuning loss L3 = L2 + lambda L1.

Expected answers come from ``course_utils.lm``, ``course_utils.decoding`` and
``course_utils.gpt_finetuning``, which refuse to run while the student's function runs.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from course_utils import decoding, gpt_finetuning, lm
from course_utils.checks.core import Case, own_work, register_code_hints, run_checks
from course_utils.checks.tensors import explain_tensors, tensors_match

# The package's reference functions each exercise rebuilds: disabled while the student's runs.
NEXT_TOKEN_LOSS_PARTS = (lm.next_token_loss, lm.lm_loss)
TOP_P_PARTS = (decoding.top_p_filter, decoding.next_token)
COMBINED_LOSS_PARTS = (gpt_finetuning.gpt1_loss, lm.next_token_loss)

register_code_hints({
    "next_token_loss": (
        "predictions, targets = logits[:, :-1], input_ids[:, 1:]  # position t predicts token t + 1\n"
        "if attention_mask is not None: targets = targets.masked_fill(attention_mask[:, 1:] == 0, -100)\n"
        "F.cross_entropy(predictions.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)"
    ),
    "top_p_filter": (
        "sorted_logits, order = logits.sort(dim=-1, descending=True)\n"
        "probs = sorted_logits.softmax(-1); before = probs.cumsum(-1) - probs  # mass of the likelier tokens\n"
        "drop = (before >= p).scatter(-1, order, before >= p)  # back to vocabulary order"
    ),
    "combined_loss": (
        "l2 = F.cross_entropy(class_logits, labels)\n"
        "l1 = next_token_loss(lm_logits, input_ids, attention_mask)  # yours, from exercise 1\n"
        "return l2 + lm_weight * l1"
    ),
})


def _padded_batch(rows: int, length: int, vocab_size: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Logits, token ids and a right-padding mask (every row keeps at least 2 real tokens)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, length, vocab_size, generator=g)
    ids = torch.randint(0, vocab_size, (rows, length), generator=g)
    real = torch.randint(2, length + 1, (rows,), generator=g)
    real[0] = length  # one full row
    if rows > 1:
        real[1] = min(real[1], length - 2)  # and one with padding
    mask = (torch.arange(length)[None, :] < real[:, None]).long()  # (B, L): 1 real, 0 padding
    return logits, ids, mask


def check_next_token_loss(function: Callable) -> None:
    """Taught in notebook 06, section 1.
    ``function(logits (B, L, V), input_ids (B, L), attention_mask=None)`` -> the mean
    cross-entropy of position t's logits against token t + 1, padded targets left out."""
    cases = []
    shift_hint = ("position t has read tokens 0..t, so its logits score token t + 1: drop the last "
                  "position's logits and the first token, then compare the rest")
    for seed, (b, length, v) in enumerate([(2, 6, 11), (3, 9, 23), (1, 4, 5)]):
        logits, ids, mask = _padded_batch(b, length, v, seed)
        cases.append(Case((logits, ids), lm.next_token_loss(logits, ids), hint=shift_hint))
        cases.append(Case((logits, ids, mask), lm.next_token_loss(logits, ids, mask),
                          hint="a target whose attention_mask is 0 is padding: give it the label -100 "
                               "(or drop it) so it counts for nothing, and average over the real targets"))
    run_checks("next_token_loss", function, cases, same=tensors_match, explain=explain_tensors,
               forbid=NEXT_TOKEN_LOSS_PARTS)
    _check_inputs_unchanged("next_token_loss", function, _padded_batch(2, 6, 11, seed=7))


def _check_inputs_unchanged(name: str, function: Callable, arguments: tuple) -> None:
    """Fail when ``function`` writes into the tensors it was given (e.g. -100 into input_ids)."""
    copies = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in arguments)
    with own_work(function, *NEXT_TOKEN_LOSS_PARTS, *COMBINED_LOSS_PARTS[:1]):
        function(*arguments)
    for position, (before, after) in enumerate(zip(copies, arguments)):
        if isinstance(before, torch.Tensor) and not torch.equal(before, after):
            raise AssertionError(
                f"{name} changed its argument {position + 1} in place\n  hint: build the targets in a new "
                f"tensor (slicing gives a view of the caller's ids: writing into it changes them)")


def _same_filter(got: Any, expected: torch.Tensor) -> bool:
    """Same shape, the same tokens set to -inf, and the kept scores unchanged."""
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return False
    kept = torch.isfinite(expected)
    return torch.equal(torch.isfinite(got), kept) and torch.allclose(got[kept], expected[kept])


def _explain_filter(got: Any, expected: torch.Tensor) -> str:
    if not isinstance(got, torch.Tensor):
        return f"expected a tensor, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)} (filter, do not cut the vocabulary)"
    kept_got, kept = torch.isfinite(got), torch.isfinite(expected)
    if not torch.equal(kept_got, kept):
        return (f"you kept {int(kept_got.sum())} tokens, the nucleus has {int(kept.sum())}; "
                f"first disagreement at index {tuple(int(i) for i in (kept_got != kept).nonzero()[0])}")
    return "the kept tokens' scores changed: leave them as they are"


def check_top_p_filter(function: Callable) -> None:
    """Taught in notebook 06, section 4.
    ``function(logits (..., V), p)`` -> the logits with every token outside the nucleus set to
    ``-inf``: the nucleus is the smallest set of most likely tokens whose probabilities add up
    to at least p (it always holds the most likely token)."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for shape, p in (((10,), 0.5), ((3, 12), 0.9), ((2, 4, 20), 0.7), ((4, 30), 0.3)):
        logits = 3 * torch.randn(*shape, generator=g)
        cases.append(Case((logits, p), decoding.top_p_filter(logits, p),
                          hint="sort the probabilities from the largest, add them up, and keep a token "
                               "while the tokens before it have not yet reached p; then undo the sort"))
    peaked = torch.tensor([[5.0, 1.0, 0.5, 0.0, -1.0]])
    cases.append(Case((peaked, 0.5), decoding.top_p_filter(peaked, 0.5),
                      hint="the most likely token alone already holds more than p: the nucleus is that one token"))
    run_checks("top_p_filter", function, cases, same=_same_filter, explain=_explain_filter, forbid=TOP_P_PARTS)


def check_combined_loss(function: Callable) -> None:
    """Taught in notebook 06, section 6.
    ``function(class_logits (N, K), labels (N,), lm_logits (N, L, V), input_ids (N, L),
    attention_mask (N, L), lm_weight)`` -> GPT-1's L3 = L2 + lm_weight * L1: the task's
    cross-entropy plus lm_weight times the next-token loss on the same (padded) inputs."""
    cases = []
    for seed, (n, k, length, v, weight) in enumerate([(4, 2, 6, 13, 0.5), (3, 3, 8, 17, 0.0),
                                                       (5, 2, 5, 11, 2.0)]):
        lm_logits, ids, mask = _padded_batch(n, length, v, seed)
        g = torch.Generator().manual_seed(100 + seed)
        class_logits, labels = torch.randn(n, k, generator=g), torch.randint(0, k, (n,), generator=g)
        expected = F.cross_entropy(class_logits, labels) + weight * lm.next_token_loss(lm_logits, ids, mask)
        cases.append(Case((class_logits, labels, lm_logits, ids, mask, weight), expected,
                          hint="L2 is the classification cross-entropy; L1 is exercise 1's next-token "
                               "loss on the task's own inputs (padding excluded); return L2 + lm_weight * L1"))
    run_checks("combined_loss", function, cases, same=tensors_match, explain=explain_tensors,
               forbid=COMBINED_LOSS_PARTS)
    class_logits, labels = torch.randn(2, 2), torch.tensor([0, 1])
    _check_inputs_unchanged("combined_loss", function, (class_logits, labels, *_padded_batch(2, 6, 11, seed=8), 0.5))

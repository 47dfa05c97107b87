"""Checkers for the exercises of notebook 08 (attention heads): a head's entropy and a head's
dependency accuracy.

The student's signatures (called positionally, so the names may differ):

- ``head_entropy(attention) -> (layers, heads)``: ``attention (layers, heads, L, L)`` of one
  input, each row a distribution; the mean over rows of each row's entropy in nats;
- ``head_accuracy(word_weights, gold_heads) -> (right, arcs)``: one head's ``(W, W)`` word-to-word
  weights on one sentence and the gold head of each word (-1 at the root); ``arcs`` counts the
  words that have a head, ``right`` those whose most-attended other word is it.

The expected answers are computed here from the definitions; the package's
``attention_entropy`` and ``dependency_accuracy`` refuse to run while the student's function runs.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from course_utils.analysis import heads
from course_utils.checks.core import Case, fail, register_code_hints, run_checks
from course_utils.checks.tensors import explain_tensors, tensors_match

# The package's reference functions each exercise rebuilds: disabled while the student's runs.
# (The checker's own reference answers, _entropy and _accuracy below, are disabled too.)
HEAD_ENTROPY_PARTS: tuple = (heads.attention_entropy,)
HEAD_ACCURACY_PARTS: tuple = (heads.dependency_accuracy, heads.relation_table, heads.most_attended,
                              heads.word_attention)

register_code_hints({
    "head_entropy": "rows = attention.clamp_min(1e-12)  # log(0) is -inf, but 0 * log(1e-12) is 0\n"
                    "# then: the entropy of each row (a sum over the last dimension), and a mean over the rows",
    "head_accuracy": "weights = word_weights.clone(); weights.fill_diagonal_(float('-inf'))  # never the word itself\n"
                     "# then: each word's most-attended other word, compared with its gold head where it has one",
})


def _entropy(attention: torch.Tensor) -> torch.Tensor:
    rows = attention.double()
    terms = torch.where(rows > 0, -rows * rows.clamp_min(1e-300).log(), torch.zeros_like(rows))
    return terms.sum(-1).mean(-1).float()


def _entropy_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(8)
    uniform = torch.full((1, 1, 4, 4), 0.25)
    focused = torch.eye(3)[None, None]
    random = torch.softmax(torch.randn(2, 3, 5, 5, generator=generator) * 2, -1)
    sparse = random.clone()
    sparse[..., 0] = 0.0  # nobody looks at the first token: 0 * log 0 must count as 0
    sparse = sparse / sparse.sum(-1, keepdim=True)
    return [
        Case((uniform,), torch.tensor([[math.log(4)]]), hint="a uniform row over 4 tokens has entropy log 4"),
        Case((focused,), torch.zeros(1, 1), hint="all weight on one token: entropy 0"),
        Case((random,), _entropy(random), hint="the entropy of each row, -sum p log p, then the mean over the rows"),
        Case((sparse,), _entropy(sparse), hint="a weight of exactly 0 adds nothing (0 * log 0 = 0), not nan"),
    ]


def _explain_entropy(got: Any, expected: Any) -> str:
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        return "your result contains nan: a weight of 0 makes 0 * log 0, which must count as 0"
    return explain_tensors(got, expected)


def check_head_entropy(function: Callable) -> None:
    """Taught in notebook 08. ``function(attention (layers, heads, L, L)) -> (layers, heads)``."""
    run_checks("head_entropy", function, _entropy_cases(),
               same=lambda got, expected: tensors_match(got, expected, atol=1e-4),
               explain=_explain_entropy, forbid=HEAD_ENTROPY_PARTS)


def _accuracy(word_weights: torch.Tensor, gold_heads: list[int]) -> tuple[int, int]:
    right = arcs = 0
    for word, head in enumerate(gold_heads):
        if head < 0:
            continue
        others = [(float(word_weights[word, j]), -j) for j in range(len(gold_heads)) if j != word]
        best = -max(others)[1]  # the largest weight; on a tie, the first word
        right += best == head
        arcs += 1
    return right, arcs


def _accuracy_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(5)
    perfect = torch.tensor([[0.1, 0.9, 0.0], [0.0, 0.2, 0.8], [0.5, 0.5, 0.0]])  # the -> cat -> sleeps
    selfish = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])  # "the" looks at itself most
    random = torch.softmax(torch.randn(7, 7, generator=generator) * 3, -1)
    gold = [2, 2, -1, 4, 2, 4, 2]
    tie = torch.tensor([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
    return [
        Case((perfect, [1, 2, -1]), (2, 2), hint="the root (-1) is not an arc: 2 arcs here, both right"),
        Case((selfish, [1, 2, -1]), (2, 2), hint="a word never predicts itself: take its most-attended *other* word"),
        Case((random, gold), _accuracy(random, gold), hint="count the words whose most-attended other word is their gold head"),
        Case((tie, [2, 0, -1]), _accuracy(tie, [2, 0, -1]), hint="on a tie, the first word counts as the most attended (as argmax does)"),
    ]


def _same_counts(got: Any, expected: tuple[int, int]) -> bool:
    try:
        right, arcs = got
        return (int(right), int(arcs)) == expected and float(right) == int(right)
    except (TypeError, ValueError):
        return False


def check_head_accuracy(function: Callable) -> None:
    """Taught in notebook 08. ``function(word_weights (W, W), gold_heads) -> (right, arcs)``."""
    cases = _accuracy_cases()
    run_checks("head_accuracy", function, cases, same=_same_counts, forbid=HEAD_ACCURACY_PARTS)


def check_against_package(student_accuracy: Any, package_accuracy: Any) -> None:
    """The notebook's table from the student's function equals the package's, head by head."""
    if not tensors_match(torch.as_tensor(student_accuracy, dtype=torch.float32),
                         torch.as_tensor(package_accuracy, dtype=torch.float32), atol=1e-6):
        fail("your head_accuracy gives other accuracies than the package's dependency_accuracy on the same samples",
             "both read word-to-word attention without [CLS]/[SEP], skip the root, never predict the word itself")
    print("✅ your head_accuracy agrees with course_utils.analysis.dependency_accuracy on every head")


HEAD_ENTROPY_PARTS += (_entropy,)
HEAD_ACCURACY_PARTS += (_accuracy,)

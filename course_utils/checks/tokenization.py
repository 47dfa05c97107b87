"""Checkers for the exercises of notebooks 00 and 01 (words, pairs and BPE merges).

The expected answers come from ``course_utils.tokenization``, the package's reference
implementation, so the exercises and the package can never disagree.
"""

from __future__ import annotations

from typing import Callable

from course_utils.checks.core import Case, run_checks
from course_utils.tokenization import (
    LECTURE_CORPUS,
    count_pairs,
    merge_pair,
    split_word,
    train_bpe,
    word_counts,
)

_SMALL_TEXTS = [
    LECTURE_CORPUS,
    "the cat sat on the mat\nthe dog sat on the log",
    "  spaces   and\ttabs\n\nand newlines  ",
    "one",
]


def check_word_counts(function: Callable[[str], dict]) -> None:
    """``function(text)`` should count whitespace-separated words, in order of first appearance."""
    cases = [
        Case((text,), word_counts(text), hint="split on any whitespace with text.split()")
        for text in _SMALL_TEXTS
    ]
    cases[-1].hint = "a text with a single word has a single entry"
    run_checks("word_counts", function, cases, same=lambda got, exp: _ordered(got) == _ordered(exp))


def _ordered(mapping: object) -> object:
    """Dict items as a list, so that order counts in the comparison."""
    return list(mapping.items()) if isinstance(mapping, dict) else mapping


def _vocab(text: str) -> dict[tuple[str, ...], int]:
    return {split_word(word): count for word, count in word_counts(text).items()}


def check_count_pairs(function: Callable[[dict], dict]) -> None:
    """``function(vocab)`` should count adjacent pairs, weighted by word counts, first seen first."""
    vocabs = [_vocab(text) for text in _SMALL_TEXTS]
    vocabs.append({("a", "a", "a", "b"): 1})
    vocabs.append({("lo", "w", "</w>"): 5, ("lo", "w", "e", "r", "</w>"): 2})
    cases = [
        Case(
            (vocab,),
            count_pairs(vocab),
            hint="each adjacent pair in a word counts as many times as the word occurs; "
            "keep the pairs in the order you first meet them",
        )
        for vocab in vocabs
    ]
    cases[-2].hint = "overlapping pairs count: 'a a a b' holds the pair (a, a) twice"
    run_checks("count_pairs", function, cases, same=lambda got, exp: _ordered(got) == _ordered(exp))


def check_merge_pair(function: Callable[[tuple, tuple], tuple]) -> None:
    """``function(symbols, pair)`` should merge every occurrence of ``pair``, left to right."""
    examples = [
        (("l", "o", "w", "</w>"), ("l", "o")),
        (("n", "e", "w", "e", "s", "t", "</w>"), ("e", "s")),
        (("n", "e", "w", "es", "t", "</w>"), ("es", "t")),
        (("l", "o", "w", "</w>"), ("o", "l")),
        (("a", "a", "a", "b"), ("a", "a")),
        (("a", "b", "a", "b"), ("a", "b")),
        (("x",), ("x", "x")),
    ]
    hints = {
        3: "if the pair does not occur, the word comes back unchanged (as a tuple)",
        4: "merge left to right without overlaps: ('a','a','a','b') becomes ('aa','a','b')",
        5: "merge every occurrence, not only the first",
    }
    cases = [
        Case((symbols, pair), merge_pair(symbols, pair), hint=hints.get(i, "return a tuple"))
        for i, (symbols, pair) in enumerate(examples)
    ]
    run_checks("merge_pair", function, cases)


def check_train_bpe_loop(function: Callable[[dict, int], list]) -> None:
    """``function(words, num_merges)`` should return the merges of ``train_bpe(..., "first")``.

    ``words`` maps each word to its count, as ``word_counts`` returns it.
    """
    texts = [LECTURE_CORPUS, _SMALL_TEXTS[1], "aaabdaaabac abab"]
    cases = []
    for text, merges in zip(texts, (10, 12, 5)):
        words = word_counts(text)
        expected = train_bpe(words, merges, tie_break="first").merges
        cases.append(
            Case(
                (words, merges),
                expected,
                hint="split each word with split_word, then repeat: count pairs, take the most "
                "frequent (the first one seen wins ties: max(pairs, key=pairs.get) does that), "
                "merge it in every word",
            )
        )
    run_checks("train_bpe_loop", function, cases, same=lambda got, exp: list(map(tuple, got)) == exp)

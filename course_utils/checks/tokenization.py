"""Checkers for the exercises of notebooks 00 and 01 (words, pairs and BPE merges).

Taught in notebook 00, section 4 (``word_counts``) and notebook 01, sections 2 to 4 (the rest).
The expected answers come from ``course_utils.tokenization``, the package's reference
implementation, so the exercises and the package can never disagree. Hints say the idea in
words; the line of code for each exercise waits in ``code_hint(name)``.
"""

from __future__ import annotations

from typing import Callable

from course_utils.checks.core import Case, register_code_hints, run_checks
from course_utils.tokenization import (
    LECTURE_CORPUS,
    count_pairs,
    merge_pair,
    split_word,
    train_bpe,
    word_counts,
)
from course_utils.tokenization import bpe_core

# Everything in the package that could do train_bpe_loop's work for it.
_TRAINERS = (train_bpe, bpe_core.learn_merges, bpe_core._IncrementalPairs, bpe_core.apply_merges,
             count_pairs, merge_pair)

register_code_hints({
    "word_counts": (
        "for word in text.split():\n"
        "    counts[word] = counts.get(word, 0) + 1"
    ),
    "count_pairs": (
        "for symbols, count in vocab.items():\n"
        "    for pair in zip(symbols, symbols[1:]):\n"
        "        pairs[pair] = pairs.get(pair, 0) + count"
    ),
    "merge_pair": (
        "if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:\n"
        "    merged.append(symbols[i] + symbols[i + 1])\n"
        "    i += 2  # skip both halves: no overlaps"
    ),
    "train_bpe_loop": (
        "vocab = {split_word(word): count for word, count in words.items()}\n"
        "best = max(pairs, key=pairs.get)  # max keeps the first of equal counts"
    ),
})

_SMALL_TEXTS = [
    LECTURE_CORPUS,
    "the cat sat on the mat\nthe dog sat on the log",
    "  spaces   and\ttabs\n\nand newlines  ",
    "one",
]


def _ordered(mapping: object) -> object:
    """Dict items as a list, so that order counts in the comparison."""
    return list(mapping.items()) if isinstance(mapping, dict) else mapping


def _vocab(text: str) -> dict[tuple[str, ...], int]:
    return {split_word(word): count for word, count in word_counts(text).items()}


def word_counts_cases() -> list[Case]:
    """The visible checks of ``word_counts`` (notebook 00)."""
    hints = [
        "words are separated by any whitespace character, spaces and line breaks alike; count "
        "each one, keeping the words in the order they first appear",
        "a word that comes back later adds to its first count; it gets no new entry",
        "any run of whitespace separates words: spaces, tabs and newlines alike, "
        "and whitespace at the ends makes no empty word",
        "a text with a single word has a single entry",
    ]
    return [Case((text,), word_counts(text), hint=hint) for text, hint in zip(_SMALL_TEXTS, hints)]


def count_pairs_cases() -> list[Case]:
    """The visible checks of ``count_pairs`` (notebook 01, section 2)."""
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
    cases[-2].hint = "overlapping pairs count: in a a a b the pair a-a occurs twice"
    cases[-1].hint = "symbols may be longer than one letter: pair whole symbols, not letters"
    return cases


def merge_pair_cases() -> list[Case]:
    """The visible checks of ``merge_pair`` (notebook 01, section 3)."""
    examples = [
        (("l", "o", "w", "</w>"), ("l", "o")),
        (("n", "e", "w", "e", "s", "t", "</w>"), ("e", "s")),
        (("n", "e", "w", "es", "t", "</w>"), ("es", "t")),
        (("l", "o", "w", "</w>"), ("o", "l")),
        (("a", "a", "a", "b"), ("a", "a")),
        (("a", "b", "a", "b"), ("a", "b")),
        (("x",), ("x", "x")),
        (("ab", "c"), ("b", "c")),
    ]
    hints = {
        3: "if the pair does not occur, the word comes back unchanged, still a tuple",
        4: "scan left to right, and after a merge go on after both merged symbols: three a's "
           "in a row become one aa followed by one a",
        5: "merge every occurrence, not only the first",
        6: "a word of one symbol has no pair at all",
        7: "pair whole symbols, not letters: the b of the symbol ab is not a symbol of its own, "
           "so the pair b-c does not occur in ab-c",
    }
    return [
        Case((symbols, pair), merge_pair(symbols, pair),
             hint=hints.get(i, "glue the two symbols of each occurrence into one; return a tuple"))
        for i, (symbols, pair) in enumerate(examples)
    ]


def train_bpe_loop_cases() -> list[Case]:
    """The visible checks of ``train_bpe_loop`` (notebook 01, section 4)."""
    texts = [LECTURE_CORPUS, _SMALL_TEXTS[1], "aaabdaaabac abab"]
    loop_hint = ("split each word into its characters plus the end-of-word symbol, then repeat: "
                 "count the pairs, take the most frequent one (among equal counts, the one met "
                 "first), merge it in every word and record it as a pair of two symbols")
    recount_hint = ("count the pairs again after every merge, in the words as the merges have "
                    "left them: a merge removes the pairs around each merged occurrence and makes "
                    "new ones with the new symbol (in a a a, merging a-a leaves aa-a, and no a-a)")
    cases = []
    for text, merges, hint in zip(texts, (10, 12, 5), (loop_hint, loop_hint, recount_hint)):
        words = word_counts(text)
        cases.append(Case((words, merges), train_bpe(words, merges, tie_break="first").merges,
                          hint=hint))
    return cases


# Exercise name -> the cases its checker runs (the tests read the hints from here).
CASES: dict[str, Callable[[], list[Case]]] = {
    "word_counts": word_counts_cases,
    "count_pairs": count_pairs_cases,
    "merge_pair": merge_pair_cases,
    "train_bpe_loop": train_bpe_loop_cases,
}


def check_word_counts(function: Callable[[str], dict]) -> None:
    """Taught in notebook 00, section 4.
    ``function(text)`` should count whitespace-separated words, in order of first appearance."""
    run_checks("word_counts", function, word_counts_cases(),
               same=lambda got, exp: _ordered(got) == _ordered(exp), forbid=(word_counts,))


def check_count_pairs(function: Callable[[dict], dict]) -> None:
    """Taught in notebook 01, section 2.
    ``function(vocab)`` should count adjacent pairs, weighted by word counts, first seen first."""
    run_checks("count_pairs", function, count_pairs_cases(),
               same=lambda got, exp: _ordered(got) == _ordered(exp), forbid=(count_pairs,))


def check_merge_pair(function: Callable[[tuple, tuple], tuple]) -> None:
    """Taught in notebook 01, section 3.
    ``function(symbols, pair)`` should merge every occurrence of ``pair``, left to right."""
    run_checks("merge_pair", function, merge_pair_cases(), forbid=(merge_pair,))


def _same_merges(got: object, expected: list) -> bool:
    """A list of tuples, equal to the expected one (a list of lists is not accepted)."""
    return isinstance(got, list) and all(type(m) is tuple for m in got) and got == expected


def _explain_merges(got: object, expected: list) -> str:
    """Where a returned merge list first differs from the expected one, in words."""
    if not isinstance(got, list):
        return f"a {type(got).__name__} came back; return a list of merges"
    kinds = sorted({type(m).__name__ for m in got if type(m) is not tuple})
    if kinds:
        same_pairs = [tuple(m) if isinstance(m, (list, tuple)) else m for m in got] == expected
        return (f"some merges are a {', '.join(kinds)}, not a tuple"
                + (" (the pairs themselves are right)" if same_pairs else "")
                + ": record each merge as a tuple of its two symbols, like the keys of count_pairs")
    for number, (mine, theirs) in enumerate(zip(got, expected), start=1):
        if mine != theirs:
            return f"merge {number} is {mine!r}, expected {theirs!r} (the merges before it agree)"
    return f"{len(got)} merges came back, expected {len(expected)} (the common ones agree)"


def check_train_bpe_loop(function: Callable[[dict, int], list]) -> None:
    """Taught in notebook 01, section 4.
    ``function(words, num_merges)`` should return the merges of ``train_bpe(..., "first")``.

    ``words`` maps each word to its count, as ``word_counts`` returns it; the answer is a list
    of tuples, one ``(left, right)`` per merge.
    """
    run_checks("train_bpe_loop", function, train_bpe_loop_cases(), same=_same_merges,
               explain=_explain_merges, forbid=_TRAINERS)

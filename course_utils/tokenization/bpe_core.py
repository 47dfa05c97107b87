"""The BPE training engine shared by word-level and byte-level BPE.

A *vocabulary* here maps a word, written as a tuple of symbols, to how often
the word occurs::

    {("l", "o", "w", "</w>"): 5, ("l", "o", "w", "e", "r", "</w>"): 2}

Training repeatedly merges the most frequent adjacent pair of symbols.
``count_pairs`` and ``merge_pair`` are the two textbook steps (recount
everything, rewrite every word); ``learn_merges`` does the same work
incrementally: after a merge it only revisits the words that contained the
merged pair and only updates the counts of the pairs that changed.
"""

from __future__ import annotations

import heapq
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Pair = tuple[str, str]

TIE_BREAKS = ("first", "lexical", "id")
"""How to choose between equally frequent pairs (see ``learn_merges``)."""


def count_pairs(vocab: Mapping[tuple[str, ...], int]) -> dict[Pair, int]:
    """Taught in notebook 01, section 2. Count adjacent symbol pairs, weighted by word count.

    Keys are in order of first occurrence (words in mapping order, each word
    left to right).

    >>> count_pairs({("l", "o", "w"): 5, ("l", "o", "t"): 2})
    {('l', 'o'): 7, ('o', 'w'): 5, ('o', 't'): 2}
    """
    counts: dict[Pair, int] = {}
    for symbols, freq in vocab.items():
        for pair in zip(symbols, symbols[1:]):
            counts[pair] = counts.get(pair, 0) + freq
    return counts


def merge_pair(symbols: Sequence[str], pair: Pair) -> tuple[str, ...]:
    """Taught in notebook 01, section 3.
    Merge every non-overlapping occurrence of ``pair``, scanning left to right.

    >>> merge_pair(("a", "a", "a", "b"), ("a", "a"))
    ('aa', 'a', 'b')
    """
    left, right = pair
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == left and symbols[i + 1] == right:
            merged.append(left + right)
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return tuple(merged)


def apply_merges(symbols: Sequence[str], ranks: Mapping[Pair, int]) -> list[str]:
    """Taught in notebook 01, section 5, as what ``BPETokenizer.encode_word`` runs.
    Segment one word with learned merges, lowest rank first (as GPT-2 does).

    >>> apply_merges(["l", "o", "w"], {("o", "w"): 0, ("l", "ow"): 1})
    ['low']
    """
    parts = tuple(symbols)
    while len(parts) > 1:
        best = min(zip(parts, parts[1:]), key=lambda p: ranks.get(p, len(ranks)))
        if best not in ranks:
            break
        parts = merge_pair(parts, best)
    return list(parts)


@dataclass(frozen=True)
class BPEStep:
    """One recorded training step: the state *before* ``pair`` was merged."""

    pair: Pair  # the pair merged at this step
    count: int  # its count
    pair_counts: dict[Pair, int]  # every pair's count, as count_pairs orders them
    segmentation: dict[tuple[str, ...], int]  # each word's symbols -> word count


def check_num_merges(num_merges: object) -> None:
    if isinstance(num_merges, bool) or not isinstance(num_merges, int) or num_merges < 0:
        raise ValueError(f"num_merges must be an int >= 0 (0 means no merges); got {num_merges!r}")


def check_tie_break(tie_break: object) -> None:
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"unknown tie_break {tie_break!r}; allowed: {', '.join(TIE_BREAKS)}")


def learn_merges(
    vocab: Mapping[tuple[str, ...], int],
    num_merges: int,
    tie_break: str = "first",
    alphabet: Iterable[str] = (),
    record_steps: bool = False,
) -> tuple[list[Pair], list[BPEStep]]:
    """Taught in notebook 01, section 4.
    Learn up to ``num_merges`` merges from ``vocab`` (fewer if no pair is left).

    ``alphabet`` adds initial symbols that may not occur in ``vocab`` (they only
    matter for the ``"id"`` tie-break). Ties between equally frequent pairs:

    - ``"first"``: the pair that occurs first, scanning words in mapping order,
      each left to right in its current segmentation (Sennrich et al. 2016).
    - ``"lexical"``: the largest ``(count, pair)``, as subword-nmt does.
    - ``"id"``: the smallest ``(id_left, id_right)``, as Hugging Face
      ``tokenizers`` does: initial symbols are numbered in sorted order and each
      new symbol gets the next number (a symbol rebuilt by another merge keeps
      its number).
    """
    check_num_merges(num_merges)
    check_tie_break(tie_break)
    state = _IncrementalPairs(vocab, alphabet, tie_break)
    merges: list[Pair] = []
    steps: list[BPEStep] = []
    for _ in range(num_merges):
        best = state.best_pair()
        if best is None:
            break
        pair = state.names_of(best)
        if record_steps:
            segmentation = state.segmentation()
            steps.append(
                BPEStep(pair, state.pair_counts[best], count_pairs(segmentation), segmentation)
            )
        state.merge(best)
        merges.append(pair)
    return merges, steps


class _IncrementalPairs:
    """Words being merged, plus pair counts kept up to date after each merge.

    Every symbol is stored as one character whose code point is the symbol's
    id (``names[id]`` is its text). A word is then a short ``str`` and a pair
    a 2-character ``str``, so ``str.find`` and ``str.replace`` scan and merge
    in C, and sorting pairs as strings sorts them by ``(id_left, id_right)``.

    - ``pair_counts[p]``: weighted count of pair ``p`` (only pairs with count > 0)
    - ``where[p]``: indices of the words that contain ``p`` (may also hold
      words that lost ``p`` since; those are skipped when met)
    - ``heap``: entries ``(-count, p)``; an entry whose count is no longer the
      pair's current count is stale and skipped when popped ("lazy deletion").
    """

    def __init__(
        self, vocab: Mapping[tuple[str, ...], int], alphabet: Iterable[str], tie_break: str
    ) -> None:
        self.tie_break = tie_break
        self.names: list[str] = sorted(set(alphabet).union(*vocab))
        self.char_of: dict[str, str] = {name: chr(i) for i, name in enumerate(self.names)}
        self.words: list[str] = ["".join(map(self.char_of.__getitem__, word)) for word in vocab]
        self.freqs: list[int] = list(vocab.values())
        self.pair_counts: dict[str, int] = {}
        self.where: defaultdict[str, set[int]] = defaultdict(set)
        for i, (word, freq) in enumerate(zip(self.words, self.freqs)):
            for pair in map(operator.add, word, word[1:]):  # adjacent characters
                self.pair_counts[pair] = self.pair_counts.get(pair, 0) + freq
                self.where[pair].add(i)
        self.heap = [(-count, pair) for pair, count in self.pair_counts.items()]
        heapq.heapify(self.heap)

    def names_of(self, pair: str) -> Pair:
        return self.names[ord(pair[0])], self.names[ord(pair[1])]

    def segmentation(self) -> dict[tuple[str, ...], int]:
        return {tuple(self.names[ord(c)] for c in w): f for w, f in zip(self.words, self.freqs)}

    def best_pair(self) -> str | None:
        """Pop the most frequent pair, breaking ties by ``self.tie_break``."""
        heap, counts = self.heap, self.pair_counts
        while heap and counts.get(heap[0][1]) != -heap[0][0]:
            heapq.heappop(heap)  # stale entry
        if not heap:
            return None
        if self.tie_break == "id":  # the heap order is (-count, id_left, id_right)
            return heapq.heappop(heap)[1]
        top = heap[0][0]
        tied = set()
        while heap and heap[0][0] == top:
            _, pair = heapq.heappop(heap)
            if counts.get(pair) == -top:
                tied.add(pair)
        if self.tie_break == "lexical":
            best = max(tied, key=self.names_of)
        else:
            best = min(tied, key=self._first_location)
        for pair in tied - {best}:
            heapq.heappush(heap, (top, pair))
        return best

    def _first_location(self, pair: str) -> tuple[int, int]:
        """(word index, position) of the first occurrence of ``pair``."""
        candidates = self.where[pair]
        while True:
            i = min(candidates)
            position = self.words[i].find(pair)
            if position >= 0:
                return i, position
            candidates.discard(i)  # word i no longer contains the pair

    def merge(self, pair: str) -> None:
        """Merge ``pair`` in every word containing it and update the counts.

        Only the neighbours of a merged occurrence change: in ``x a b y``,
        merging ``(a, b)`` removes ``(x, a)`` and ``(b, y)`` and adds
        ``(x, ab)`` and ``(ab, y)``.
        """
        a, b = pair
        ab = self._symbol(self.names[ord(a)] + self.names[ord(b)])
        words, where = self.words, self.where
        delta: defaultdict[str, int] = defaultdict(int)  # change of each pair's count
        for i in where.pop(pair):
            word = words[i]
            j = word.find(pair)
            if j < 0:
                continue  # word i lost the pair since
            freq = self.freqs[i]
            end = -1  # end of the previous occurrence, now the new symbol ab
            while j >= 0:
                if j > 0:  # x a b -> x ab
                    x = ab if j == end else word[j - 1]
                    delta[x + a] -= freq
                    new_pair = x + ab
                    delta[new_pair] += freq
                    where[new_pair].add(i)
                if j + 2 < len(word):  # a b y -> ab y
                    y = word[j + 2]
                    delta[b + y] -= freq
                    new_pair = ab + y
                    delta[new_pair] += freq
                    where[new_pair].add(i)
                end = j + 2
                j = word.find(pair, end)
            words[i] = word.replace(pair, ab)  # left to right, like merge_pair
        del self.pair_counts[pair]  # every occurrence is gone now
        delta.pop(pair, None)  # (a, a) overlapping itself in "a a a"
        for other, change in delta.items():
            count = self.pair_counts.get(other, 0) + change
            if count > 0:
                if change:
                    self.pair_counts[other] = count
                    heapq.heappush(self.heap, (-count, other))
            else:
                self.pair_counts.pop(other, None)
                where.pop(other, None)

    def _symbol(self, name: str) -> str:
        """The character of symbol ``name``, numbering it if new.

        A merge may rebuild an existing symbol (from another pair): reuse its id.
        """
        if name not in self.char_of:
            self.char_of[name] = chr(len(self.names))  # at most 1_114_112 symbols
            self.names.append(name)
        return self.char_of[name]

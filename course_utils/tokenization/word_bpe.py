"""Word-level BPE as drawn in the lecture (Sennrich et al. 2016).

Each word is split into characters plus a separate end-of-word symbol
``</w>``; training merges the most frequent adjacent pair again and again.

>>> tok = train_bpe(LECTURE_CORPUS, 10)
>>> tok.merges[:3]
[('e', 's'), ('es', 't'), ('est', '</w>')]
>>> tok.tokenize("lowest newer")
['low', 'est</w>', 'new', 'e', 'r', '</w>']
>>> tok.encode("lowest newer")
[15, 13, 18, 2, 7, 0]
>>> tok.decode([15, 13, 18, 2, 7, 0])
'lowest newer'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ._json import VERSION, check_merges, check_strings, read_json, write_json_atomic
from .base import Tokenizer, check_text
from .bpe_core import (
    TIE_BREAKS,
    BPEStep,
    Pair,
    apply_merges,
    check_num_merges,
    check_tie_break,
    learn_merges,
)

LECTURE_CORPUS = "\n".join(["low lower newest"] * 2 + ["low widest newest"] * 3)
"""The lecture's five-line toy corpus."""

Corpus = str | Iterable[str] | Mapping[str, int]
_CORPUS_KINDS = "a str, an iterable of str lines, or a mapping word -> positive int count"


def word_counts(corpus: Corpus) -> dict[str, int]:
    """Taught in notebook 01, section 1 (notebook 00, section 4 uses it as its example exercise).
    Count whitespace-separated words; keys in order of first appearance.

    ``corpus`` is a text, an iterable of lines, or a mapping word -> count.

    >>> word_counts("low lower\\nlow")
    {'low': 2, 'lower': 1}
    """
    if isinstance(corpus, Mapping):
        return _checked_counts(corpus)
    if isinstance(corpus, str):
        lines: Iterable[object] = [corpus]
    elif isinstance(corpus, Iterable) and not isinstance(corpus, (bytes, bytearray)):
        lines = corpus
    else:
        raise ValueError(f"corpus must be text: {_CORPUS_KINDS}; got {type(corpus).__name__}")
    counts: dict[str, int] = {}
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise ValueError(f"corpus line {i} is a {type(line).__name__}; lines must be str")
        for word in line.split():
            counts[word] = counts.get(word, 0) + 1
    return counts


def _checked_counts(counts: Mapping[object, object]) -> dict[str, int]:
    for word, count in counts.items():
        if not isinstance(word, str) or not word or any(c.isspace() for c in word):
            raise ValueError(f"corpus word {word!r}: words must be non-empty str without whitespace")
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"corpus count for {word!r} is {count!r}; counts must be positive ints")
    return dict(counts)  # type: ignore[arg-type]


def split_word(word: str, end_of_word: str | None = "</w>") -> tuple[str, ...]:
    """Taught in notebook 01, section 1.
    Split a word into characters, plus the end-of-word symbol if given.

    >>> split_word("low")
    ('l', 'o', 'w', '</w>')
    """
    return (*word, end_of_word) if end_of_word else tuple(word)


def train_bpe(
    corpus: Corpus,
    num_merges: int,
    tie_break: str = "first",
    end_of_word: str | None = "</w>",
    record_steps: bool = False,
) -> BPETokenizer:
    """Taught in notebook 01, section 4.
    Learn ``num_merges`` BPE merges from ``corpus`` (fewer if no pair is left).

    ``tie_break`` is one of ``TIE_BREAKS`` (see ``learn_merges``);
    ``record_steps=True`` keeps a ``BPEStep`` per merge in ``tok.steps``
    (for small corpora: each step copies the whole segmentation).
    """
    check_num_merges(num_merges)
    check_tie_break(tie_break)
    if end_of_word is not None and (not isinstance(end_of_word, str) or not end_of_word):
        raise ValueError(f"end_of_word must be a non-empty str or None; got {end_of_word!r}")
    counts = word_counts(corpus)
    if not counts:
        raise ValueError("corpus has no words; give at least one whitespace-separated word")
    vocab = {split_word(word, end_of_word): count for word, count in counts.items()}
    merges, steps = learn_merges(vocab, num_merges, tie_break, record_steps=record_steps)
    alphabet = sorted({symbol for word in vocab for symbol in word})
    return BPETokenizer(merges, alphabet, end_of_word, tie_break=tie_break, steps=steps)


@dataclass(repr=False)
class BPETokenizer(Tokenizer):
    """Taught in notebook 01, section 4 (what ``train_bpe`` returns) and section 6
    (encoding). Learned merges plus the alphabet they start from.

    ``vocab`` lists the alphabet, then each merged symbol in merge order, then
    ``unk_token``; a token's id is its position there. decode(encode(text)) gives back
    the words of ``text`` joined by single spaces, with ``unk_token`` for each character
    outside the alphabet (and, without an end-of-word symbol, with no spaces at all).
    """

    merges: list[Pair]
    alphabet: list[str]
    end_of_word: str | None = "</w>"
    unk_token: str = "<unk>"
    tie_break: str = "first"
    steps: list[BPEStep] = field(default_factory=list, compare=False)
    vocab: list[str] = field(init=False, compare=False)
    token_to_id: dict[str, int] = field(init=False, compare=False)

    FORMAT: ClassVar[str] = "course_utils.word_bpe"  # the file format written by save

    def __post_init__(self) -> None:
        self.merges = [(left, right) for left, right in self.merges]
        self.alphabet = sorted(set(self.alphabet))
        merged = [left + right for left, right in self.merges]
        self.vocab = list(dict.fromkeys([*self.alphabet, *merged, self.unk_token]))
        self.token_to_id = {token: i for i, token in enumerate(self.vocab)}
        self._ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self._known = set(self.alphabet)

    def __repr__(self) -> str:
        sizes = f"{len(self.merges)} merges, {len(self.vocab)} tokens"
        return f"BPETokenizer({sizes}, tie_break={self.tie_break!r})"

    def truncated(self, num_merges: int) -> BPETokenizer:
        """Taught in notebook 01, section 9.
        The tokenizer made of only the first ``num_merges`` merges (a smaller vocabulary).

        >>> train_bpe(LECTURE_CORPUS, 10).truncated(2).encode_word("newest")
        ['n', 'e', 'w', 'est', '</w>']
        """
        check_num_merges(num_merges)
        return BPETokenizer(self.merges[:num_merges], self.alphabet, self.end_of_word,
                            self.unk_token, self.tie_break)

    def encode_word(self, word: str) -> list[str]:
        """Taught in notebook 01, section 5.
        Segment one word; characters outside the alphabet become ``unk_token``.

        >>> train_bpe("low low", 3).encode_word("lowly")
        ['low', 'l', '<unk>', '</w>']
        """
        symbols = [c if c in self._known else self.unk_token for c in word]
        if self.end_of_word:
            symbols.append(self.end_of_word)
        return apply_merges(symbols, self._ranks)

    def tokenize(self, text: str) -> list[str]:
        """Taught in notebook 01, section 7.
        Tokens of every whitespace-separated word of ``text``."""
        check_text(text)
        return [token for word in text.split() for token in self.encode_word(word)]

    def detokenize(self, tokens: list[str]) -> str:
        """Join tokens; each end-of-word symbol becomes a space (the last one is dropped).

        Without an end-of-word symbol the word boundaries are lost: tokens are just joined.
        """
        text = "".join(tokens)
        if self.end_of_word:
            text = text.replace(self.end_of_word, " ")
            if text.endswith(" "):
                text = text[:-1]
        return text

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tokenizer to a JSON file (atomically)."""
        write_json_atomic(
            path,
            {
                "format": self.FORMAT,
                "version": VERSION,
                "tie_break": self.tie_break,
                "end_of_word": self.end_of_word,
                "unk_token": self.unk_token,
                "alphabet": self.alphabet,
                "merges": [list(pair) for pair in self.merges],
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BPETokenizer:
        """Read a file written by ``save``; ValueError if it is malformed."""
        keys = ("tie_break", "end_of_word", "unk_token", "alphabet", "merges")
        data = read_json(path, cls.FORMAT, keys)
        if data["tie_break"] not in TIE_BREAKS:
            raise ValueError(f"{path}: tie_break {data['tie_break']!r} is not one of {TIE_BREAKS}")
        alphabet = check_strings(data["alphabet"], f"{path}: alphabet")
        if data["end_of_word"] is not None and not isinstance(data["end_of_word"], str):
            raise ValueError(f"{path}: end_of_word must be a string or null")
        if not isinstance(data["unk_token"], str):
            raise ValueError(f"{path}: unk_token must be a string")
        merges = check_merges(data["merges"], str(path))
        return cls(merges, alphabet, data["end_of_word"], data["unk_token"], data["tie_break"])

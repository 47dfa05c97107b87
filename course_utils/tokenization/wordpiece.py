"""WordPiece tokenization as in BERT: greedy longest match first.

Taught in notebook 01, section 8.

>>> tok = WordPieceTokenizer(["[UNK]", "hello", "how", "are", "u", "td", "##ay", "?"])
>>> tok.tokenize("Hello how are U tday?")
['hello', 'how', 'are', 'u', 'td', '##ay', '?']
>>> tok.decode(tok.encode("Hello how are U tday?"))
'hello how are u tday ?'

A vocabulary can also be learned from any text (``train_wordpiece``).
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ._json import write_text_atomic
from .base import Tokenizer, check_special_tokens, check_text, split_special_tokens, tokenize_around_specials
from .bpe_core import learn_merges

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""BERT's special tokens, in the order (and so with the ids 0 to 4) the course gives them."""


class WordPieceTokenizer(Tokenizer):
    """Taught in notebook 01, section 8. BERT-style tokenizer over a fixed vocabulary.

    First a *basic* tokenization (optional lowercasing and accent stripping, whitespace
    split, every punctuation character its own token), then each word is cut greedily
    into the longest vocabulary pieces from the left; pieces after the first carry
    ``prefix``. A word that cannot be covered becomes ``unk_token`` (added at the end of
    ``vocab`` if missing).

    ``special_tokens`` (such as ``[CLS]`` or ``[MASK]``) are kept whole when
    they appear in a text, never lowercased or split at their brackets.

    decode(encode(text)) gives back the basic tokenization of ``text``, words and
    punctuation joined by single spaces (lowercased if ``lowercase``), with
    ``unk_token`` for each word the vocabulary cannot cover.

    >>> tok = WordPieceTokenizer(["[MASK]", "the", "cat", "."], special_tokens=["[MASK]"])
    >>> tok.tokenize("The [MASK] cat.")
    ['the', '[MASK]', 'cat', '.']
    """

    def __init__(
        self,
        vocab: Iterable[str],
        unk_token: str = "[UNK]",
        prefix: str = "##",
        lowercase: bool = True,
        max_chars_per_word: int = 100,
        special_tokens: Iterable[str] = (),
    ) -> None:
        self.vocab = list(vocab)
        self.special_tokens = check_special_tokens(special_tokens)
        missing = [t for t in self.special_tokens if t not in self.vocab]
        if missing:
            raise ValueError(f"special tokens {missing} are not in the vocabulary")
        if unk_token not in self.vocab:
            self.vocab.append(unk_token)
        self.token_to_id: dict[str, int] = {}
        for i, token in enumerate(self.vocab):
            self.token_to_id.setdefault(token, i)
        self.unk_token = unk_token
        self.prefix = prefix
        self.lowercase = lowercase
        self.max_chars_per_word = max_chars_per_word

    def __repr__(self) -> str:
        return f"WordPieceTokenizer({len(self.vocab)} tokens, lowercase={self.lowercase})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WordPieceTokenizer):
            return NotImplemented
        return self._settings() == other._settings()

    def _settings(self) -> tuple[object, ...]:
        return (self.vocab, self.unk_token, self.prefix, self.lowercase, self.max_chars_per_word,
                set(self.special_tokens))

    def basic_tokenize(self, text: str) -> list[str]:
        """Taught in notebook 04, section 9.
        Split into words and punctuation, as BERT does before WordPiece.

        >>> WordPieceTokenizer([]).basic_tokenize("Héllo, U.S.A!")
        ['hello', ',', 'u', '.', 's', '.', 'a', '!']
        """
        return basic_tokenize(text, self.lowercase)

    def tokenize_word(self, word: str) -> list[str]:
        """Taught in notebook 01, section 8. Greedy longest-match-first pieces of one word.

        >>> WordPieceTokenizer(["international", "##ization"]).tokenize_word("internationalization")
        ['international', '##ization']
        """
        if len(word) > self.max_chars_per_word:
            return [self.unk_token]
        pieces = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.token_to_id:
                    break
            else:  # no piece starting here is in the vocabulary
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Taught in notebook 01, section 8.
        Special tokens whole, every other word cut into pieces."""
        return tokenize_around_specials(
            text, self.special_tokens,
            lambda part: [piece for word in self.basic_tokenize(part) for piece in self.tokenize_word(word)],
        )  # fmt: skip

    def detokenize(self, tokens: list[str]) -> str:
        """Join tokens with spaces, gluing continuation pieces to the one before.

        >>> WordPieceTokenizer([]).detokenize(["the", "token", "##izer", "."])
        'the tokenizer .'
        """
        return " ".join(tokens).replace(" " + self.prefix, "")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary in BERT's vocab.txt format: one token per line, line i = id i."""
        bad = [token for token in self.vocab if not token or "\n" in token or "\r" in token]
        if bad:
            raise ValueError(f"tokens {bad[:3]} cannot be written one per line: "
                             "a vocab.txt token must be non-empty and hold no line break")
        write_text_atomic(path, "".join(token + "\n" for token in self.vocab))

    @classmethod
    def load(cls, path: str | os.PathLike[str], **options: object) -> WordPieceTokenizer:
        """Read a vocab.txt (BERT's format, as ``save`` writes it).

        ``options`` are those of the constructor. As in transformers' BertTokenizer,
        BERT's special tokens found in the file are kept whole unless ``special_tokens``
        says otherwise.
        """
        text = Path(path).read_text(encoding="utf-8")
        vocab = text.split("\n")
        if vocab[-1] == "":
            vocab.pop()  # the line break that ends the last line
        vocab = [token.removesuffix("\r") for token in vocab]  # a file saved on Windows
        empty = [number for number, token in enumerate(vocab, start=1) if not token]
        if empty:
            raise ValueError(f"{path}: line {empty[0]} is empty; a vocab.txt has one token per line")
        options.setdefault("special_tokens", [t for t in BERT_SPECIAL_TOKENS if t in vocab])
        return cls(vocab, **options)  # type: ignore[arg-type]


def train_wordpiece(
    text: str,
    vocab_size: int,
    special_tokens: Iterable[str] = BERT_SPECIAL_TOKENS,
    unk_token: str = "[UNK]",
    lowercase: bool = True,
    prefix: str = "##",
) -> WordPieceTokenizer:
    """Learn a WordPiece vocabulary of at most ``vocab_size`` tokens from any text.

    Taught in notebook 01, section 8. As Hugging Face's WordPieceTrainer does, the
    pieces are learned by BPE: split ``text`` as BERT does (``basic_tokenize``), cut
    each word into a word-start character and ``##`` continuations (``cat`` is
    ``c ##a ##t``), and merge the most frequent adjacent pair again and again (ties:
    the ``"id"`` rule). The vocabulary lists ``special_tokens`` first (BERT's five,
    ids 0 to 4), then every character of the text as a word start, then as a
    continuation (so that any word made of known characters can be covered), then
    each merged piece in merge order. ``save`` writes it as BERT's vocab.txt.

    >>> tok = train_wordpiece("the cat sat on the mat. The cat ate.", 40)
    >>> tok.vocab[:5], tok.tokenize("The cat sat.")
    (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'], ['the', 'cat', 'sat', '.'])
    """
    check_text(text)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise ValueError(f"vocab_size must be an int; got {vocab_size!r}")
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty str; got {prefix!r}")
    special_tokens = check_special_tokens(special_tokens)
    words: Counter[str] = Counter()
    for part in split_special_tokens(text, special_tokens):
        if part not in special_tokens:
            words.update(basic_tokenize(part, lowercase))
    if not words:
        raise ValueError("text has no words to learn a vocabulary from")
    # The BPE engine names a merged symbol by gluing the names of its two halves. So that
    # gluing gives WordPiece's pieces, a word start is marked with a leading space (never
    # inside a word, like GPT-2's Ġ) and continuations go unmarked: "cat" is (" c", "a",
    # "t"); the merged " ca" is the piece "ca" and the merged "at" the piece "##at".
    characters = sorted(set("".join(words)))
    starts, continuations = [" " + c for c in characters], characters
    num_merges = vocab_size - len(special_tokens) - 2 * len(characters)
    if num_merges < 0:
        raise ValueError(
            f"vocab_size {vocab_size} is too small for {len(special_tokens)} special tokens and "
            f"the {len(characters)} characters of the text, each as a word start and as a "
            f"continuation: give at least {vocab_size - num_merges}"
        )
    segmented = {(" " + word[0], *word[1:]): count for word, count in words.items()}
    merges, _ = learn_merges(segmented, num_merges, "id", alphabet=starts + continuations)

    def piece(symbol: str) -> str:
        return symbol[1:] if symbol.startswith(" ") else prefix + symbol

    alphabet = [piece(symbol) for symbol in starts + continuations]
    learned = [piece(left + right) for left, right in merges]
    vocab = list(dict.fromkeys([*special_tokens, *alphabet, *learned]))
    return WordPieceTokenizer(vocab, unk_token=unk_token, prefix=prefix, lowercase=lowercase,
                              special_tokens=special_tokens)


def basic_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """BERT's split before WordPiece: clean, split at whitespace and around punctuation.

    >>> basic_tokenize("Héllo, U.S.A!")
    ['hello', ',', 'u', '.', 's', '.', 'a', '!']
    """
    text = "".join(_clean_char(c) for c in text if not _is_control(c))
    words = []
    for word in text.split():
        if lowercase:
            word = _strip_accents(word.lower())
        words += _split_punctuation(word)
    return words


def _is_control(char: str) -> bool:
    if char in "\t\n\r":
        return False
    return char in "\x00\ufffd" or unicodedata.category(char).startswith("C")


def _clean_char(char: str) -> str:
    """Any whitespace becomes a space; CJK ideographs get spaces around them (as in BERT)."""
    if char.isspace() or unicodedata.category(char) == "Zs":
        return " "
    return f" {char} " if _is_cjk(ord(char)) else char


def _is_cjk(code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


_CJK_RANGES = [
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
]  # fmt: skip


def _strip_accents(word: str) -> str:
    """Drop combining marks: 'héllo' -> 'hello'."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _is_punctuation(char: str) -> bool:
    """BERT counts all non-alphanumeric ASCII symbols ($, ^, ...) as punctuation too."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _split_punctuation(word: str) -> list[str]:
    """'U.S.A!' -> ['U', '.', 'S', '.', 'A', '!']"""
    parts: list[str] = []
    start_new = True
    for char in word:
        if _is_punctuation(char):
            parts.append(char)
            start_new = True
        else:
            if start_new:
                parts.append("")
            parts[-1] += char
            start_new = False
    return parts

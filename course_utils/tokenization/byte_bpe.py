"""Byte-level BPE, GPT-2 style.

Text is cut into pieces by GPT-2's regex, each piece's UTF-8 bytes are shown
as printable characters (``bytes_to_unicode``; a space becomes ``Ġ``),
and BPE runs on those characters with no end-of-word symbol. All 256 bytes
are in the vocabulary, so no text ever needs an unknown token.

>>> tok = train_byte_bpe("the cat and the hat", 5)
>>> tok.tokenize("the hat")
['the', 'Ġ', 'h', 'at']
>>> tok.decode(tok.encode("naïve 🤗"))
'naïve 🤗'

Special tokens such as GPT-2's ``<|endoftext|>`` are never split and never merged:

>>> tok = train_byte_bpe("the cat<|endoftext|>the hat", 5, special_tokens=[END_OF_TEXT])
>>> tok.tokenize("cat<|endoftext|>hat"), tok.encode("<|endoftext|>")
(['cat', '<|endoftext|>', 'hat'], [0])
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import regex

from ._json import VERSION, check_merges, check_strings, read_json, write_json_atomic
from .base import Tokenizer, check_special_tokens, split_special_tokens, tokenize_around_specials
from .bpe_core import Pair, apply_merges, check_num_merges, learn_merges

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_GPT2_REGEX = regex.compile(GPT2_PATTERN)

END_OF_TEXT = "<|endoftext|>"
"""GPT-2's one special token: it separates documents."""


def bytes_to_unicode() -> dict[int, str]:
    """Taught in notebook 01, section 7. GPT-2's map from each byte to a printable character.

    Bytes that are printable Latin-1 characters (33-126, 161-172, 174-255)
    stand for themselves; the other 68 become ``chr(256 + n)`` in order.

    >>> m = bytes_to_unicode()
    >>> m[ord("a")], m[ord(" ")], m[ord("\\n")]
    ('a', 'Ġ', 'Ċ')
    """
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    mapping = {byte: chr(byte) for byte in printable}
    others = [byte for byte in range(256) if byte not in mapping]
    mapping.update({byte: chr(256 + n) for n, byte in enumerate(others)})
    return dict(sorted(mapping.items()))


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {char: byte for byte, char in BYTE_TO_CHAR.items()}


def pretokenize(text: str) -> list[str]:
    """Taught in notebook 01, section 7.
    Cut text into GPT-2's pieces: words with their leading space, numbers, punctuation, spaces.

    >>> pretokenize("Hello, world!  It's 2024.")
    ['Hello', ',', ' world', '!', ' ', ' It', "'s", ' 2024', '.']
    """
    return _GPT2_REGEX.findall(text)


def to_byte_symbols(piece: str) -> str:
    """The piece's UTF-8 bytes as printable characters: ``" hé"`` -> ``"ĠhÃ©"``."""
    return "".join(BYTE_TO_CHAR[byte] for byte in piece.encode("utf-8"))


def train_byte_bpe(
    text: str, num_merges: int, special_tokens: Iterable[str] = ()
) -> ByteBPETokenizer:
    """Taught in notebook 01, section 7.
    Learn ``num_merges`` byte-level merges from ``text`` (fewer if no pair is left).

    Taught in notebook 01, section 7. Same engine as ``train_bpe``, with the
    ``"id"`` tie-break of Hugging Face ``tokenizers`` and the full 256-byte
    alphabet: the merges equal those of its ``BpeTrainer(vocab_size=256 +
    num_merges)`` behind a ``ByteLevel`` pre-tokenizer.

    ``special_tokens`` (GPT-2 has one, ``END_OF_TEXT``) are cut out of ``text``
    before anything else, as GPT-2 does: they take no part in training, so no
    merge holds a piece of one or crosses one, and they get ids of their own.

    >>> tok = train_byte_bpe("a cat<|endoftext|>a hat<|endoftext|>", 3, [END_OF_TEXT])
    >>> tok.merges
    [('a', 't'), ('c', 'at'), ('h', 'at')]
    >>> tok.tokenize("a hat<|endoftext|>")
    ['a', 'Ġ', 'hat', '<|endoftext|>']
    """
    check_num_merges(num_merges)
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str; got {text!r:.40}")
    special_tokens = check_special_tokens(special_tokens)
    pieces = [
        piece
        for part in split_special_tokens(text, special_tokens)
        if part not in special_tokens
        for piece in pretokenize(part)
    ]  # (every piece of text between special tokens)
    counts = Counter(map(to_byte_symbols, pieces))
    vocab = {tuple(symbols): count for symbols, count in counts.items()}
    merges, _ = learn_merges(vocab, num_merges, "id", alphabet=BYTE_TO_CHAR.values())
    return ByteBPETokenizer(merges, special_tokens)


@dataclass(repr=False)
class ByteBPETokenizer(Tokenizer):
    """Taught in notebook 01, section 7. Byte-level merges (pairs of mapped strings, like
    GPT-2's ``merges.txt``).

    ``vocab`` lists the special tokens, the 256 byte characters in code point order,
    then each merged token in merge order: the ids ``tokenizers`` gives (GPT-2's own
    ``vocab.json`` numbers the bytes in ``bytes_to_unicode`` order and puts its special
    token last). decode(encode(text)) gives back any text exactly, special tokens
    included.
    """

    merges: list[Pair]
    special_tokens: tuple[str, ...] = ()
    vocab: list[str] = field(init=False, compare=False)
    token_to_id: dict[str, int] = field(init=False, compare=False)

    FORMAT: ClassVar[str] = "course_utils.byte_bpe"  # the file format written by save

    def __post_init__(self) -> None:
        self.merges = [(left, right) for left, right in self.merges]
        self.special_tokens = check_special_tokens(self.special_tokens)
        alphabet = sorted(BYTE_TO_CHAR.values())
        tokens = list(dict.fromkeys([*alphabet, *(a + b for a, b in self.merges)]))
        taken = [token for token in self.special_tokens if token in tokens]
        if taken:
            raise ValueError(f"special tokens {taken} are already byte-level tokens; "
                             "choose strings such as '<|endoftext|>'")
        self.vocab = [*self.special_tokens, *tokens]
        self.token_to_id = {token: i for i, token in enumerate(self.vocab)}
        self._ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self._cache: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        specials = f", special_tokens={list(self.special_tokens)}" if self.special_tokens else ""
        return f"ByteBPETokenizer({len(self.merges)} merges, {len(self.vocab)} tokens{specials})"

    def tokenize(self, text: str) -> list[str]:
        """Taught in notebook 01, section 7.
        Tokens as mapped strings, e.g. ``['Hello', 'Ġworld']``; special tokens stay whole."""
        return tokenize_around_specials(text, self.special_tokens, self._tokenize_ordinary)

    def _tokenize_ordinary(self, text: str) -> list[str]:
        tokens = []
        for piece in pretokenize(text):
            symbols = to_byte_symbols(piece)
            if symbols not in self._cache:
                self._cache[symbols] = apply_merges(symbols, self._ranks)
            tokens += self._cache[symbols]
        return tokens

    def detokenize(self, tokens: list[str]) -> str:
        """The text of byte-level tokens; a cut-off UTF-8 character becomes U+FFFD."""
        text, data = [], bytearray()  # data: the bytes since the last special token
        for token in tokens:
            if token in self.special_tokens:
                text += [data.decode("utf-8", errors="replace"), token]
                data.clear()
            else:
                data += bytes(CHAR_TO_BYTE[char] for char in token)
        return "".join(text) + data.decode("utf-8", errors="replace")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the merges and special tokens to a JSON file (atomically)."""
        merges = [list(pair) for pair in self.merges]
        write_json_atomic(path, {"format": self.FORMAT, "version": VERSION, "merges": merges,
                                 "special_tokens": list(self.special_tokens)})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ByteBPETokenizer:
        """Read a file written by ``save``; ValueError if it is malformed."""
        data = read_json(path, cls.FORMAT, ("merges",))
        merges = check_merges(data["merges"], str(path))
        for pair in merges:
            if any(char not in CHAR_TO_BYTE for char in pair[0] + pair[1]):
                raise ValueError(f"{path}: merge {pair} has a character that is not a mapped byte")
        special_tokens = data.get("special_tokens", [])  # files from before special tokens lack it
        return cls(merges, tuple(check_strings(special_tokens, f"{path}: special_tokens")))

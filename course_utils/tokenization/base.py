"""The contract all three tokenizers keep (the one of karpathy's minbpe).

Taught in notebook 01, section 6 (word-level BPE), section 7 (byte-level BPE) and
section 8 (WordPiece). Every tokenizer of the course has

- tokenize(text) -> list[str]: the tokens, as strings
- encode(text) -> list[int]: their ids, the position of each token in vocab
- decode(ids) -> str: the text of the ids
- vocab (the token strings, index = id) and token_to_id (token -> id)
- save(path), and the class method load(path) that reads the file back

so that decode(encode(text)) gives the text back, as far as the tokenizer can
represent it (each class says how far in its docstring).
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable, Iterable
from typing import Any


class Tokenizer:
    """Taught in notebook 01, sections 6 to 8: text -> tokens -> ids, and back.

    A tokenizer class writes four things: tokenize (text -> token strings),
    detokenize (token strings -> text), save and load; encode and decode follow
    from them and vocab.
    """

    vocab: list[str]  # vocab[i] is the token of id i
    token_to_id: dict[str, int]  # the reverse map

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: list[str]) -> str:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Taught in notebook 01, section 6.
        Token ids of ``text``: the position of each token in ``vocab``."""
        return [self.token_to_id[token] for token in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Taught in notebook 01, section 6.
        The text of token ids; ValueError for an id outside ``vocab``."""
        ids = check_ids(ids, len(self.vocab))
        return self.detokenize([self.vocab[i] for i in ids])

    def save(self, path: str | os.PathLike[str]) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Any:
        raise NotImplementedError


def check_text(text: object) -> None:
    """ValueError unless ``text`` is a str (the input of tokenize and encode)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str; got {type(text).__name__}")


def check_ids(ids: object, vocab_size: int) -> list[int]:
    """``ids`` as a list of ints from 0 to ``vocab_size - 1``, or ValueError.

    Anything an int can be read from counts (numpy integers, 0-d integer tensors).

    >>> check_ids([3, 0], 5)
    [3, 0]
    >>> check_ids([7], 5)
    Traceback (most recent call last):
    ValueError: unknown token ids [7]; ids go from 0 to 4
    """
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise ValueError(f"ids must be a list of token ids (ints); got a {type(ids).__name__}")
    checked = []
    for i in ids:
        try:
            checked.append(operator.index(i))
        except TypeError:
            hint = "; detokenize(tokens) turns token strings into text" if isinstance(i, str) else ""
            raise ValueError(f"token ids must be ints; got {i!r}{hint}") from None
    bad = [i for i in checked if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"unknown token ids {bad[:5]}; ids go from 0 to {vocab_size - 1}")
    return checked


def check_special_tokens(special_tokens: object) -> tuple[str, ...]:
    """``special_tokens`` as a tuple of distinct non-empty strings, or ValueError."""
    if isinstance(special_tokens, str):
        raise ValueError(f"special_tokens must be a list of strings, not one string: "
                         f"write ({special_tokens!r},)")
    tokens = tuple(special_tokens)  # type: ignore[arg-type]
    for token in tokens:
        if not isinstance(token, str) or not token:
            raise ValueError(f"special token {token!r}: special tokens must be non-empty strings")
    if len(set(tokens)) < len(tokens):
        raise ValueError(f"special tokens {list(tokens)} repeat a token; list each once")
    return tokens


def split_special_tokens(text: str, special_tokens: Iterable[str]) -> list[str]:
    """Cut ``text`` around its special tokens, which come out whole (the longest first).

    >>> split_special_tokens("a<|endoftext|>b [MASK]", ["<|endoftext|>", "[MASK]"])
    ['a', '<|endoftext|>', 'b ', '[MASK]']
    """
    alternatives = sorted(special_tokens, key=len, reverse=True)
    if not alternatives:
        return [text] if text else []
    pattern = "(" + "|".join(map(re.escape, alternatives)) + ")"
    return [part for part in re.split(pattern, text) if part]


def tokenize_around_specials(
    text: str, special_tokens: Iterable[str], tokenize_part: Callable[[str], list[str]]
) -> list[str]:
    """The tokens of ``text``: each special token whole, every stretch between them through
    ``tokenize_part`` (so no token ever crosses or contains part of a special token).

    >>> tokenize_around_specials("ab<|endoftext|>c", ["<|endoftext|>"], list)
    ['a', 'b', '<|endoftext|>', 'c']
    """
    check_text(text)
    special = set(special_tokens)
    tokens: list[str] = []
    for part in split_special_tokens(text, special):
        tokens += [part] if part in special else tokenize_part(part)
    return tokens

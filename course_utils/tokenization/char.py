"""Character-level tokenization: one token per character of a text's alphabet.

Taught in notebook 06, for pretraining a GPT on a text file of your own (as nanoGPT's
``shakespeare_char`` does). The vocabulary is the special tokens, then every distinct
character of the text, in code point order; there are no merges.

>>> tok = CharTokenizer.from_text("hello world")
>>> "".join(tok.vocab)
' dehlorw'
>>> tok.encode("hello"), tok.decode(tok.encode("hello"))
([3, 2, 4, 4, 5], 'hello')

A character the text never showed has no id: by default that is an error, since a model
trained on the text has never seen it either. With ``unk_token`` it becomes that token:

>>> CharTokenizer.from_text("abc", unk_token="<unk>").tokenize("abz")
['a', 'b', '<unk>']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar

from ._json import VERSION, check_strings, read_json, write_json_atomic
from .base import Tokenizer, check_special_tokens, check_text, split_special_tokens, tokenize_around_specials


@dataclass(repr=False)
class CharTokenizer(Tokenizer):
    """Taught in notebook 06. A tokenizer whose tokens are single characters.

    ``chars``: the alphabet (distinct one-character strings); ``special_tokens``, such as
    ``"<|endoftext|>"``, stay whole and come first in ``vocab``; ``unk_token`` (None: no
    unknown token) stands for every character outside the alphabet and is the last special
    token. decode(encode(text)) gives back any text written in the alphabet exactly; other
    characters raise a ValueError, or come back as ``unk_token`` when there is one.
    """

    chars: tuple[str, ...]
    special_tokens: tuple[str, ...] = ()
    unk_token: str | None = None
    vocab: list[str] = field(init=False, compare=False)
    token_to_id: dict[str, int] = field(init=False, compare=False)

    FORMAT: ClassVar[str] = "course_utils.char"  # the file format written by save

    @classmethod
    def from_text(
        cls, text: str, special_tokens: tuple[str, ...] | list[str] = (), unk_token: str | None = None
    ) -> CharTokenizer:
        """Taught in notebook 06. The tokenizer of ``text``'s distinct characters (special
        tokens that occur in ``text`` count as tokens, not as characters)."""
        check_text(text)
        special_tokens = check_special_tokens(special_tokens)
        parts = split_special_tokens(text, special_tokens)
        chars = {char for part in parts if part not in special_tokens for char in part}
        if not chars:
            raise ValueError("text has no characters outside its special tokens; a character "
                             "tokenizer needs some text to read its alphabet from")
        return cls(tuple(sorted(chars)), special_tokens, unk_token)

    def __post_init__(self) -> None:
        self.chars = tuple(self.chars)
        bad = [char for char in self.chars if not isinstance(char, str) or len(char) != 1]
        if bad:
            raise ValueError(f"chars must be single characters; got {bad[:5]}")
        if len(set(self.chars)) < len(self.chars):
            raise ValueError("chars repeat a character; list each once")
        specials = check_special_tokens(self.special_tokens)
        if self.unk_token is not None and self.unk_token not in specials:
            specials = (*specials, self.unk_token)
        self.special_tokens = check_special_tokens(specials)
        taken = [token for token in self.special_tokens if token in self.chars]
        if taken:
            raise ValueError(f"special tokens {taken} are also characters of the alphabet; "
                             "choose longer strings such as '<|endoftext|>'")
        self.vocab = [*self.special_tokens, *self.chars]
        self.token_to_id = {token: i for i, token in enumerate(self.vocab)}

    def __repr__(self) -> str:
        specials = f", special_tokens={list(self.special_tokens)}" if self.special_tokens else ""
        return f"CharTokenizer({len(self.chars)} characters{specials})"

    def tokenize(self, text: str) -> list[str]:
        """Taught in notebook 06. One token per character; special tokens stay whole."""
        tokens = tokenize_around_specials(text, self.special_tokens, list)
        unknown = sorted({token for token in tokens if token not in self.token_to_id})
        if unknown and self.unk_token is None:
            raise ValueError(f"characters {unknown[:10]} are not in this tokenizer's alphabet "
                             "(it was built from another text); remove them, or build the "
                             "tokenizer with unk_token='<unk>'")
        return [token if token in self.token_to_id else self.unk_token for token in tokens]

    def detokenize(self, tokens: list[str]) -> str:
        """The text of the tokens: they are joined, nothing else."""
        return "".join(tokens)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the alphabet and the special tokens to a JSON file (atomically)."""
        write_json_atomic(path, {
            "format": self.FORMAT, "version": VERSION, "chars": list(self.chars),
            "special_tokens": list(self.special_tokens), "unk_token": self.unk_token,
        })  # fmt: skip

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharTokenizer:
        """Read a file written by ``save``; ValueError if it is malformed."""
        data = read_json(path, cls.FORMAT, ("chars", "special_tokens"))
        chars = check_strings(data["chars"], f"{path}: chars")
        specials = check_strings(data["special_tokens"], f"{path}: special_tokens")
        unk_token = data.get("unk_token")
        if unk_token is not None and not (isinstance(unk_token, str) and unk_token):
            raise ValueError(f"{path}: unk_token must be a non-empty string or null")
        return cls(tuple(chars), tuple(specials), unk_token)

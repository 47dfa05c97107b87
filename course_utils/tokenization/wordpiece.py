"""WordPiece tokenization as in BERT: greedy longest match first.

>>> tok = WordPieceTokenizer(["[UNK]", "hello", "how", "are", "u", "td", "##ay", "?"])
>>> tok.tokenize("Hello how are U tday?")
['hello', 'how', 'are', 'u', 'td', '##ay', '?']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


class WordPieceTokenizer:
    """BERT-style tokenizer over a fixed vocabulary.

    First a *basic* tokenization (optional lowercasing and accent stripping,
    whitespace split, every punctuation character its own token), then each
    word is cut greedily into the longest vocabulary pieces from the left;
    pieces after the first carry ``prefix``. A word that cannot be covered
    becomes ``unk_token`` (added at the end of ``vocab`` if missing).

    ``special_tokens`` (such as ``[CLS]`` or ``[MASK]``) are kept whole when
    they appear in a text, never lowercased or split at their brackets.

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
        self.special_tokens = tuple(special_tokens)
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

    def basic_tokenize(self, text: str) -> list[str]:
        """Split into words and punctuation, as BERT does before WordPiece.

        >>> WordPieceTokenizer([]).basic_tokenize("Héllo, U.S.A!")
        ['hello', ',', 'u', '.', 's', '.', 'a', '!']
        """
        text = "".join(_clean_char(c) for c in text if not _is_control(c))
        words = []
        for word in text.split():
            if self.lowercase:
                word = _strip_accents(word.lower())
            words += _split_punctuation(word)
        return words

    def tokenize_word(self, word: str) -> list[str]:
        """Greedy longest-match-first pieces of one word.

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
        tokens = []
        for part in self._split_specials(text):
            if part in self.special_tokens:
                tokens.append(part)
            else:
                tokens += [p for word in self.basic_tokenize(part) for p in self.tokenize_word(word)]
        return tokens

    def _split_specials(self, text: str) -> list[str]:
        """``"a [MASK] b"`` -> ``["a ", "[MASK]", " b"]`` (longest special tokens first)."""
        if not self.special_tokens:
            return [text]
        alternatives = sorted(self.special_tokens, key=len, reverse=True)
        pattern = "(" + "|".join(re.escape(t) for t in alternatives) + ")"
        return [part for part in re.split(pattern, text) if part]

    def encode(self, text: str) -> list[int]:
        """Token ids: positions in ``vocab``."""
        return [self.token_to_id[token] for token in self.tokenize(text)]

    def decode(self, tokens: list[str]) -> str:
        """Join tokens with spaces, gluing continuation pieces to the one before."""
        return " ".join(tokens).replace(" " + self.prefix, "")


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

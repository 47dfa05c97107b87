"""Tokenizers built from scratch: word-level BPE, byte-level BPE, WordPiece and characters.

Taught in notebook 01 (the character tokenizer in notebook 06). All of them keep one contract (``base.Tokenizer``, as in
karpathy's minbpe): ``tokenize(text)`` gives token strings, ``encode(text)`` token
ids, ``decode(ids)`` the text back; ``vocab``, ``token_to_id``, ``save`` and ``load``.

- ``base``: the contract and the checks shared by the tokenizers
- ``bpe_core``: counting pairs, merging them, the incremental trainer
- ``word_bpe``: BPE over characters plus ``</w>``, as in the lecture
- ``byte_bpe``: GPT-2 style BPE over UTF-8 bytes, with special tokens such as ``<|endoftext|>``
- ``wordpiece``: BERT's greedy longest-match-first tokenizer, and a trainer for its vocabulary
- ``char``: one token per character of a text (notebook 06: a GPT on your own text file)
"""

from .base import Tokenizer
from .bpe_core import TIE_BREAKS, BPEStep, count_pairs, merge_pair
from .char import CharTokenizer
from .byte_bpe import END_OF_TEXT, ByteBPETokenizer, bytes_to_unicode, pretokenize, train_byte_bpe
from .word_bpe import LECTURE_CORPUS, BPETokenizer, split_word, train_bpe, word_counts
from .wordpiece import BERT_SPECIAL_TOKENS, WordPieceTokenizer, basic_tokenize, train_wordpiece

__all__ = [
    "Tokenizer",
    "LECTURE_CORPUS",
    "TIE_BREAKS",
    "word_counts",
    "split_word",
    "count_pairs",
    "merge_pair",
    "train_bpe",
    "BPEStep",
    "BPETokenizer",
    "END_OF_TEXT",
    "train_byte_bpe",
    "ByteBPETokenizer",
    "bytes_to_unicode",
    "pretokenize",
    "BERT_SPECIAL_TOKENS",
    "WordPieceTokenizer",
    "basic_tokenize",
    "train_wordpiece",
    "CharTokenizer",
]

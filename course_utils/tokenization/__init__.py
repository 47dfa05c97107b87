"""Tokenizers built from scratch: word-level BPE, byte-level BPE and WordPiece.

- :mod:`.bpe_core`: counting pairs, merging them, the incremental trainer
- :mod:`.word_bpe`: BPE over characters plus ``</w>``, as in the lecture
- :mod:`.byte_bpe`: GPT-2 style BPE over UTF-8 bytes
- :mod:`.wordpiece`: BERT's greedy longest-match-first tokenizer
"""

from .bpe_core import TIE_BREAKS, BPEStep, count_pairs, merge_pair
from .byte_bpe import ByteBPETokenizer, bytes_to_unicode, pretokenize, train_byte_bpe
from .word_bpe import LECTURE_CORPUS, BPETokenizer, split_word, train_bpe, word_counts
from .wordpiece import WordPieceTokenizer

__all__ = [
    "LECTURE_CORPUS",
    "TIE_BREAKS",
    "word_counts",
    "split_word",
    "count_pairs",
    "merge_pair",
    "train_bpe",
    "BPEStep",
    "BPETokenizer",
    "train_byte_bpe",
    "ByteBPETokenizer",
    "bytes_to_unicode",
    "pretokenize",
    "WordPieceTokenizer",
]

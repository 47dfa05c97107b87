"""The tokenizer of the small world: BERT's WordPiece over the world's words.

The world has a closed vocabulary of about 600 words, so every word of the
corpus, the tasks and the probes is one token. Single characters and their
``##`` continuations are in the vocabulary too, so a word the world never uses
(typed by a student in a playground) still gets pieces instead of ``[UNK]``.

>>> tok = world_tokenizer()
>>> tok.tokenize("Dodoma is the capital of [MASK].")
['dodoma', 'is', 'the', 'capital', 'of', '[MASK]', '.']
>>> tok.tokenize("Zanzibar")
['z', '##a', '##n', '##z', '##i', '##b', '##a', '##r']
>>> [tok.vocab[i] for i in range(len(SPECIAL_TOKENS))]
['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
"""

from __future__ import annotations

import string
from functools import lru_cache

from course_utils.data.world.corpus import generate_corpus
from course_utils.tokenization import WordPieceTokenizer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""BERT's special tokens, with ids 0 to 4 in this order."""

VOCABULARY_CORPUS_WORDS = 300_000
"""Size of the seeded corpus the word list is read from; it contains every word of the world."""

_CHARACTERS = string.ascii_lowercase + string.digits + string.punctuation


def world_vocabulary(num_words: int = VOCABULARY_CORPUS_WORDS, seed: int = 0) -> list[str]:
    """Special tokens, then single characters and ``##`` pieces, then the world's words (sorted).

    The words are read from a seeded corpus of ``num_words`` words (lowercased, split as
    BERT's basic tokenizer does), so the list is the same on every machine.
    """
    splitter = WordPieceTokenizer([])
    documents = generate_corpus(num_words=num_words, seed=seed)
    words = {
        word
        for document in documents
        for sentence in document.sentences
        for word in splitter.basic_tokenize(" ".join(sentence.words))
    }
    pieces = list(_CHARACTERS) + ["##" + c for c in string.ascii_lowercase + string.digits]
    return list(dict.fromkeys([*SPECIAL_TOKENS, *pieces, *sorted(words)]))


@lru_cache(maxsize=4)
def world_tokenizer(num_words: int = VOCABULARY_CORPUS_WORDS, seed: int = 0) -> WordPieceTokenizer:
    """A lowercasing WordPiece tokenizer over :func:`world_vocabulary` (cached: built once)."""
    return WordPieceTokenizer(
        world_vocabulary(num_words, seed), unk_token="[UNK]", special_tokens=SPECIAL_TOKENS
    )

"""The tokenizer of the small world: BERT's WordPiece over the world's words.

The vocabulary ships as ``data/world_vocab.txt``, one token per line as in BERT's
``vocab.txt`` (token id = line number, from 0). It is written by
``python -m course_utils.data.world.vocabulary`` and a test checks that it still matches the
world's words.

The world has a closed vocabulary of about 2,100 words, so every word of the
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

import os
import string
from functools import lru_cache
from pathlib import Path

from course_utils.data.files import DATA_DIR, data_file
from course_utils.data.world.corpus import generate_corpus
from course_utils.data.world.everyday import everyday_words
from course_utils.data.world.knowledge import default_world
from course_utils.data.world.probes import MASK, all_probes
from course_utils.data.world.tasks import TASK_NAMES, load_task
from course_utils.tokenization import WordPieceTokenizer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""BERT's special tokens, with ids 0 to 4 in this order."""

VOCABULARY_FILE = "world_vocab.txt"
"""The vocabulary's file name in ``data/``."""

VOCABULARY_CORPUS_WORDS = 300_000
"""Size of the seeded corpus the word list is read from (with the lexicon, tasks and probes)."""

_CHARACTERS = string.ascii_lowercase + string.digits + string.punctuation


def world_vocabulary(num_words: int = VOCABULARY_CORPUS_WORDS, seed: int = 0) -> list[str]:
    """Special tokens, then single characters and ``##`` pieces, then the world's words (sorted).

    The words are those of a seeded corpus of ``num_words`` words, of the lexicon, the numbers
    0 to 99, and every text of the labelled tasks and probes (lowercased, split as BERT's basic
    tokenizer does), so the list is the same on every machine and every task text, at every
    scale, is made of whole words.
    """
    splitter = WordPieceTokenizer([])
    texts = [
        " ".join(sentence.words)
        for document in generate_corpus(num_words=num_words, seed=seed)
        for sentence in document.sentences
    ]
    texts += default_world().lexicon.vocabulary() + everyday_words()
    texts += [str(n) for n in range(100)]  # stories, answers and distractors at any scale
    for name in TASK_NAMES:
        for frame in load_task(name, "laptop").values():
            texts += [text for column in frame.columns for value in frame[column] for text in _strings(value)]
    texts += [text.replace(MASK, " ") for text in all_probes(200)["text"]]
    words = {word for text in texts for word in splitter.basic_tokenize(text)}
    pieces = list(_CHARACTERS) + ["##" + c for c in string.ascii_lowercase + string.digits]
    return list(dict.fromkeys([*SPECIAL_TOKENS, *pieces, *sorted(words)]))


def _strings(value: object) -> list[str]:
    """The strings in a table cell: the cell itself, or the items of a tuple of words."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (tuple, list)):
        return [item for item in value if isinstance(item, str)]
    return []


def read_vocabulary(name: str = VOCABULARY_FILE) -> list[str]:
    """The tokens of ``data/<name>``, one per line."""
    return data_file(name).read_text(encoding="utf-8").splitlines()


@lru_cache(maxsize=1)
def world_tokenizer() -> WordPieceTokenizer:
    """Taught in notebook 04, section 1.
    A lowercasing WordPiece tokenizer over ``data/world_vocab.txt`` (built once)."""
    return WordPieceTokenizer(read_vocabulary(), unk_token="[UNK]", special_tokens=SPECIAL_TOKENS)


def write_vocabulary(path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``world_vocabulary`` to ``path`` (default: ``data/world_vocab.txt``)."""
    path = Path(path) if path is not None else DATA_DIR / VOCABULARY_FILE
    path.write_text("\n".join(world_vocabulary()) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_vocabulary()}")

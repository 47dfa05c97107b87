"""Test items that the pretraining corpus already contains, word for word.

Taught in notebook 04, section 6. A cloze probe or a downstream test sentence that also
occurs verbatim in the unlabelled corpus measures memory as much as understanding, so the
course counts such items and reports the results without them.

>>> docs = [["Ann is a cook.", "She sings."], ["The dog sleeps."]]
>>> verbatim_in_corpus(["ann is a cook. she sings.", "The dog sleeps.", "The cat sleeps."], docs)
[True, True, False]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

MASK = "[MASK]"


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def corpus_windows(documents: Iterable[Sequence[str]], max_sentences: int) -> set[str]:
    """Every run of 1 to ``max_sentences`` consecutive sentences of each document (texts),
    lowercased and joined by one space."""
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1; got {max_sentences!r}")
    windows: set[str] = set()
    for document in documents:
        sentences = [_normal(s) for s in document]
        for start in range(len(sentences)):
            for end in range(start + 1, min(start + max_sentences, len(sentences)) + 1):
                windows.add(" ".join(sentences[start:end]))
    return windows


def verbatim_in_corpus(texts: Sequence[str], documents: Iterable[Sequence[str]]) -> list[bool]:
    """Taught in notebook 04, section 6. For each text (one sentence or several), whether it
    occurs in ``documents`` (each a list of sentence texts) as consecutive whole sentences of
    one document, case aside."""
    documents = list(documents)
    longest = max((t.count(". ") + t.count("! ") + t.count("? ") + 1 for t in texts), default=1)
    windows = corpus_windows(documents, longest)
    return [_normal(t) in windows for t in texts]


def filled_probes(probes: pd.DataFrame) -> list[str]:
    """Taught in notebook 04, section 6.
    Each probe's text with its ``[MASK]`` replaced by the answer (in the answer's case)."""
    return [text.replace(MASK, str(answer), 1) for text, answer in zip(probes["text"], probes["answer"])]

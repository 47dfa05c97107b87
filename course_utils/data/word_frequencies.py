"""English word counts from the `wordfreq` package (its data ships with it: no download)."""

from __future__ import annotations

COUNT_SCALE = 1e9  # frequencies are per word of running text; counts are per billion words


def english_word_counts(num_words: int = 50_000) -> dict[str, int]:
    """Taught in notebook 01, section 4.
    The ``num_words`` most frequent English words with counts per billion words.

    wordfreq gives frequencies (fractions of running text); BPE wants integer counts, so each
    frequency is scaled to a count per billion words (at least 1). Most frequent first.

    >>> counts = english_word_counts(3)
    >>> list(counts)
    ['the', 'to', 'and']
    """
    if not isinstance(num_words, int) or num_words <= 0:
        raise ValueError(f"num_words must be a positive int, got {num_words!r}")
    import wordfreq

    words = wordfreq.top_n_list("en", num_words)
    return {
        word: max(1, round(wordfreq.word_frequency(word, "en") * COUNT_SCALE)) for word in words
    }

"""Span corruption: T5's pretraining objective.

Taught in notebook 07.

Pick about 15 % of the tokens in a few short spans (3 tokens long on average),
replace each span in the input by one sentinel token, and ask the decoder for
the removed spans, each after its sentinel. The lecture's example, with the
spans "for inviting" and "last" removed::

    original  Thank you for inviting me to your party last week .
    input     Thank you <X> me to your party <Y> week .
    target    <X> for inviting <Y> last <Z>

T5 calls the sentinels ``<extra_id_0>``, ``<extra_id_1>``, ... and gives them
the last ids of its vocabulary (``<extra_id_0>`` is the very last one, see
``t5_sentinel_ids``). Both input and target then end with end-of-sequence.

How T5 draws the spans (its ``random_spans_noise_mask``), for a text of L tokens:

1. number of noise tokens: ``round(0.15 * L)``, at least 1 and at most L - 1;
2. number of noise spans: ``max(1, round(noise_tokens / 3))``;
3. cut the noise tokens into that many non-empty spans at random, and the kept
   tokens into as many non-empty spans (a uniformly random segmentation, not
   Poisson lengths as BART uses);
4. lay them out alternately, kept span first: kept, noise, kept, noise, ...

So a text always starts with a kept span and ends with a noise span.

``corrupt_spans`` does the replacing for spans you give it (the lecture's
example); ``span_corruption`` draws the spans first. Both work on lists of
token ids; ``corrupt_words`` shows the same on words. The random functions draw
only from their ``rng`` (a ``random.Random``), so the same seed gives the same
spans.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from course_utils.noising._checks import _is_int

NOISE_DENSITY = 0.15
"""T5's fraction of noise tokens."""

MEAN_NOISE_SPAN_LENGTH = 3.0
"""T5's mean length of a noise span."""

Item = TypeVar("Item")


def span_corruption(
    tokens: Sequence[int],
    *,
    sentinel_ids: Sequence[int],
    eos_id: int,
    rng: random.Random,
    noise_density: float = NOISE_DENSITY,
    mean_span_length: float = MEAN_NOISE_SPAN_LENGTH,
) -> tuple[list[int], list[int]]:
    """Taught in notebook 07. T5's span corruption of ``tokens``; return ``(inputs, targets)``.

    Draws the noise spans with ``random_noise_spans`` and replaces them with
    ``corrupt_spans`` (see there for the sentinels and end-of-sequence).
    ``tokens`` holds no end-of-sequence yet: T5 adds it after the corruption.

    >>> tokens = list(range(10, 30))                       # 20 tokens: 3 noise tokens, 1 span
    >>> inputs, targets = span_corruption(tokens, sentinel_ids=[99, 98, 97], eos_id=1,
    ...                                   rng=random.Random(0))
    >>> inputs
    [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 99, 1]
    >>> targets
    [99, 27, 28, 29, 1]
    """
    _check_tokens(tokens)
    spans = random_noise_spans(
        len(tokens), rng=rng, noise_density=noise_density, mean_span_length=mean_span_length
    )
    return corrupt_spans(tokens, spans, sentinel_ids=sentinel_ids, eos_id=eos_id)


def corrupt_spans(
    tokens: Sequence[int],
    spans: Sequence[tuple[int, int]],
    *,
    sentinel_ids: Sequence[int],
    eos_id: int,
) -> tuple[list[int], list[int]]:
    """Taught in notebook 07. Replace the given noise ``spans`` of ``tokens``; return
    ``(inputs, targets)``.

    ``spans`` are ``(start, end)`` pairs (``end`` excluded, as in slicing),
    sorted, non-empty, and separated by at least one kept token. Noise span k
    becomes the sentinel ``sentinel_ids[k]`` in the input; the target is each
    sentinel followed by the span it replaced. If the text ends with kept
    tokens, the target ends with one more sentinel, standing for "the rest is
    kept" (the lecture's ``<Z>``). Both end with ``eos_id``.

    This is what T5 computes whenever the text starts with a kept token, as
    its random spans always do. (T5 numbers the target's sentinels by the kept
    spans, so for a text starting with noise its target would be off by one
    sentinel; here a span's sentinel is the same in input and target.)

    The lecture's example, ids standing for the words (``corrupt_words`` shows it on words):

    >>> #         Thank you for inviting me to your party last week .
    >>> tokens = [10,   11, 12, 13,      14, 15, 16,  17,  18,  19, 20]
    >>> inputs, targets = corrupt_spans(tokens, [(2, 4), (8, 9)],
    ...                                 sentinel_ids=[99, 98, 97], eos_id=1)
    >>> inputs                          # Thank you <X> me to your party <Y> week .
    [10, 11, 99, 14, 15, 16, 17, 98, 19, 20, 1]
    >>> targets                         # <X> for inviting <Y> last <Z>
    [99, 12, 13, 98, 18, 97, 1]
    """
    _check_tokens(tokens)
    _check_spans(spans, len(tokens))
    _check_sentinels(sentinel_ids, num_sentinels_needed(spans, len(tokens)))
    if not _is_int(eos_id):
        raise ValueError(f"eos_id must be an int; got {eos_id!r}")
    return _corrupt(list(tokens), spans, list(sentinel_ids), eos_id)


def corrupt_words(
    words: str | Sequence[str],
    spans: Sequence[tuple[int, int]],
    *,
    sentinels: Sequence[str] | None = None,
    eos: str | None = "</s>",
) -> tuple[str, str]:
    """Taught in notebook 07. ``corrupt_spans`` on words, to show it; return
    ``(input_text, target_text)``.

    ``words``: a list of words, or a string split at white space. ``spans``
    index the words. ``sentinels`` default to T5's names ``<extra_id_0>``,
    ``<extra_id_1>``, ...; ``eos=None`` leaves out the end-of-sequence.

    >>> text = "Thank you for inviting me to your party last week ."
    >>> corrupt_words(text, [(2, 4), (8, 9)], sentinels=["<X>", "<Y>", "<Z>"], eos=None)
    ('Thank you <X> me to your party <Y> week .', '<X> for inviting <Y> last <Z>')
    >>> corrupt_words(text, [(2, 4), (8, 9)])[1]
    '<extra_id_0> for inviting <extra_id_1> last <extra_id_2> </s>'
    """
    words = words.split() if isinstance(words, str) else list(words)
    _check_spans(spans, len(words))
    needed = num_sentinels_needed(spans, len(words))
    if sentinels is None:
        sentinels = [f"<extra_id_{k}>" for k in range(needed)]
    elif len(sentinels) < needed:
        raise ValueError(f"need {needed} sentinels for these spans; got {len(sentinels)}")
    inputs, targets = _corrupt(words, spans, list(sentinels), eos)
    return " ".join(inputs), " ".join(targets)


def _corrupt(
    items: list[Item], spans: Sequence[tuple[int, int]], sentinels: list[Item], eos: Item | None
) -> tuple[list[Item], list[Item]]:
    """The replacing itself, for any kind of items (ids or words); arguments already checked."""
    inputs: list[Item] = []
    targets: list[Item] = []
    position = 0  # first token not yet copied
    for k, (start, end) in enumerate(spans):
        inputs += [*items[position:start], sentinels[k]]  # kept span, then the noise's sentinel
        targets += [sentinels[k], *items[start:end]]  # the sentinel, then the noise it stands for
        position = end
    inputs += items[position:]
    if position < len(items):  # the text ends with kept tokens: one more sentinel for them
        targets.append(sentinels[len(spans)])
    if eos is not None:
        inputs.append(eos)
        targets.append(eos)
    return inputs, targets


def num_sentinels_needed(spans: Sequence[tuple[int, int]], length: int) -> int:
    """How many sentinels ``corrupt_spans`` uses: one per span, one more if the text ends kept.

    >>> num_sentinels_needed([(2, 4), (8, 9)], 11), num_sentinels_needed([(2, 4), (8, 11)], 11)
    (3, 2)
    """
    ends_kept = not spans or spans[-1][1] < length
    return len(spans) + int(ends_kept)


def t5_sentinel_ids(vocab_size: int, num_sentinels: int = 100) -> list[int]:
    """Taught in notebook 07. T5's sentinel ids: ``<extra_id_0>`` is the last id of the
    vocabulary, ``<extra_id_1>`` the one before, and so on.

    >>> t5_sentinel_ids(32100, 3)                          # t5-small's vocabulary
    [32099, 32098, 32097]
    """
    if not _is_int(vocab_size) or not _is_int(num_sentinels) or not 0 < num_sentinels <= vocab_size:
        raise ValueError(
            "need ints with 0 < num_sentinels <= vocab_size; "
            f"got vocab_size={vocab_size!r}, num_sentinels={num_sentinels!r}"
        )
    return [vocab_size - 1 - k for k in range(num_sentinels)]


# --- drawing the spans, as T5's random_spans_noise_mask -------------------------


def num_noise_tokens(length: int, noise_density: float = NOISE_DENSITY) -> int:
    """Taught in notebook 07. ``round(noise_density * length)``, at least 1 and at most
    ``length - 1``.

    T5 multiplies in float32 and rounds half to even, so ties decide as there:
    190 * 0.15 is 28.5 in float64 (rounds to 28) but a little more in float32 (29).
    Texts shorter than 2 tokens are counted as 2 tokens long, as in T5.

    >>> num_noise_tokens(100), num_noise_tokens(10), num_noise_tokens(2), num_noise_tokens(190)
    (15, 2, 1, 29)
    """
    length = max(length, 2)
    n = int(np.round(np.float32(length) * np.float32(noise_density)))  # float32, as T5
    return min(max(n, 1), length - 1)


def num_noise_spans(num_noise: int, mean_span_length: float = MEAN_NOISE_SPAN_LENGTH) -> int:
    """Taught in notebook 07. ``max(1, round(num_noise / mean_span_length))``.

    >>> num_noise_spans(15), num_noise_spans(1), num_noise_spans(5)
    (5, 1, 2)
    """
    n = int(np.round(np.float32(num_noise) / np.float32(mean_span_length)))  # float32, as T5
    return max(n, 1)


def random_segmentation(num_items: int, num_segments: int, rng: random.Random) -> list[int]:
    """Taught in notebook 07. Cut ``num_items`` items in a row into ``num_segments``
    non-empty segments, uniformly at random; return the segment lengths.

    There are ``num_items - 1`` gaps between the items; cut at
    ``num_segments - 1`` of them, drawn without replacement (T5 shuffles a
    vector of that many ones among the gaps: the same distribution).

    >>> lengths = random_segmentation(10, 3, random.Random(0))
    >>> lengths, sum(lengths)
    ([7, 2, 1], 10)
    """
    if not 1 <= num_segments <= num_items:
        raise ValueError(
            f"cannot cut {num_items} items into {num_segments} non-empty segments; "
            "need 1 <= num_segments <= num_items"
        )
    cuts = sorted(rng.sample(range(1, num_items), num_segments - 1))  # segment ends
    edges = [0, *cuts, num_items]
    return [b - a for a, b in zip(edges, edges[1:])]


def random_span_lengths(
    length: int,
    *,
    rng: random.Random,
    noise_density: float = NOISE_DENSITY,
    mean_span_length: float = MEAN_NOISE_SPAN_LENGTH,
) -> list[int]:
    """Taught in notebook 07. The lengths of T5's spans, alternately kept and noise:
    ``[kept_0, noise_0, kept_1, noise_1, ...]``.

    They sum to ``max(length, 2)`` (T5 counts a 1-token text as 2 tokens and
    cuts the mask back afterwards).

    >>> random_span_lengths(20, rng=random.Random(0))       # 3 noise tokens in 1 span
    [17, 3]
    """
    _check_noise_args(length, noise_density, mean_span_length)
    length = max(length, 2)
    noise = num_noise_tokens(length, noise_density)
    num_spans = num_noise_spans(noise, mean_span_length)
    if num_spans > length - noise:
        raise ValueError(
            f"noise_density={noise_density} leaves {length - noise} kept tokens for "
            f"{num_spans} kept spans in a text of {length} tokens; lower noise_density "
            "or raise mean_span_length"
        )
    noise_lengths = random_segmentation(noise, num_spans, rng)
    kept_lengths = random_segmentation(length - noise, num_spans, rng)
    return [n for pair in zip(kept_lengths, noise_lengths) for n in pair]  # kept span first


def random_noise_spans(
    length: int,
    *,
    rng: random.Random,
    noise_density: float = NOISE_DENSITY,
    mean_span_length: float = MEAN_NOISE_SPAN_LENGTH,
) -> list[tuple[int, int]]:
    """Taught in notebook 07. T5's random noise spans of a text of ``length`` tokens, as
    ``(start, end)`` pairs for ``corrupt_spans``.

    >>> random_noise_spans(20, rng=random.Random(0))
    [(17, 20)]
    >>> random_noise_spans(1, rng=random.Random(0))         # as T5: too short for any noise
    []
    """
    lengths = random_span_lengths(
        length, rng=rng, noise_density=noise_density, mean_span_length=mean_span_length
    )
    starts = [0, *itertools.accumulate(lengths)]  # start of every span, kept and noise
    spans = [(starts[i], starts[i + 1]) for i in range(1, len(lengths), 2)]  # the odd ones: noise
    return [(start, min(end, length)) for start, end in spans if start < length]


# --- argument checks, out of the way of the idea above --------------------------


def _check_tokens(tokens: Sequence[int]) -> None:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise ValueError(
            f"tokens must be a list of token ids; got a {type(tokens).__name__} "
            "(use corrupt_words for words)"
        )
    bad = [t for t in tokens if not _is_int(t)]
    if bad:
        raise ValueError(f"tokens must be ints; got {bad[0]!r}")


def _check_spans(spans: Sequence[tuple[int, int]], length: int) -> None:
    previous_end = None
    for span in spans:
        if len(span) != 2 or not all(_is_int(x) for x in span):
            raise ValueError(f"each span must be a pair of ints (start, end); got {span!r}")
        start, end = span
        if not 0 <= start < end <= length:
            raise ValueError(
                f"span {span!r} must satisfy 0 <= start < end <= {length} (the number of tokens)"
            )
        if previous_end is not None and start <= previous_end:
            raise ValueError(
                f"spans must be sorted and separated by at least one kept token; span {span!r} "
                f"starts at or before the previous span's end {previous_end} "
                "(merge adjacent spans into one)"
            )
        previous_end = end


def _check_sentinels(sentinel_ids: Sequence[int], needed: int) -> None:
    ids = list(sentinel_ids)
    if not all(_is_int(i) for i in ids) or len(set(ids)) != len(ids):
        raise ValueError(f"sentinel_ids must be distinct ints; got {ids!r}")
    if len(ids) < needed:
        raise ValueError(
            f"need {needed} sentinel ids for these spans; got {len(ids)} "
            "(t5_sentinel_ids(vocab_size) gives T5's 100)"
        )


def _check_noise_args(length: int, noise_density: float, mean_span_length: float) -> None:
    if not _is_int(length) or length < 0:
        raise ValueError(f"length must be a non-negative int; got {length!r}")
    if not 0 < noise_density < 1:
        raise ValueError(f"noise_density must be in (0, 1); got {noise_density!r}")
    if not mean_span_length >= 1:
        raise ValueError(f"mean_span_length must be at least 1; got {mean_span_length!r}")

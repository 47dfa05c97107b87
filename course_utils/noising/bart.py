"""BART's noising functions: corrupt a document, and train the model to restore it.

Taught in notebook 07.

BART's encoder reads a noised document and its decoder writes the original.
The paper compares five kinds of noise (the ids stand for words; M is the mask token)::

    original               A B C . D E .
    token_masking          A M C . M E .      each token becomes M with probability p
    token_deletion         A C . E .          each token is deleted with probability p
    text_infilling         A M . D M E .      spans (Poisson lengths) -> one M each
    sentence_permutation   D E . A B C .      the sentences shuffled
    document_rotation      C . D E . A B      rotated to start at a random token

Text infilling works best in the paper, and BART-base/large are pretrained
with it (plus sentence permutation). Unlike T5's span corruption, a span
leaves a single mask token, so the model must also find out how many tokens
are missing, and a span may be empty: then a mask is inserted where nothing
is missing.

Each function takes a list of token ids and returns a new list. A leading
``bos_id`` and a trailing ``eos_id`` (if given and present) stay where they
are and are never noised, as in fairseq's ``DenoisingDataset``. Randomness
comes only from ``rng`` (a ``random.Random``), so the same seed gives the
same noise.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

from course_utils.noising._checks import _is_int

MASK_RATIO = 0.3
"""BART's fraction of tokens covered by text-infilling spans."""

POISSON_LAMBDA = 3.0
"""BART's mean span length for text infilling (lambda of the Poisson distribution)."""

MAX_SPAN_LENGTH = 128
"""fairseq draws span lengths from a Poisson distribution cut off at 128 tokens."""


def token_masking(
    tokens: Sequence[int],
    *,
    mask_id: int,
    rng: random.Random,
    p: float = 0.15,
    bos_id: int | None = None,
    eos_id: int | None = None,
) -> list[int]:
    """Taught in notebook 07. Replace each token by ``mask_id`` with probability ``p``,
    independently (BERT's masking, without its random and unchanged 10 %).

    >>> token_masking([0, 5, 6, 7, 2], mask_id=4, p=0.5, bos_id=0, eos_id=2, rng=random.Random(1))
    [0, 4, 6, 7, 2]
    """
    _check_tokens(tokens, bos_id, eos_id)
    _check_mask_id(mask_id)
    _check_probability("p", p)
    head, body, tail = _split_ends(tokens, bos_id, eos_id)
    noised = [mask_id if rng.random() < p else token for token in body]
    return head + noised + tail


def token_deletion(
    tokens: Sequence[int],
    *,
    rng: random.Random,
    p: float = 0.15,
    bos_id: int | None = None,
    eos_id: int | None = None,
) -> list[int]:
    """Taught in notebook 07. Delete each token with probability ``p``, independently.

    Unlike masking, the model must also find out where tokens are missing.

    >>> token_deletion([0, 5, 6, 7, 2], p=0.5, bos_id=0, eos_id=2, rng=random.Random(1))
    [0, 6, 7, 2]
    """
    _check_tokens(tokens, bos_id, eos_id)
    _check_probability("p", p)
    head, body, tail = _split_ends(tokens, bos_id, eos_id)
    kept = [token for token in body if rng.random() >= p]
    return head + kept + tail


def text_infilling(
    tokens: Sequence[int],
    *,
    mask_id: int,
    rng: random.Random,
    mask_ratio: float = MASK_RATIO,
    poisson_lambda: float = POISSON_LAMBDA,
    bos_id: int | None = None,
    eos_id: int | None = None,
) -> list[int]:
    """Taught in notebook 07. BART's text infilling: replace random spans, of lengths
    drawn from Poisson(``poisson_lambda``), each by ONE ``mask_id``.

    As fairseq's ``DenoisingDataset`` (``mask_length="span-poisson"``,
    ``replace_length=1``, no random replacement):

    1. the spans' lengths add up to ``ceil(mask_ratio * n)`` for n noisable
       tokens (``poisson_span_lengths``);
    2. each span of length >= 1 starts at its own uniformly random token and
       runs to the right, at most to the end (``infill_spans``: the start
       becomes the mask, the rest of the span is deleted; spans that overlap
       merge, so slightly fewer than ``mask_ratio`` tokens end up covered);
    3. each span of length 0 inserts one mask at a random place (``insert_masks``).

    >>> tokens = [0, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 2]
    >>> text_infilling(tokens, mask_id=4, bos_id=0, eos_id=2, rng=random.Random(0))
    [0, 10, 11, 12, 13, 14, 15, 4, 19, 2]
    """
    _check_tokens(tokens, bos_id, eos_id)
    _check_mask_id(mask_id)
    _check_probability("mask_ratio", mask_ratio)
    if not poisson_lambda > 0:
        raise ValueError(f"poisson_lambda must be positive; got {poisson_lambda!r}")
    head, body, tail = _split_ends(tokens, bos_id, eos_id)
    budget = math.ceil(mask_ratio * len(body))  # tokens the spans cover, overlaps counted twice
    lengths = poisson_span_lengths(budget, rng=rng, poisson_lambda=poisson_lambda)
    span_lengths = [length for length in lengths if length > 0]
    num_inserts = len(lengths) - len(span_lengths)  # zero-length spans
    starts = rng.sample(range(len(body)), len(span_lengths))  # distinct, uniformly random
    body = infill_spans(body, list(zip(starts, span_lengths)), mask_id)
    body = insert_masks(body, num_inserts, mask_id, rng)
    return head + body + tail


def poisson_span_lengths(
    budget: int, *, rng: random.Random, poisson_lambda: float = POISSON_LAMBDA
) -> list[int]:
    """Taught in notebook 07. Span lengths for text infilling, adding up to ``budget``.

    Draw lengths from Poisson(``poisson_lambda``) (cut off at ``MAX_SPAN_LENGTH``,
    as fairseq) until they reach ``budget``, then shorten the last one to hit it
    exactly (about budget / poisson_lambda draws, so keep lambda well above 0).
    Lengths 0 are kept: each becomes an inserted mask.

    >>> lengths = poisson_span_lengths(10, rng=random.Random(0))
    >>> lengths, sum(lengths)
    ([5, 4, 1], 10)
    """
    if not _is_int(budget) or budget < 0:
        raise ValueError(f"budget must be a non-negative int; got {budget!r}")
    cumulative = _poisson_cumulative(poisson_lambda)
    lengths: list[int] = []
    total = 0
    while total < budget:
        length = rng.choices(range(MAX_SPAN_LENGTH), cum_weights=cumulative)[0]
        length = min(length, budget - total)  # the last span stops at the budget
        lengths.append(length)
        total += length
    return lengths


def _poisson_cumulative(poisson_lambda: float) -> list[float]:
    """Cumulative Poisson(lambda) probabilities of 0, 1, ..., MAX_SPAN_LENGTH - 1."""
    probability = math.exp(-poisson_lambda)  # P(0)
    cumulative, total = [], 0.0
    for k in range(MAX_SPAN_LENGTH):
        total += probability
        cumulative.append(total)
        probability *= poisson_lambda / (k + 1)  # P(k + 1) = P(k) * lambda / (k + 1)
    return cumulative


def infill_spans(
    tokens: Sequence[int], spans: Iterable[tuple[int, int]], mask_id: int
) -> list[int]:
    """Taught in notebook 07. Replace each span ``(start, length)`` of ``tokens`` by one
    ``mask_id``.

    A span runs from ``start`` for ``length`` tokens, cut at the end of
    ``tokens``. Its first token becomes the mask and the others are deleted; a
    token that another span deletes is deleted even if a span starts there,
    so overlapping spans leave one mask (as fairseq).

    >>> infill_spans([10, 11, 12, 13, 14, 15], [(1, 2), (4, 1)], mask_id=4)
    [10, 4, 13, 4, 15]
    >>> infill_spans([10, 11, 12, 13, 14, 15], [(1, 3), (2, 4)], mask_id=4)   # overlapping
    [10, 4]
    """
    tokens = list(tokens)
    starts, deleted = set(), set()
    for start, length in spans:
        if not (_is_int(start) and _is_int(length) and 0 <= start < len(tokens) and length >= 1):
            raise ValueError(
                f"each span must be (start, length) with 0 <= start < {len(tokens)} "
                f"(the number of tokens) and length >= 1; got {(start, length)!r}"
            )
        starts.add(start)
        deleted.update(range(start + 1, min(start + length, len(tokens))))
    return [
        mask_id if i in starts else token
        for i, token in enumerate(tokens)
        if i not in deleted
    ]


def insert_masks(
    tokens: Sequence[int], num_masks: int, mask_id: int, rng: random.Random
) -> list[int]:
    """Taught in notebook 07. Insert ``num_masks`` masks at uniformly random places.

    Of the ``len(tokens) + num_masks`` places of the result, ``num_masks``
    distinct ones get a mask and the others the tokens, in order.

    >>> insert_masks([10, 11, 12], 2, mask_id=4, rng=random.Random(0))
    [10, 11, 12, 4, 4]
    """
    if not _is_int(num_masks) or num_masks < 0:
        raise ValueError(f"num_masks must be a non-negative int; got {num_masks!r}")
    size = len(tokens) + num_masks
    mask_places = set(rng.sample(range(size), num_masks))
    rest = iter(tokens)
    return [mask_id if i in mask_places else next(rest) for i in range(size)]


def sentence_permutation(
    tokens: Sequence[int],
    *,
    full_stop_ids: Iterable[int],
    rng: random.Random,
    bos_id: int | None = None,
    eos_id: int | None = None,
) -> list[int]:
    """Taught in notebook 07. Shuffle the sentences of a document.

    Sentences end at full stops (``split_sentences``); the order of the
    sentences is drawn uniformly (``permute_sentences``), each sentence stays as
    it is. fairseq does the same with ``permute_sentences=1.0``.

    >>> doc = [0, 5, 6, 3, 7, 3, 8, 9, 3, 2]               # 3 is the full stop
    >>> sentence_permutation(doc, full_stop_ids=[3], bos_id=0, eos_id=2, rng=random.Random(0))
    [0, 5, 6, 3, 8, 9, 3, 7, 3, 2]
    """
    _check_tokens(tokens, bos_id, eos_id)
    head, body, tail = _split_ends(tokens, bos_id, eos_id)
    shuffled = permute_sentences(split_sentences(body, full_stop_ids), rng=rng)
    return head + [token for sentence in shuffled for token in sentence] + tail


def split_sentences(tokens: Sequence[int], full_stop_ids: Iterable[int]) -> list[list[int]]:
    """Taught in notebook 07. Cut ``tokens`` after each full stop (a run of full stops
    ends one sentence); the tokens after the last full stop are a last sentence.

    >>> split_sentences([5, 6, 3, 7, 3, 3, 8], full_stop_ids=[3])
    [[5, 6, 3], [7, 3, 3], [8]]
    """
    stops = set(full_stop_ids)
    if not stops:
        raise ValueError("full_stop_ids must name at least one token id that ends a sentence")
    sentences: list[list[int]] = []
    current: list[int] = []
    for i, token in enumerate(tokens):
        current.append(token)
        next_is_stop = i + 1 < len(tokens) and tokens[i + 1] in stops
        if token in stops and not next_is_stop:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def permute_sentences(sentences: Sequence[Sequence[int]], *, rng: random.Random) -> list[list[int]]:
    """Taught in notebook 07. The sentences in a uniformly random order (each one unchanged).

    >>> permute_sentences([[5, 6], [7], [8, 9]], rng=random.Random(0))
    [[5, 6], [8, 9], [7]]
    """
    order = list(range(len(sentences)))
    rng.shuffle(order)
    return [list(sentences[i]) for i in order]


def document_rotation(
    tokens: Sequence[int],
    *,
    rng: random.Random,
    bos_id: int | None = None,
    eos_id: int | None = None,
) -> list[int]:
    """Taught in notebook 07. Rotate the document so that a uniformly chosen token starts it.

    The model must find where the document really starts. The cyclic order of
    the tokens is kept. (fairseq draws the offset from 1 to n, so it leaves the
    document unrotated twice as often as here.)

    >>> document_rotation([0, 5, 6, 7, 8, 2], bos_id=0, eos_id=2, rng=random.Random(0))
    [0, 8, 5, 6, 7, 2]
    """
    _check_tokens(tokens, bos_id, eos_id)
    head, body, tail = _split_ends(tokens, bos_id, eos_id)
    if not body:
        return head + tail
    start = rng.randrange(len(body))  # the token that will come first
    return head + body[start:] + body[:start] + tail


def _split_ends(
    tokens: Sequence[int], bos_id: int | None, eos_id: int | None
) -> tuple[list[int], list[int], list[int]]:
    """``(head, body, tail)``: a leading ``bos_id``, the tokens to noise, a trailing ``eos_id``."""
    tokens = list(tokens)
    head = tokens[:1] if bos_id is not None and tokens[:1] == [bos_id] else []
    rest = tokens[len(head):]
    tail = rest[-1:] if eos_id is not None and rest[-1:] == [eos_id] else []
    return head, rest[: len(rest) - len(tail)], tail


# --- argument checks, out of the way of the idea above --------------------------


def _check_tokens(tokens: Sequence[int], bos_id: int | None, eos_id: int | None) -> None:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise ValueError(f"tokens must be a list of token ids; got a {type(tokens).__name__}")
    bad = [t for t in tokens if not _is_int(t)]
    if bad:
        raise ValueError(f"tokens must be ints; got {bad[0]!r}")
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        if value is not None and not _is_int(value):
            raise ValueError(f"{name} must be an int or None; got {value!r}")


def _check_mask_id(mask_id: int) -> None:
    if not _is_int(mask_id):
        raise ValueError(f"mask_id must be an int (the mask token's id); got {mask_id!r}")


def _check_probability(name: str, p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"{name} must be in [0, 1]; got {p!r}")

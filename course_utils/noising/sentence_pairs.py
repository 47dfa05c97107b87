"""Next-sentence prediction (NSP): BERT's second pretraining objective, and packing.

Taught in notebook 04, section 3.

Build a pair ``[CLS] A [SEP] B [SEP]`` where B is, with probability 1/2, the
sentence that really follows A (label IS_NEXT) and otherwise a sentence from
another document (label NOT_NEXT). Token types tell the model which segment a
token is in: 0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``. ``make_packed_pair``
fills the length with several whole sentences per segment, as BERT's
pretraining data does.

>>> import random
>>> docs = [[[5, 6], [7]], [[8, 9, 10]]]
>>> make_nsp_pair(docs, 0, 0, max_length=16, cls_id=1, sep_id=2, rng=random.Random(1))
NSPExample(input_ids=[1, 5, 6, 2, 7, 2], token_type_ids=[0, 0, 0, 0, 1, 1], label=0)

The functions draw only from their ``rng`` (a ``random.Random``), so the same
seed gives the same pairs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

from course_utils.noising._checks import _is_int

IS_NEXT = 0
"""NSP label: segment B really follows segment A (0, as in BERT's data and Hugging Face)."""

NOT_NEXT = 1
"""NSP label: segment B comes from a different document."""

Document = Sequence[Sequence[int]]
"""A document: a list of sentences, each a list of token ids (no special tokens)."""


class NSPExample(NamedTuple):
    """One NSP training pair: ``[CLS] A [SEP] B [SEP]``, its segment ids, and its label."""

    input_ids: list[int]
    token_type_ids: list[int]
    label: int


def truncate_pair(
    a: Sequence[int], b: Sequence[int], max_tokens: int
) -> tuple[list[int], list[int]]:
    """Taught in notebook 04, section 3. Shorten ``a`` and ``b`` until together they have
    at most ``max_tokens`` tokens.

    Like BERT's ``truncate_seq_pair``: drop the last token of the longer
    segment, one token at a time; on a tie drop from ``b``. So the shorter
    segment keeps as much as it can.

    >>> truncate_pair([1, 2, 3, 4, 5, 6], [7, 8], 5)
    ([1, 2, 3], [7, 8])
    >>> truncate_pair([1, 2, 3], [4, 5, 6], 4)
    ([1, 2], [4, 5])
    """
    a, b = list(a), list(b)
    while len(a) + len(b) > max_tokens:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def make_nsp_pair(
    documents: Sequence[Document],
    doc_index: int,
    sentence_index: int,
    *,
    max_length: int,
    cls_id: int,
    sep_id: int,
    rng: random.Random,
    next_probability: float = 0.5,
) -> NSPExample:
    """Taught in notebook 04, section 3 (section 1 already uses it to show BERT's input).
    Build ``[CLS] A [SEP] B [SEP]``, A = sentence
    ``sentence_index`` of document ``doc_index``.

    With probability ``next_probability`` (BERT: 1/2), B is the next sentence of the
    same document (``label`` = ``IS_NEXT``); otherwise B is a random sentence of a
    random *other* document (``NOT_NEXT``). If the pair would be longer
    than ``max_length``, A and B are shortened by ``truncate_pair``.
    Token types are 0 for ``[CLS] A [SEP]`` and 1 for ``B [SEP]``.

    One sentence per segment keeps the idea visible; ``make_packed_pair`` fills
    the length with several sentences, as BERT's pretraining data does.
    """
    _check_pair_args(documents, doc_index, sentence_index, max_length, next_probability)
    document = documents[doc_index]
    if rng.random() < next_probability:
        b, label = document[sentence_index + 1], IS_NEXT
    else:
        b, label = random_other_sentence(documents, doc_index, rng), NOT_NEXT
    return _assemble(document[sentence_index], b, label, max_length, cls_id, sep_id)


def make_packed_pair(
    documents: Sequence[Document],
    doc_index: int,
    sentence_index: int,
    *,
    max_length: int,
    cls_id: int,
    sep_id: int,
    rng: random.Random,
    next_probability: float = 0.5,
) -> NSPExample:
    """Taught in notebook 04, section 3. Like ``make_nsp_pair``, but each segment may hold
    several whole sentences.

    As in BERT's pretraining data: take consecutive sentences of document ``doc_index``
    from ``sentence_index`` on (at least two, then as many more as fit in ``max_length``),
    and cut them at a random sentence boundary into A and B. With probability
    ``next_probability`` B is the rest of that text (``IS_NEXT``); otherwise B is as
    many consecutive sentences of a random other document as fill the remaining length
    (``NOT_NEXT``), so a pair's length does not give its label away. A story of
    several sentences can then sit in one segment, and the model learns from what a
    sentence says about the one before it (who "she" is, how many apples are left).

    >>> docs = [[[5, 6], [7], [8, 9]], [[10, 11, 12]]]
    >>> make_packed_pair(docs, 0, 0, max_length=16, cls_id=1, sep_id=2, rng=random.Random(2))
    NSPExample(input_ids=[1, 5, 6, 2, 7, 8, 9, 2], token_type_ids=[0, 0, 0, 0, 1, 1, 1, 1], label=0)
    """
    _check_pair_args(documents, doc_index, sentence_index, max_length, next_probability)
    document = documents[doc_index]
    budget = max_length - 3
    chunk = _consecutive(document, sentence_index, budget, min_sentences=2)
    cut = rng.randint(1, len(chunk) - 1)
    a = [token for sentence in chunk[:cut] for token in sentence]
    if rng.random() < next_probability:
        b, label = [token for sentence in chunk[cut:] for token in sentence], IS_NEXT
    else:
        other = _other_document(documents, doc_index, rng)
        start = rng.randrange(len(documents[other]))
        rest = _consecutive(documents[other], start, budget - len(a), min_sentences=1)
        b, label = [token for sentence in rest for token in sentence], NOT_NEXT
    return _assemble(a, b, label, max_length, cls_id, sep_id)


def _assemble(
    a: Sequence[int], b: Sequence[int], label: int, max_length: int, cls_id: int, sep_id: int
) -> NSPExample:
    """``[CLS] A [SEP] B [SEP]`` with token types 0 then 1, shortened to ``max_length``."""
    a, b = truncate_pair(a, b, max_length - 3)
    input_ids = [cls_id, *a, sep_id, *b, sep_id]
    token_type_ids = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    return NSPExample(input_ids, token_type_ids, label)


def _consecutive(
    document: Document, start: int, budget: int, min_sentences: int
) -> list[Sequence[int]]:
    """Sentences of ``document`` from ``start`` on: at least ``min_sentences`` (if there are
    that many), then more while their tokens stay within ``budget``."""
    end = min(start + min_sentences, len(document))
    length = sum(len(sentence) for sentence in document[start:end])
    while end < len(document) and length + len(document[end]) <= budget:
        length += len(document[end])
        end += 1
    return list(document[start:end])


def random_other_sentence(
    documents: Sequence[Document], doc_index: int, rng: random.Random
) -> list[int]:
    """Taught in notebook 04, section 3. A uniformly random sentence of a uniformly random
    document other than ``doc_index``."""
    return list(rng.choice(documents[_other_document(documents, doc_index, rng)]))


def _other_document(documents: Sequence[Document], doc_index: int, rng: random.Random) -> int:
    """A uniformly random document index other than ``doc_index``; that document must not be empty."""
    other = rng.randrange(len(documents) - 1)
    if other >= doc_index:  # skip doc_index: the others stay equally likely
        other += 1
    if not documents[other]:
        raise ValueError(f"document {other} has no sentences; every document needs at least one")
    return other


def nsp_pairs(
    documents: Sequence[Document],
    num_pairs: int,
    *,
    max_length: int,
    cls_id: int,
    sep_id: int,
    rng: random.Random,
    next_probability: float = 0.5,
    positions: Sequence[tuple[int, int]] | None = None,
    packed: bool = False,
) -> list[NSPExample]:
    """Taught in notebook 04, sections 2 and 3. ``num_pairs`` NSP examples, built by ``make_nsp_pair`` (one sentence per
    segment) or, with ``packed=True``, by ``make_packed_pair`` (as many as fit).

    ``positions``: ``pair_positions`` of ``documents``, if already computed (a
    training loop that draws a batch every step saves that work).

    ``next_probability=1.0`` gives only true pairs: contiguous text for
    training with the masked LM alone (as RoBERTa does).

    Segment A is drawn uniformly over all sentences that have a next one, so
    a long document supplies proportionally more pairs than a short one.
    """
    _check_nsp_args(documents, max_length)
    if not _is_int(num_pairs) or num_pairs < 0:
        raise ValueError(f"num_pairs must be a non-negative int; got {num_pairs!r}")
    if positions is None:
        positions = pair_positions(documents)
    make_pair = make_packed_pair if packed else make_nsp_pair
    pairs = []
    for _ in range(num_pairs):
        d, s = rng.choice(positions)
        pairs.append(
            make_pair(
                documents, d, s, max_length=max_length, cls_id=cls_id, sep_id=sep_id, rng=rng,
                next_probability=next_probability,
            )
        )
    return pairs


def pair_positions(documents: Sequence[Document]) -> list[tuple[int, int]]:
    """Every ``(document, sentence)`` that has a next sentence: where segment A can start.

    >>> pair_positions([[[5], [6], [7]], [[8]]])
    [(0, 0), (0, 1)]
    """
    empty = [d for d, doc in enumerate(documents) if not doc]
    if empty:
        raise ValueError(f"documents {empty} have no sentences; every document needs at least one")
    positions = [(d, s) for d, doc in enumerate(documents) for s in range(len(doc) - 1)]
    if not positions:
        raise ValueError("no document has two sentences, so there is no true next sentence to use")
    return positions


# --- argument checks, out of the way of the idea above --------------------------


def _check_pair_args(
    documents: Sequence[Document],
    doc_index: int,
    sentence_index: int,
    max_length: int,
    next_probability: float,
) -> None:
    _check_nsp_args(documents, max_length)
    if not 0.0 <= next_probability <= 1.0:
        raise ValueError(f"next_probability must be in [0, 1]; got {next_probability!r}")
    if not 0 <= doc_index < len(documents):
        raise ValueError(f"doc_index {doc_index!r} is out of range for {len(documents)} documents")
    document = documents[doc_index]
    if not 0 <= sentence_index < len(document) - 1:
        raise ValueError(
            f"sentence_index {sentence_index!r} of document {doc_index} has no next sentence; "
            f"the document has {len(document)} sentences, so use 0..{len(document) - 2}"
        )


def _check_nsp_args(documents: Sequence[Document], max_length: int) -> None:
    if not _is_int(max_length) or max_length < 5:
        raise ValueError(
            f"max_length must be an int >= 5 ([CLS], [SEP], [SEP] and a token of each segment); "
            f"got {max_length!r}"
        )
    if len(documents) < 2:
        raise ValueError(
            "need at least 2 documents to draw a not-next sentence from another one; "
            f"got {len(documents)}"
        )

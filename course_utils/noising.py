"""BERT's two pretraining objectives: masked language modelling and next-sentence prediction.

**Masked LM.** Pick about 15 % of the ordinary (non-special) tokens, remember
them as labels, and corrupt the input there: 80 % of the picked tokens become
``[MASK]``, 10 % a random ordinary token, 10 % stay as they are. The model
predicts the original token at the picked positions only; every other
position gets the label :data:`IGNORE_INDEX`. The random and unchanged 10 %
matter because ``[MASK]`` never occurs at fine-tuning time: the model cannot
rely on "only [MASK] positions need a prediction". ::

    ids     [CLS]  the   cat   sat   on    the   mat  [SEP]
    noised  [CLS]  the  [MASK] sat   on    dog   mat  [SEP]
    labels   -100 -100   cat  -100  -100   the  -100  -100

(here ``cat`` was masked and the second ``the`` replaced by a random token).

**Next-sentence prediction (NSP).** Build a pair ``[CLS] A [SEP] B [SEP]``
where ``B`` is, with probability 1/2, the sentence that really follows ``A``
(label :data:`IS_NEXT`) and otherwise a sentence from another document
(label :data:`NOT_NEXT`). Token types tell the model which segment a token
is in: 0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``.

>>> import random
>>> docs = [[[5, 6], [7]], [[8, 9, 10]]]
>>> make_nsp_pair(docs, 0, 0, max_length=16, cls_id=1, sep_id=2, rng=random.Random(1))
NSPExample(input_ids=[1, 5, 6, 2, 7, 2], token_type_ids=[0, 0, 0, 0, 1, 1], label=0)

**Randomness.** :func:`mask_tokens` draws only from its ``generator`` (a
:class:`torch.Generator`) and the NSP functions only from their ``rng`` (a
:class:`random.Random`), so the same seed gives the same noise.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = -100
"""Label of a position that is not predicted (the default ``ignore_index`` of cross-entropy)."""

MASK_MODES = ("bernoulli", "exact")
"""How :func:`mask_tokens` picks the positions to predict."""

IS_NEXT = 0
"""NSP label: segment B really follows segment A (0, as in BERT's data and Hugging Face)."""

NOT_NEXT = 1
"""NSP label: segment B comes from a different document."""

Document = Sequence[Sequence[int]]
"""A document: a list of sentences, each a list of token ids (no special tokens)."""


# ---------------------------------------------------------------------------
# Masked language modelling
# ---------------------------------------------------------------------------


def mask_tokens(
    input_ids: Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: Iterable[int],
    rate: float = 0.15,
    mode: str = "bernoulli",
    max_predictions: int | None = None,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Noise ``input_ids`` for masked LM; return ``(noised_inputs, labels)``.

    ``input_ids`` is an integer tensor of shape ``(L,)`` or ``(B, L)``; it is
    not modified. Positions holding a special id (padding included) are never
    picked; ``mask_id`` counts as special even if ``special_ids`` omits it.
    The other positions are the *candidates*. How many of them get picked
    depends on ``mode``:

    * ``"bernoulli"``: each candidate independently with probability ``rate``
      (as Hugging Face's ``DataCollatorForLanguageModeling``).
    * ``"exact"``: per sequence exactly
      ``n = min(max_predictions, max(1, round(rate * num_candidates)))``
      candidates (Python's ``round``; ``n = 0`` without candidates; no cap if
      ``max_predictions`` is None), drawn without replacement, as in the
      original BERT data script.

    Each picked position gets its original id as label (all others
    :data:`IGNORE_INDEX`) and then, independently, becomes ``mask_id`` with
    probability ``mask_prob``, a random non-special id (uniform over
    ``range(vocab_size)`` minus the special ids) with probability
    ``random_prob``, and stays unchanged otherwise. A random id can by chance
    equal the original one.

    All randomness comes from ``generator`` (on ``input_ids``'s device), so a
    seeded generator reproduces the same noise.

    >>> ids = torch.tensor([2, 10, 11, 12, 3, 0])          # [CLS] ... [SEP] [PAD]
    >>> noised, labels = mask_tokens(ids, mask_id=4, vocab_size=20,
    ...                              special_ids=[0, 2, 3, 4], rate=1.0,
    ...                              mask_prob=1.0, random_prob=0.0)
    >>> noised
    tensor([2, 4, 4, 4, 3, 0])
    >>> labels
    tensor([-100,   10,   11,   12, -100, -100])
    """
    _check_input_ids(input_ids, vocab_size)
    specials = _special_set(mask_id, special_ids, vocab_size)
    _check_selection(rate, mode, max_predictions)
    _check_split(mask_prob, random_prob)
    unbatched = input_ids.dim() == 1
    ids = input_ids[None] if unbatched else input_ids
    candidates = ~torch.isin(ids, torch.tensor(specials, dtype=ids.dtype, device=ids.device))
    if mode == "bernoulli":
        selected = bernoulli_selection(candidates, rate, generator)
    else:
        selected = exact_selection(candidates, rate, max_predictions, generator)
    allowed = non_special_ids(vocab_size, specials).to(ids.device)
    replacements = random_tokens(ids.shape, allowed, generator)
    noised, labels = apply_noise(
        ids, selected, mask_id, replacements, mask_prob, random_prob, generator
    )
    return (noised[0], labels[0]) if unbatched else (noised, labels)


def non_special_ids(vocab_size: int, special_ids: Iterable[int]) -> Tensor:
    """The ids in ``range(vocab_size)`` that are not special, as an int64 tensor.

    >>> non_special_ids(6, [0, 3])
    tensor([1, 2, 4, 5])
    """
    keep = torch.ones(vocab_size, dtype=torch.bool)
    keep[list(special_ids)] = False
    return keep.nonzero().flatten()


def bernoulli_selection(
    candidates: Tensor, rate: float, generator: torch.Generator | None = None
) -> Tensor:
    """Bool mask: each ``True`` in ``candidates`` is kept with probability ``rate``."""
    draws = torch.rand(candidates.shape, generator=generator, device=candidates.device)
    return candidates & (draws < rate)


def exact_selection(
    candidates: Tensor,
    rate: float,
    max_predictions: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Bool mask: in each row of ``candidates`` ``(B, L)``, :func:`num_predictions` of its
    candidates, drawn uniformly without replacement.

    Trick: give every candidate a uniform random key (non-candidates get 2,
    above any key); a candidate is picked if its key is among the ``n``
    smallest of its row.
    """
    keys = torch.rand(candidates.shape, generator=generator, device=candidates.device)
    keys = keys.masked_fill(~candidates, 2.0)
    ranks = keys.argsort(dim=-1).argsort(dim=-1)  # rank 0 = smallest key of the row
    counts = [num_predictions(int(c), rate, max_predictions) for c in candidates.sum(dim=-1)]
    n = torch.tensor(counts, device=candidates.device)
    return ranks < n[:, None]


def num_predictions(num_candidates: int, rate: float, max_predictions: int | None = None) -> int:
    """How many positions ``"exact"`` mode predicts in a sequence.

    ``round(rate * num_candidates)``, at least 1 (if there is any candidate),
    at most ``max_predictions`` (if given).

    >>> num_predictions(100, 0.15), num_predictions(3, 0.15), num_predictions(0, 0.15)
    (15, 1, 0)
    >>> num_predictions(500, 0.15, max_predictions=20)
    20
    """
    if num_candidates == 0:
        return 0
    n = max(1, round(rate * num_candidates))
    return n if max_predictions is None else min(n, max_predictions)


def random_tokens(
    shape: torch.Size | tuple[int, ...],
    allowed_ids: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A tensor of ``shape`` with ids drawn uniformly (with replacement) from ``allowed_ids``."""
    index = torch.randint(
        len(allowed_ids), tuple(shape), generator=generator, device=allowed_ids.device
    )
    return allowed_ids[index]


def apply_noise(
    ids: Tensor,
    selected: Tensor,
    mask_id: int,
    replacements: Tensor,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Return ``(noised, labels)``: the 80/10/10 rule at the ``selected`` positions.

    One uniform draw ``u`` per position decides: ``u < mask_prob`` gives
    ``mask_id``, the next ``random_prob`` gives the id from ``replacements``,
    the rest keep their token. ``ids`` itself is left unchanged.
    """
    u = torch.rand(ids.shape, generator=generator, device=ids.device)
    to_mask = selected & (u < mask_prob)
    to_random = selected & (u >= mask_prob) & (u < mask_prob + random_prob)
    noised = ids.clone()
    noised[to_mask] = mask_id
    noised[to_random] = replacements.to(ids.device, ids.dtype)[to_random]
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
    return noised, labels


def _check_input_ids(input_ids: Tensor, vocab_size: int) -> None:
    if not _is_int(vocab_size) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int; got {vocab_size!r}")
    if not isinstance(input_ids, Tensor) or input_ids.is_floating_point() or input_ids.is_complex():
        raise ValueError(f"input_ids must be an integer tensor; got {_describe(input_ids)}")
    if input_ids.dim() not in (1, 2):
        raise ValueError(
            f"input_ids must have shape (L,) or (B, L); got shape {tuple(input_ids.shape)}"
        )
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab_size):
        raise ValueError(
            f"input_ids must lie in range(vocab_size) = range({vocab_size}); "
            f"got values from {int(input_ids.min())} to {int(input_ids.max())}"
        )


def _special_set(mask_id: int, special_ids: Iterable[int], vocab_size: int) -> list[int]:
    """The sorted special ids plus ``mask_id``, checked to leave some ordinary id."""
    if not _is_int(mask_id) or not 0 <= mask_id < vocab_size:
        raise ValueError(
            f"mask_id must be an int in range(vocab_size) = range({vocab_size}); got {mask_id!r}"
        )
    special_ids = list(special_ids)
    for i in special_ids:
        if not _is_int(i) or not 0 <= i < vocab_size:
            raise ValueError(
                f"special ids must be ints in range(vocab_size) = range({vocab_size}); got {i!r}"
            )
    specials = sorted(set(special_ids) | {mask_id})
    if len(specials) == vocab_size:
        raise ValueError("every id is special: no non-special id is left for random replacement")
    return specials


def _check_selection(rate: float, mode: str, max_predictions: int | None) -> None:
    if not 0 < rate <= 1:
        raise ValueError(f"rate must be in (0, 1]; got {rate!r}")
    if mode not in MASK_MODES:
        raise ValueError(f"mode must be one of {MASK_MODES}; got {mode!r}")
    if max_predictions is None:
        return
    if mode != "exact":
        raise ValueError(f"max_predictions applies only to mode='exact'; got mode={mode!r}")
    if not _is_int(max_predictions) or max_predictions < 1:
        raise ValueError(f"max_predictions must be a positive int or None; got {max_predictions!r}")


def _check_split(mask_prob: float, random_prob: float) -> None:
    for name, p in (("mask_prob", mask_prob), ("random_prob", random_prob)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must be in [0, 1]; got {p!r}")
    if mask_prob + random_prob > 1 + 1e-12:  # tolerance: 0.7 + 0.3 may round above 1
        raise ValueError(
            f"mask_prob + random_prob must be at most 1; got {mask_prob} + {random_prob}"
        )


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _describe(x: object) -> str:
    return f"a tensor of dtype {x.dtype}" if isinstance(x, Tensor) else f"a {type(x).__name__}"


def masked_lm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over the positions whose label is not :data:`IGNORE_INDEX`.

    ``logits`` has shape ``(..., V)`` and ``labels`` the same shape without
    ``V``. Only the picked positions count: everywhere else the input shows
    the true token, so "predicting" it would only teach the model to copy its
    input, and those easy positions would swamp the ~15 % that require
    understanding the context.

    If no position is labelled, the loss is a zero that still depends on
    ``logits`` (so ``backward()`` works and gives zero gradients, not NaN).

    >>> logits = torch.zeros(1, 3, 4)                  # uniform over 4 tokens
    >>> masked_lm_loss(logits, torch.tensor([[-100, 2, -100]]))   # log(4)
    tensor(1.3863)
    """
    if logits.dim() < 2 or logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"logits must have shape labels.shape + (V,); got logits {tuple(logits.shape)} "
            f"and labels {tuple(labels.shape)}"
        )
    if not (labels != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=IGNORE_INDEX)


# ---------------------------------------------------------------------------
# Next-sentence prediction
# ---------------------------------------------------------------------------


class NSPExample(NamedTuple):
    """One NSP training pair: ``[CLS] A [SEP] B [SEP]``, its segment ids, and its label."""

    input_ids: list[int]
    token_type_ids: list[int]
    label: int


def truncate_pair(
    a: Sequence[int], b: Sequence[int], max_tokens: int
) -> tuple[list[int], list[int]]:
    """Shorten ``a`` and ``b`` until together they have at most ``max_tokens`` tokens.

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
    """Build ``[CLS] A [SEP] B [SEP]``, A = sentence ``sentence_index`` of document ``doc_index``.

    With probability ``next_probability`` (BERT: 1/2), B is the next sentence of the
    same document (``label`` = :data:`IS_NEXT`); otherwise B is a random sentence of a
    random *other* document (:data:`NOT_NEXT`). If the pair would be longer
    than ``max_length``, A and B are shortened by :func:`truncate_pair`.
    Token types are 0 for ``[CLS] A [SEP]`` and 1 for ``B [SEP]``.

    One sentence per segment keeps the idea visible; :func:`make_packed_pair` fills
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
    """Like :func:`make_nsp_pair`, but each segment may hold several whole sentences.

    As in BERT's pretraining data: take consecutive sentences of document ``doc_index``
    from ``sentence_index`` on (at least two, then as many more as fit in ``max_length``),
    and cut them at a random sentence boundary into A and B. With probability
    ``next_probability`` B is the rest of that text (:data:`IS_NEXT`); otherwise B is as
    many consecutive sentences of a random other document as fill the remaining length
    (:data:`NOT_NEXT`), so a pair's length does not give its label away. A story of
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
    """A uniformly random sentence of a uniformly random document other than ``doc_index``."""
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
    """``num_pairs`` NSP examples, built by :func:`make_nsp_pair` (one sentence per
    segment) or, with ``packed=True``, by :func:`make_packed_pair` (as many as fit).

    ``positions``: :func:`pair_positions` of ``documents``, if already computed (a
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


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad ``sequences``; return ``(ids, attention_mask)``, both ``(B, L_max)`` int64.

    ``attention_mask`` is 1 for real tokens and 0 for padding. Pad token types
    the same way with ``pad_id=0`` (and ignore the second output).

    >>> ids, attention_mask = pad_batch([[1, 5, 2], [1, 2]], pad_id=0)
    >>> ids
    tensor([[1, 5, 2],
            [1, 2, 0]])
    >>> attention_mask
    tensor([[1, 1, 1],
            [1, 1, 0]])
    """
    lengths = [len(s) for s in sequences]
    max_len = max(lengths, default=0)
    padded = [[*s, *[pad_id] * (max_len - len(s))] for s in sequences]
    # numpy turns a list of lists into an array several times faster than torch.tensor
    ids = torch.from_numpy(np.array(padded, dtype=np.int64).reshape(len(sequences), max_len))
    mask = (torch.arange(max_len) < torch.tensor(lengths, dtype=torch.int64)[:, None]).long()
    return ids, mask

"""Masked language modelling: BERT's first pretraining objective.

Taught in notebook 04, section 2 (the noise) and section 4 (the loss).

Pick about 15 % of the ordinary (non-special) tokens, remember them as labels,
and corrupt the input there: 80 % of the picked tokens become [MASK], 10 % a
random ordinary token, 10 % stay as they are. The model predicts the original
token at the picked positions only; every other position gets the label
IGNORE_INDEX. The random and unchanged 10 % matter because [MASK] never occurs
at fine-tuning time: the model cannot rely on "only [MASK] positions need a
prediction". ::

    ids     [CLS]  the   cat   sat   on    the   mat  [SEP]
    noised  [CLS]  the  [MASK] sat   on    dog   mat  [SEP]
    labels   -100 -100   cat  -100  -100   the  -100  -100

(here ``cat`` was masked and the second ``the`` replaced by a random token).

``mask_tokens`` draws only from its ``generator`` (a ``torch.Generator``), so
the same seed gives the same noise.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from course_utils.noising._checks import _is_int

IGNORE_INDEX = -100
"""Label of a position that is not predicted (the default ``ignore_index`` of cross-entropy)."""

MASK_MODES = ("bernoulli", "exact")
"""How ``mask_tokens`` picks the positions to predict."""


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
    """Taught in notebook 04, section 2. Noise ``input_ids`` for masked LM; return
    ``(noised_inputs, labels)``.

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
    ``IGNORE_INDEX``) and then, independently, becomes ``mask_id`` with
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
    ids = input_ids[None] if unbatched else input_ids  # (B, L)
    specials_tensor = torch.tensor(specials, dtype=ids.dtype, device=ids.device)
    candidates = ~torch.isin(ids, specials_tensor)  # (B, L) bool: may be picked
    if mode == "bernoulli":
        selected = bernoulli_selection(candidates, rate, generator)  # (B, L) bool
    else:
        selected = exact_selection(candidates, rate, max_predictions, generator)
    allowed = non_special_ids(vocab_size, specials).to(ids.device)  # (V - number of specials,)
    replacements = random_tokens(ids.shape, allowed, generator)  # (B, L)
    noised, labels = apply_noise(  # (B, L), (B, L)
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
    """Taught in notebook 04, section 2. Bool mask shaped like ``candidates``: each
    ``True`` in it is kept with probability ``rate``."""
    draws = torch.rand(candidates.shape, generator=generator, device=candidates.device)  # U(0, 1)
    return candidates & (draws < rate)


def exact_selection(
    candidates: Tensor,
    rate: float,
    max_predictions: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Taught in notebook 04, section 2. Bool mask: in each row of ``candidates``
    ``(B, L)``, ``num_predictions`` of its candidates, drawn uniformly without replacement.

    Trick: give every candidate a uniform random key (non-candidates get 2,
    above any key); a candidate is picked if its key is among the ``n``
    smallest of its row.
    """
    keys = torch.rand(candidates.shape, generator=generator, device=candidates.device)  # (B, L)
    keys = keys.masked_fill(~candidates, 2.0)
    ranks = keys.argsort(dim=-1).argsort(dim=-1)  # (B, L); rank 0 = smallest key of the row
    counts = [num_predictions(int(c), rate, max_predictions) for c in candidates.sum(dim=-1)]
    n = torch.tensor(counts, device=candidates.device)  # (B,)
    return ranks < n[:, None]  # (B, L)


def num_predictions(num_candidates: int, rate: float, max_predictions: int | None = None) -> int:
    """How many positions "exact" mode predicts in a sequence.

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
    """Taught in notebook 04, section 2. Return ``(noised, labels)``: the 80/10/10 rule
    at the ``selected`` positions.

    One uniform draw ``u`` per position decides: ``u < mask_prob`` gives
    ``mask_id``, the next ``random_prob`` gives the id from ``replacements``,
    the rest keep their token. ``ids`` itself is left unchanged.
    """
    u = torch.rand(ids.shape, generator=generator, device=ids.device)  # one U(0, 1) per position
    to_mask = selected & (u < mask_prob)  # bool, shaped like ids
    to_random = selected & (u >= mask_prob) & (u < mask_prob + random_prob)
    noised = ids.clone()
    noised[to_mask] = mask_id
    noised[to_random] = replacements.to(ids.device, ids.dtype)[to_random]
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))  # shaped like ids
    return noised, labels


def masked_lm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Taught in notebook 04, section 4. Mean cross-entropy over the positions whose
    label is not ``IGNORE_INDEX``.

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
    # (N, V) logits against (N,) labels, N = all positions; ignored ones do not count
    return F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=IGNORE_INDEX)


# --- argument checks, out of the way of the idea above --------------------------


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


def _describe(x: object) -> str:
    return f"a tensor of dtype {x.dtype}" if isinstance(x, Tensor) else f"a {type(x).__name__}"

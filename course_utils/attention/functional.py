"""Scaled dot-product attention, splitting a width into heads, and masks.

Taught in notebook 02: the formula in sections 1 to 3, the causal mask in
section 4, heads in section 5. Attention of queries ``q`` over keys ``k`` and
values ``v``::

    weights = softmax(q @ k.T * scale + bias)      # (..., L, S), rows sum to 1
    output  = weights @ v                          # (..., L, dv)

with ``scale = 1 / sqrt(d_k)`` by default. ``L`` is the number of queries,
``S`` the number of keys.

Masks. A bool mask says, for each (query, key) pair, whether the query may
attend to the key: True = may attend, as in
``torch.nn.functional.scaled_dot_product_attention``. (Careful:
``torch.nn.MultiheadAttention`` uses the opposite convention, True = blocked,
for both its ``attn_mask`` and its ``key_padding_mask``.) A float mask is an
additive bias: 0 where allowed, -inf where blocked; it may also hold other
values, for example a learned position bias.

Rows with no key left. If a mask blocks every key for some query, the softmax
would compute 0/0 = NaN. Here such a row gets weights of zero and an output of
zero, in both ``scaled_dot_product_attention`` and ``fused_attention``, and no
NaN reaches the gradients either. (Recent PyTorch versions do the same inside
their own SDPA.)

>>> causal_mask(3)
tensor([[ True, False, False],
        [ True,  True, False],
        [ True,  True,  True]])
>>> mask_to_bias(causal_mask(3))
tensor([[0., -inf, -inf],
        [0., 0., -inf],
        [0., 0., 0.]])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# ---------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Taught in notebook 02, sections 1 to 3. Attention written out step by step;
    returns ``(output, weights)``.

    Shapes: ``query (..., L, d)``, ``key (..., S, d)``, ``value (..., S, dv)``
    give ``output (..., L, dv)`` and ``weights (..., L, S)``. ``mask`` is a
    bool mask (True = may attend) or a float bias, broadcastable to
    ``(..., L, S)``. ``scale`` defaults to ``1 / sqrt(d)``.

    With ``dropout_p > 0`` each weight is dropped with probability
    ``dropout_p`` and the rest are scaled by ``1 / (1 - dropout_p)``
    (pass a ``generator`` for reproducible draws). The returned weights are
    the ones applied, so ``output == weights @ value`` always holds. Like
    ``torch.nn.functional.dropout`` with ``training=True``, dropout is
    applied whenever ``dropout_p > 0``; modules pass 0 in eval mode.

    A query whose keys are all masked gets zero weights and a zero output.

    >>> q = torch.tensor([[1.0, 0.0]])                 # one query, d = 2
    >>> k = torch.tensor([[1.0, 0.0], [0.0, 1.0]])     # two keys
    >>> v = torch.tensor([[10.0], [20.0]])
    >>> out, w = scaled_dot_product_attention(q, k, v, scale=math.log(3))
    >>> w                                              # softmax([log 3, 0])
    tensor([[0.7500, 0.2500]])
    >>> out
    tensor([[12.5000]])
    """
    _check_inputs(query, key, value, mask, dropout_p)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])  # 1 / sqrt(d_k)

    scores = query @ key.transpose(-2, -1) * scale  # (..., L, d) @ (..., d, S) -> (..., L, S)
    empty = None
    if mask is not None:
        mask, empty = _guard_empty_rows(mask)  # empty: (..., L, 1), True where no key is left
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))  # blocked keys get weight 0
        else:
            scores = scores + mask.to(scores.dtype)  # an additive bias
    weights = torch.softmax(scores, dim=-1)  # (..., L, S), each row sums to 1
    if empty is not None:
        weights = weights.masked_fill(empty, 0.0)
    if dropout_p > 0.0:
        keep = torch.rand(
            weights.shape, generator=generator, device=weights.device, dtype=weights.dtype
        ) >= dropout_p  # (..., L, S)
        weights = weights * keep / (1.0 - dropout_p)
    return weights @ value, weights  # (..., L, S) @ (..., S, dv) -> (..., L, dv)


def fused_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> Tensor:
    """Taught in notebook 02, section 3. The same attention through PyTorch's fused
    kernel; returns only the output ``(..., L, dv)``.

    ``torch.nn.functional.scaled_dot_product_attention`` never builds the
    full ``(L, S)`` weight matrix in memory when it can avoid it (flash /
    memory-efficient kernels), which is why it cannot return the weights.
    Arguments and shapes are those of ``scaled_dot_product_attention``;
    ``is_causal=True`` adds the causal mask (``L`` must equal ``S``) and may
    be combined with ``mask``. Rows with every key masked give zeros.
    """
    _check_inputs(query, key, value, mask)
    if is_causal and (mask is not None or query.shape[-2] != key.shape[-2]):
        mask = _add_causal(mask, query.shape[-2], key.shape[-2], query.device)
        is_causal = False
    empty = None
    if mask is not None:
        mask, empty = _guard_empty_rows(mask)
        if mask.dtype != torch.bool:
            mask = mask.to(query.dtype)
    output = F.scaled_dot_product_attention(  # (..., L, dv)
        query, key, value, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale
    )
    if empty is not None:
        output = output.masked_fill(empty, 0.0)
    return output


# ---------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """Taught in notebook 02, section 5. ``(B, L, D)`` -> ``(B, H, L, D / H)``: cut the
    width into ``num_heads`` slices.

    Head ``h`` gets features ``h * D/H`` to ``(h + 1) * D/H - 1``.

    >>> split_heads(torch.arange(8.0).reshape(1, 2, 4), num_heads=2)
    tensor([[[[0., 1.],
              [4., 5.]],
    <BLANKLINE>
             [[2., 3.],
              [6., 7.]]]])
    """
    width = x.shape[-1]
    if num_heads <= 0 or width % num_heads != 0:
        raise ValueError(
            f"the width {width} is not divisible by num_heads={num_heads} "
            f"(input shape {tuple(x.shape)})"
        )
    heads = x.unflatten(-1, (num_heads, width // num_heads))  # (B, L, H, Dh)
    return heads.transpose(-3, -2)  # (B, H, L, Dh)


def merge_heads(x: Tensor) -> Tensor:
    """Taught in notebook 02, section 5. ``(B, H, L, Dh)`` -> ``(B, L, H * Dh)``: the
    inverse of ``split_heads``.

    >>> x = torch.randn(2, 5, 12)
    >>> torch.equal(merge_heads(split_heads(x, 3)), x)
    True
    """
    if x.dim() < 3:
        raise ValueError(f"merge_heads needs (..., H, L, Dh); got shape {tuple(x.shape)}")
    return x.transpose(-3, -2).flatten(-2)  # (B, L, H, Dh) -> (B, L, H * Dh)


# ---------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------


def causal_mask(length: int, device: torch.device | str | None = None) -> Tensor:
    """Taught in notebook 02, section 4. Bool ``(length, length)`` mask: query ``i`` may
    attend to keys ``0..i``.

    ``True`` on and below the diagonal, so no position sees the future.
    """
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def padding_mask(attention_mask: Tensor) -> Tensor:
    """Taught in notebook 03, section 2. Bool ``(batch, 1, 1, seq)`` mask from a
    ``(batch, seq)`` attention mask.

    ``attention_mask`` holds 1 (or ``True``) for real tokens and 0 (``False``)
    for padding, as Hugging Face tokenizers return it. The two inserted axes
    broadcast over heads and queries: no query attends to a padding key.

    >>> padding_mask(torch.tensor([[1, 1, 0]]))
    tensor([[[[ True,  True, False]]]])
    """
    if attention_mask.dim() != 2:
        raise ValueError(
            f"attention_mask must have shape (batch, seq); got shape {tuple(attention_mask.shape)}"
        )
    if attention_mask.dtype != torch.bool:
        if not ((attention_mask == 0) | (attention_mask == 1)).all():
            raise ValueError(
                "attention_mask must hold only 0 (padding) and 1 (real token); "
                "did you pass token ids instead?"
            )
        attention_mask = attention_mask == 1
    return attention_mask[:, None, None, :]


def combine_masks(*masks: Tensor | None) -> Tensor | None:
    """Logical AND of bool masks, with broadcasting; ``None`` entries are skipped.

    Returns ``None`` when every entry is ``None`` (no masking at all).

    >>> pad = padding_mask(torch.tensor([[1, 1, 0]]))           # (1, 1, 1, 3)
    >>> combine_masks(pad, causal_mask(3), None)[0, 0].int()    # (1, 1, 3, 3)
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 0]], dtype=torch.int32)
    """
    given = [m for m in masks if m is not None]
    for m in given:
        if m.dtype != torch.bool:
            raise TypeError(
                f"combine_masks takes bool masks (True = may attend); got dtype {m.dtype}"
            )
    if len(given) == 1:  # nothing to combine (and broadcast_shapes of one shape is slow)
        return given[0]
    try:
        torch.broadcast_shapes(*(m.shape for m in given))
    except RuntimeError:
        shapes = ", ".join(str(tuple(m.shape)) for m in given)
        raise ValueError(f"masks of shapes {shapes} do not broadcast together") from None
    combined = None
    for m in given:
        combined = m if combined is None else combined & m
    return combined


def merge_masks(first: Tensor | None, second: Tensor | None) -> Tensor | None:
    """Both masks at once: the logical AND of two bool masks (``combine_masks``), else the
    sum of their biases (``mask_to_bias``), so a learned float bias such as T5's relative
    position bias keeps its values and blocked pairs stay ``-inf``. ``None`` is no mask.

    >>> bias = torch.tensor([[0.5, -1.0, 2.0]])
    >>> merge_masks(bias, torch.tensor([[True, True, False]]))
    tensor([[ 0.5000, -1.0000,    -inf]])
    """
    if first is None or second is None:
        return second if first is None else first
    if first.dtype == torch.bool and second.dtype == torch.bool:
        return combine_masks(first, second)
    dtype = first.dtype if first.dtype != torch.bool else second.dtype
    return mask_to_bias(first, dtype) + mask_to_bias(second, dtype)


def mask_to_bias(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Taught in notebook 02, section 4.
    Additive float mask: ``0`` where ``mask`` is True, ``-inf`` where it is False.

    Adding it to the scores before the softmax gives blocked keys a weight of
    exactly zero (``exp(-inf) = 0``). A float mask is already a bias and is
    returned converted to ``dtype``.
    """
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return bias.masked_fill(~mask, float("-inf"))


# ---------------------------------------------------------------------------
# Argument checks and mask plumbing, out of the way of the formulas above
# ---------------------------------------------------------------------------


def _check_inputs(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, dropout_p: float = 0.0
) -> None:
    """Raise a ValueError naming the shapes if the inputs do not fit together, or naming
    ``dropout_p`` if it is not in [0, 1)."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.dim() < 2:
            raise ValueError(
                f"{name} needs at least 2 dims (..., length, dim); got {tuple(t.shape)}"
            )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same last dim d_k; got query {tuple(query.shape)} "
            f"and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same length S; got key {tuple(key.shape)} "
            f"and value {tuple(value.shape)}"
        )
    try:
        batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the batch dims of query {tuple(query.shape)}, key {tuple(key.shape)} and "
            f"value {tuple(value.shape)} do not broadcast together"
        ) from None
    if mask is not None:
        scores_shape = (*batch, query.shape[-2], key.shape[-2])
        try:
            fits = torch.broadcast_shapes(mask.shape, scores_shape) == scores_shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the attention "
                f"scores' shape {scores_shape} (..., L, S)"
            )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1); got {dropout_p}")


def _add_causal(
    mask: Tensor | None, num_queries: int, num_keys: int, device: torch.device
) -> Tensor:
    """``mask`` with the causal mask added (ANDed for bool, summed for float masks)."""
    if num_queries != num_keys:
        raise ValueError(
            f"is_causal=True needs as many queries as keys; got L={num_queries}, "
            f"S={num_keys} (pass an explicit mask instead)"
        )
    return merge_masks(mask, causal_mask(num_queries, device=device))


def _guard_empty_rows(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Find query rows whose keys are all blocked and unblock them for now.

    Returns ``(safe_mask, empty)``: ``empty`` is a bool ``(..., L, 1)`` tensor,
    True for such rows; in ``safe_mask`` those rows block nothing, so the
    softmax stays finite. The caller then sets those rows' results to zero.
    """
    if mask.dtype == torch.bool:
        empty = ~mask.any(dim=-1, keepdim=True)
        return mask | empty, empty
    empty = torch.isneginf(mask).all(dim=-1, keepdim=True)
    return mask.masked_fill(empty, 0.0), empty

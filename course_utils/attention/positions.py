"""Positional encodings: how a transformer learns *where* each token is.

Attention by itself ignores order: permute the tokens and every output is
permuted the same way. Three remedies, in historical order:

- :class:`SinusoidalPositionalEncoding` (Vaswani et al. 2017): add a fixed
  pattern of sines and cosines to the token embeddings.
- :class:`LearnedPositionalEmbedding` (BERT, GPT-2): add a learned vector per
  position.
- :class:`RotaryEmbedding` (RoPE, Su et al. 2021; GPT-NeoX, LLaMA): rotate
  queries and keys by an angle proportional to their position, so the score
  ``q_m . k_n`` depends only on the offset ``m - n``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def sinusoidal_positions(num_positions: int, d_model: int, base: float = 10000.0) -> Tensor:
    """The ``(num_positions, d_model)`` table of Vaswani et al.::

        PE[pos, 2i]     = sin(pos / base ** (2i / d_model))
        PE[pos, 2i + 1] = cos(pos / base ** (2i / d_model))

    Each pair of dims ``(2i, 2i + 1)`` is a point on a circle turning at its
    own frequency, from one radian per position (``i = 0``) down to one turn
    in about ``2 * pi * base`` positions. Computed in float64, returned in the
    default float dtype.

    >>> sinusoidal_positions(2, 4)
    tensor([[0.0000, 1.0000, 0.0000, 1.0000],
            [0.8415, 0.5403, 0.0100, 0.9999]])
    """
    if num_positions < 0 or d_model <= 0:
        raise ValueError(
            f"need num_positions >= 0 and d_model > 0; got {num_positions} and {d_model}"
        )
    positions = torch.arange(num_positions, dtype=torch.float64)[:, None]
    inv_freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = positions * inv_freq  # (num_positions, ceil(d_model / 2))
    table = torch.empty(num_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # an odd d_model ends on a sine
    return table.to(torch.get_default_dtype())


def _check_length(length: int, max_positions: int) -> None:
    if length > max_positions:
        raise ValueError(
            f"sequence length {length} is longer than max_positions={max_positions}"
        )


def _check_positions(positions: Tensor, max_positions: int) -> None:
    # Reading the max is a sync point on a GPU; a clear error is worth it here.
    if positions.numel() and (positions.min() < 0 or positions.max() >= max_positions):
        raise ValueError(
            f"positions must lie in [0, {max_positions}); got values from "
            f"{int(positions.min())} to {int(positions.max())}"
        )


class SinusoidalPositionalEncoding(nn.Module):
    """Adds :func:`sinusoidal_positions` to its input; no trainable parameters.

    ``forward(x)`` with ``x (B, L, D)`` returns ``dropout(x + PE[:L])``. Pass
    ``positions`` (``(L,)`` or ``(B, L)`` ints) to use other rows of the
    table, for example when generating one token at a time.
    The table is a buffer (it moves with ``.to(device)``) that is not saved in
    the ``state_dict``, since it can always be recomputed.
    """

    def __init__(self, d_model: int, max_positions: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model = d_model
        self.max_positions = max_positions
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_positions(max_positions, d_model), persistent=False)

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"expected width d_model={self.d_model}; got input {tuple(x.shape)}")
        if positions is None:
            _check_length(x.shape[-2], self.max_positions)
            pe = self.pe[: x.shape[-2]]
        else:
            _check_positions(positions, self.max_positions)
            pe = self.pe[positions]
        return self.dropout(x + pe.to(x.dtype))


class LearnedPositionalEmbedding(nn.Module):
    """A learned vector per position, added to the input (BERT, GPT-2).

    ``weight`` is a ``(max_positions, d_model)`` parameter initialised from
    ``N(0, 0.02**2)``, as in BERT and GPT-2. ``forward(x)`` with
    ``x (B, L, D)`` returns ``x + weight[:L]``; ``positions`` (``(L,)`` or
    ``(B, L)`` ints) selects other rows. Unlike the sinusoidal table, it knows
    nothing about positions it never saw in training.
    """

    def __init__(self, max_positions: int, d_model: int) -> None:
        super().__init__()
        self.max_positions = max_positions
        self.d_model = d_model
        self.weight = nn.Parameter(torch.empty(max_positions, d_model))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"expected width d_model={self.d_model}; got input {tuple(x.shape)}")
        if positions is None:
            _check_length(x.shape[-2], self.max_positions)
            return x + self.weight[: x.shape[-2]]
        _check_positions(positions, self.max_positions)
        return x + self.weight[positions]


def rotate_half(x: Tensor) -> Tensor:
    """``[x1, x2] -> [-x2, x1]``, where ``x1, x2`` are the two halves of the last dim.

    >>> rotate_half(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor([-3., -4.,  1.,  2.])
    """
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` by the angles whose cosines and sines are given.

    ``x (..., Dh)``; ``cos`` and ``sin`` broadcastable to ``x``, each laid out
    as ``[c_0 .. c_{Dh/2-1}, c_0 .. c_{Dh/2-1}]`` ("rotate half" layout): dim
    ``i`` and dim ``i + Dh/2`` form a pair, rotated by angle ``theta_i``::

        out[i]        = x[i] * cos - x[i + Dh/2] * sin
        out[i + Dh/2] = x[i + Dh/2] * cos + x[i] * sin

    >>> apply_rotary(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0]))
    tensor([0., 1.])
    """
    if x.shape[-1] % 2 != 0 or cos.shape[-1] != x.shape[-1] or sin.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"x needs an even last dim equal to that of cos and sin; got x {tuple(x.shape)}, "
            f"cos {tuple(cos.shape)}, sin {tuple(sin.shape)}"
        )
    return x * cos + rotate_half(x) * sin


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021), applied to queries and keys.

    Dims are paired as in GPT-NeoX and LLaMA's Hugging Face code, the
    "rotate half" layout: dim ``i`` goes with dim ``i + head_dim/2`` (the
    paper pairs neighbours ``2i, 2i+1``; the two layouts differ only by a fixed
    permutation of the dims). Pair ``i`` at position ``m`` is rotated by the
    angle ``m * theta_i`` with ``theta_i = base ** (-2i / head_dim)``.
    Since a rotation by ``a`` followed by the inverse of one by ``b`` is a
    rotation by ``a - b``, ``rot(q, m) . rot(k, n)`` depends only on ``m - n``.

    ``forward(x, positions=None)`` with ``x (B, H, L, Dh)`` rotates row ``l``
    by position ``l``, or by ``positions`` (``(L,)`` or ``(B, L)`` ints).
    ``cos`` and ``sin`` are cached for ``max_positions`` positions as buffers
    that are not saved in the ``state_dict``; there are no parameters.
    """

    def __init__(self, head_dim: int, max_positions: int = 2048, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim <= 0 or head_dim % 2 != 0:
            raise ValueError(f"RoPE rotates pairs of dims: head_dim must be even; got {head_dim}")
        self.head_dim = head_dim
        self.max_positions = max_positions
        self.base = base
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angles = torch.arange(max_positions, dtype=torch.float64)[:, None] * inv_freq
        angles = torch.cat((angles, angles), dim=-1)  # (max_positions, head_dim)
        dtype = torch.get_default_dtype()
        self.register_buffer("cos", torch.cos(angles).to(dtype), persistent=False)
        self.register_buffer("sin", torch.sin(angles).to(dtype), persistent=False)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, max_positions={self.max_positions}, base={self.base}"

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"expected head_dim={self.head_dim}; got input {tuple(x.shape)}")
        if positions is None:
            _check_length(x.shape[-2], self.max_positions)
            cos, sin = self.cos[: x.shape[-2]], self.sin[: x.shape[-2]]
        else:
            _check_positions(positions, self.max_positions)
            cos, sin = self.cos[positions], self.sin[positions]
            if positions.dim() == 2:  # (B, L, Dh) -> (B, 1, L, Dh): the same for every head
                cos, sin = cos[:, None], sin[:, None]
        return apply_rotary(x, cos.to(x.dtype), sin.to(x.dtype))

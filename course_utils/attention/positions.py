"""Positional encodings: how a transformer learns *where* each token is.

Attention by itself ignores order: permute the tokens and every output is
permuted the same way. Four remedies, in historical order (the lecture's
three families: absolute, relative and rotary; taught in notebook 02, section 7):

- ``SinusoidalPositionalEncoding`` (Vaswani et al. 2017): add a fixed
  pattern of sines and cosines to the token embeddings.
- ``LearnedPositionalEmbedding`` (BERT, GPT-2): add a learned vector per
  position.
- ``RelativePositionAttention`` (Shaw et al. 2018): leave the input
  alone and give attention a learned vector per *distance* ``j - i``
  (clipped to ``[-k, k]``), added to the keys and the values.
- ``RotaryEmbedding`` (RoPE, Su et al. 2021; GPT-NeoX, LLaMA): rotate
  queries and keys by an angle proportional to their position, so the score
  ``q_m . k_n`` depends only on the offset ``m - n``.

Notebook 07 adds T5's variant of relative positions, ``RelativePositionBias``: one
learned scalar per head and (bucketed) distance, added to the scores.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .functional import mask_to_bias, scaled_dot_product_attention


def sinusoidal_positions(num_positions: int, d_model: int, base: float = 10000.0) -> Tensor:
    """Taught in notebook 02, section 7. The ``(num_positions, d_model)`` table of
    Vaswani et al.::

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
    """Taught in notebook 02, section 7. Adds ``sinusoidal_positions`` to its input; no
    trainable parameters.

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
    """Taught in notebook 02, section 7 (section 5 already uses it). A learned vector per
    position, added to the input (BERT, GPT-2).

    ``weight`` is a ``(max_positions, d_model)`` parameter initialised from
    ``N(0, 0.02**2)``, as in BERT and GPT-2. ``forward(x)`` with
    ``x (B, L, D)`` returns ``x + weight[:L]``; ``positions`` (``(L,)`` or
    ``(B, L)`` ints) selects other rows. Unlike the sinusoidal table, it knows
    nothing about positions it never saw in training.

    ``offset`` rows come first and are never read: position ``p`` uses row
    ``p + offset``. BART has ``offset=2`` (a legacy of fairseq, whose first rows
    were reserved for padding), so its table has ``max_positions + 2`` rows.
    """

    def __init__(self, max_positions: int, d_model: int, offset: int = 0) -> None:
        super().__init__()
        if offset < 0:
            raise ValueError(f"offset must be >= 0; got {offset}")
        self.max_positions = max_positions
        self.d_model = d_model
        self.offset = offset
        self.weight = nn.Parameter(torch.empty(max_positions + offset, d_model))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"expected width d_model={self.d_model}; got input {tuple(x.shape)}")
        if positions is None:
            _check_length(x.shape[-2], self.max_positions)
            return x + self.weight[self.offset : self.offset + x.shape[-2]]
        _check_positions(positions, self.max_positions)
        return x + self.weight[positions + self.offset]


# ---------------------------------------------------------------------------
# Relative positions (Shaw et al. 2018)
# ---------------------------------------------------------------------------


def relative_distances(
    num_queries: int, num_keys: int, max_distance: int, device: torch.device | str | None = None
) -> Tensor:
    """Taught in notebook 02, section 7.
    The ``(num_queries, num_keys)`` table of clipped distances ``clip(j - i, -k, k)``.

    Taught in notebook 02, section 7. Entry ``(i, j)`` says how far key ``j`` lies
    from query ``i``: negative to the left, positive to the right; every distance
    beyond ``k = max_distance`` counts as ``k`` (or ``-k``), so a model has
    ``2k + 1`` distances to learn, whatever the sequence length.

    >>> relative_distances(3, 5, max_distance=2)
    tensor([[ 0,  1,  2,  2,  2],
            [-1,  0,  1,  2,  2],
            [-2, -1,  0,  1,  2]])
    """
    if num_queries < 0 or num_keys < 0 or max_distance < 0:
        raise ValueError(
            f"need num_queries, num_keys, max_distance >= 0; got {num_queries}, {num_keys}, "
            f"{max_distance}"
        )
    i = torch.arange(num_queries, device=device)[:, None]  # (L, 1)
    j = torch.arange(num_keys, device=device)[None, :]  # (1, S)
    return (j - i).clamp(-max_distance, max_distance)  # (L, S)


def relative_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    rel_keys: Tensor,
    rel_values: Tensor | None = None,
    mask: Tensor | None = None,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Taught in notebook 02, section 7. Attention with relative position vectors ``a^K_ij``
    and ``a^V_ij``; returns ``(output, weights)``.

    Shaw et al. (2018) add a vector that depends only on the distance from query
    ``i`` to key ``j`` to the key in the score and to the value in the sum::

        e_ij     = q_i . (k_j + a^K_ij) / sqrt(d)
        alpha_ij = softmax_j(e_ij)
        z_i      = sum_j alpha_ij (v_j + a^V_ij)

    Shapes: ``query (..., L, d)``, ``key (..., S, d)``, ``value (..., S, dv)``,
    ``rel_keys (L, S, d)``, ``rel_values (L, S, dv)`` or ``None`` (keys only).
    ``mask`` (bool, True = may attend, or a float bias) and ``scale`` work as in
    ``scaled_dot_product_attention``; a query with every key masked gets zero
    weights and a zero output.

    >>> q = torch.tensor([[2.0, 0.0]])                    # one query, d = 2
    >>> k, v = torch.zeros(2, 2), torch.tensor([[1.0], [3.0]])
    >>> a_k = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])     # (L=1, S=2, d): a^K for j=0, j=1
    >>> out, w = relative_attention(q, k, v, a_k, scale=math.log(3) / 2)
    >>> w                                                 # softmax([0, log 3])
    tensor([[0.2500, 0.7500]])
    >>> out
    tensor([[2.5000]])
    """
    _check_relative_inputs(query, key, value, rel_keys, rel_values)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    # q_i . a^K_ij for every (i, j): the position part of the score.
    position_scores = torch.einsum("...ld,lsd->...ls", query, rel_keys)  # (..., L, S)
    bias = position_scores * scale
    if mask is not None:
        bias = bias + mask_to_bias(mask, bias.dtype)  # blocked pairs: -inf
    # e_ij = q_i . k_j * scale + q_i . a^K_ij * scale; then softmax and sum_j alpha_ij v_j.
    output, weights = scaled_dot_product_attention(query, key, value, bias, scale=scale)
    if rel_values is not None:
        output = output + torch.einsum("...ls,lsd->...ld", weights, rel_values)  # + sum_j alpha_ij a^V_ij
    return output, weights


def _check_relative_inputs(
    query: Tensor, key: Tensor, value: Tensor, rel_keys: Tensor, rel_values: Tensor | None
) -> None:
    """Raise a ValueError naming the shapes if the position tables do not fit the inputs."""
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise ValueError(
            f"query, key and value need shape (..., length, dim); got {tuple(query.shape)}, "
            f"{tuple(key.shape)}, {tuple(value.shape)}"
        )
    wanted_keys = (query.shape[-2], key.shape[-2], query.shape[-1])
    if tuple(rel_keys.shape) != wanted_keys:
        raise ValueError(
            f"rel_keys must have shape (L, S, d) = {wanted_keys}; got {tuple(rel_keys.shape)}"
        )
    if rel_values is not None:
        wanted_values = (query.shape[-2], key.shape[-2], value.shape[-1])
        if tuple(rel_values.shape) != wanted_values:
            raise ValueError(
                f"rel_values must have shape (L, S, dv) = {wanted_values}; "
                f"got {tuple(rel_values.shape)}"
            )


class RelativePositionAttention(nn.Module):
    """Taught in notebook 02, section 7.
    Self-attention's relative position representations (Shaw et al. 2018).

    Taught in notebook 02, section 7. Two learned tables of ``2k + 1`` vectors
    each, one per clipped distance ``clip(j - i, -k, k)`` with
    ``k = max_distance``: ``key_table`` gives ``a^K_ij`` and ``value_table``
    ``a^V_ij`` (``values=False``: keys only). As in the paper, one pair of
    tables serves every head of a layer. Nothing is added to the input, so the
    module works at any length: distances beyond ``k`` share one vector.

    ``forward(query, key, value, mask=None)`` takes the heads' ``(B, H, L, Dh)``
    queries and ``(B, H, S, Dh)`` keys and values and returns ``(output,
    weights)`` of ``relative_attention``. Query ``i`` and key ``j`` sit at
    positions ``i`` and ``j`` (self-attention: ``L == S``).

    >>> rel = RelativePositionAttention(head_dim=8, max_distance=2)
    >>> x = torch.randn(1, 2, 5, 8)                    # (B, H, L, Dh)
    >>> out, weights = rel(x, x, x)
    >>> out.shape, weights.shape, rel.key_table.weight.shape
    (torch.Size([1, 2, 5, 8]), torch.Size([1, 2, 5, 5]), torch.Size([5, 8]))
    """

    def __init__(self, head_dim: int, max_distance: int, values: bool = True) -> None:
        super().__init__()
        if head_dim <= 0 or max_distance < 0:
            raise ValueError(
                f"need head_dim > 0 and max_distance >= 0; got {head_dim} and {max_distance}"
            )
        self.head_dim = head_dim
        self.max_distance = max_distance
        self.key_table = nn.Embedding(2 * max_distance + 1, head_dim)  # row d + k: distance d
        self.value_table = nn.Embedding(2 * max_distance + 1, head_dim) if values else None
        for table in (self.key_table, self.value_table):
            if table is not None:
                nn.init.normal_(table.weight, std=0.02)

    def extra_repr(self) -> str:
        return (f"head_dim={self.head_dim}, max_distance={self.max_distance}, "
                f"values={self.value_table is not None}")

    def tables(self, num_queries: int, num_keys: int) -> tuple[Tensor, Tensor | None]:
        """Taught in notebook 02, section 7.
        ``a^K`` and ``a^V`` (or ``None``) for every (query, key) pair: ``(L, S, Dh)`` each."""
        index = relative_distances(num_queries, num_keys, self.max_distance,
                                   device=self.key_table.weight.device) + self.max_distance
        rel_values = None if self.value_table is None else self.value_table(index)
        return self.key_table(index), rel_values

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if query.shape[-1] != self.head_dim or key.shape[-1] != self.head_dim:
            raise ValueError(
                f"expected head_dim={self.head_dim}; got query {tuple(query.shape)} and "
                f"key {tuple(key.shape)}"
            )
        if self.value_table is not None and value.shape[-1] != self.head_dim:
            raise ValueError(
                f"value vectors get a^V of width head_dim={self.head_dim}; got value "
                f"{tuple(value.shape)} (use values=False for another width)"
            )
        rel_keys, rel_values = self.tables(query.shape[-2], key.shape[-2])  # (L, S, Dh)
        return relative_attention(query, key, value, rel_keys.to(query.dtype),
                                  None if rel_values is None else rel_values.to(value.dtype), mask)


# ---------------------------------------------------------------------------
# T5's relative position buckets (Raffel et al. 2020)
# ---------------------------------------------------------------------------


def relative_position_buckets(
    distances: Tensor, bidirectional: bool = True, num_buckets: int = 32, max_distance: int = 128
) -> Tensor:
    """Taught in notebook 07. T5's bucket of each distance ``j - i`` from query ``i`` to
    key ``j`` (an int tensor of any shape), in ``[0, num_buckets)``.

    Near distances get a bucket each, far ones share logarithmically wider buckets,
    and everything from ``max_distance`` on shares the last one. ``bidirectional``
    (the encoder) gives half the buckets to keys on the right (``j > i``); a causal
    decoder never sees those, so it spends all buckets on the past. With ``n`` buckets
    for one side, distance ``d`` goes to::

        d                                                         if d < n / 2
        n/2 + log(d / (n/2)) / log(max_distance / (n/2)) * n/2    else, at most n - 1

    >>> relative_position_buckets(torch.tensor([-1, 0, 1, 2, 3, 8, 100]), num_buckets=8,
    ...                           max_distance=16)
    tensor([1, 0, 5, 6, 6, 7, 7])
    >>> relative_position_buckets(torch.tensor([-9, -3, -1, 0, 1]), bidirectional=False,
    ...                           num_buckets=8, max_distance=16)
    tensor([6, 3, 1, 0, 0])
    """
    if num_buckets < 2 or max_distance <= num_buckets // (4 if bidirectional else 2):
        raise ValueError(
            f"need num_buckets >= 2 and max_distance above the exact buckets; got "
            f"num_buckets={num_buckets}, max_distance={max_distance}"
        )
    if bidirectional:
        num_buckets //= 2
        side = (distances > 0).long() * num_buckets  # keys to the right: the upper half
        distance = distances.abs()
    else:
        side = torch.zeros_like(distances)
        distance = (-distances).clamp(min=0)  # the past; future keys (masked anyway) count as 0
    exact = num_buckets // 2  # distances 0 .. exact - 1 each get their own bucket
    log_ratio = torch.log(distance.clamp(min=exact).float() / exact)
    log_ratio = log_ratio / math.log(max_distance / exact)  # 0 at exact, 1 at max_distance
    far = exact + (log_ratio * (num_buckets - exact)).long()  # the rest, log-spaced
    far = far.clamp(max=num_buckets - 1)
    return side + torch.where(distance < exact, distance, far)


class RelativePositionBias(nn.Module):
    """Taught in notebook 07. T5's position information: a learned scalar per head and
    distance bucket (``relative_position_buckets``), added to the attention scores.

    ``table`` is an ``nn.Embedding(num_buckets, num_heads)``. ``forward(num_queries,
    num_keys, past=0)`` returns the ``(1, H, L, S)`` float bias for queries at positions
    ``past .. past + L - 1`` and keys at ``0 .. S - 1``; pass it to attention as a
    float mask. T5 computes it once per stack (in the first layer) and adds the same
    bias in every layer's self-attention; cross-attention gets none.

    >>> bias = RelativePositionBias(num_heads=2, num_buckets=8, max_distance=16)
    >>> bias(3, 3).shape
    torch.Size([1, 2, 3, 3])
    """

    def __init__(
        self, num_heads: int, num_buckets: int = 32, max_distance: int = 128,
        bidirectional: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.num_heads = num_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self.table = nn.Embedding(num_buckets, num_heads)
        relative_position_buckets(torch.zeros(1, dtype=torch.long), bidirectional,
                                  num_buckets, max_distance)  # fmt: skip  (checks the sizes)

    def extra_repr(self) -> str:
        return (f"num_heads={self.num_heads}, num_buckets={self.num_buckets}, "
                f"max_distance={self.max_distance}, bidirectional={self.bidirectional}")

    def forward(self, num_queries: int, num_keys: int, past: int = 0) -> Tensor:
        device = self.table.weight.device
        queries = past + torch.arange(num_queries, device=device)[:, None]  # (L, 1)
        keys = torch.arange(num_keys, device=device)[None, :]  # (1, S)
        buckets = relative_position_buckets(
            keys - queries, self.bidirectional, self.num_buckets, self.max_distance
        )  # (L, S)
        return self.table(buckets).permute(2, 0, 1)[None]  # (L, S, H) -> (1, H, L, S)


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
    """Taught in notebook 02, section 7. Rotary position embedding (RoPE, Su et al.
    2021), applied to queries and keys.

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

"""Multi-head attention, with grouped-query (GQA) and multi-query (MQA) variants.

Taught in notebook 02, section 5 (heads) and section 6 (MQA and GQA).

Each head attends in its own ``head_dim = d_model / num_heads`` dimensional
subspace; the heads' outputs are concatenated and mixed by ``out_proj``.

With ``num_kv_heads < num_heads`` several query heads share one key/value
head, which shrinks the key/value cache during generation:

- ``num_kv_heads == num_heads``: ordinary multi-head attention (MHA);
- ``1 < num_kv_heads < num_heads``: grouped-query attention (GQA, Ainslie et al. 2023);
- ``num_kv_heads == 1``: multi-query attention (MQA, Shazeer 2019).

Given a ``LayerKVCache`` (``course_utils.attention.kv_cache``), self-attention keeps the
keys and values of the positions it has seen, and a later call attends from its new
positions over all of them: generation then feeds one new token per step.

>>> mha = MultiHeadAttention(d_model=16, num_heads=4)
>>> x = torch.randn(2, 5, 16)                              # (batch, length, d_model)
>>> out, weights = mha(x, is_causal=True, need_weights=True)
>>> out.shape, weights.shape                               # weights: (B, H, L, S)
(torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]))
>>> sum(p.numel() for p in mha.parameters()) == 4 * (16 * 16 + 16)
True
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .functional import (
    _add_causal,
    fused_attention,
    merge_heads,
    merge_masks,
    scaled_dot_product_attention,
    split_heads,
)
from .kv_cache import LayerKVCache
from .positions import RotaryEmbedding


class MultiHeadAttention(nn.Module):
    """Taught in notebook 02, sections 5 and 6. Multi-head attention with separate query,
    key, value and output projections.

    ``q_proj`` maps ``d_model -> d_model``; ``k_proj`` and ``v_proj`` map
    ``d_model -> num_kv_heads * head_dim``; ``out_proj`` maps
    ``d_model -> d_model``. With ``num_kv_heads == num_heads`` that is
    ``4 * (d_model**2 + d_model)`` parameters, as in one BERT attention block.
    The layers keep ``nn.Linear``'s default initialisation. ``scale`` multiplies the
    scores ``q . k`` (default ``1 / sqrt(head_dim)``; T5 uses 1, having folded the
    scaling into the initialization of ``q_proj``).

    For GQA/MQA the key/value heads are repeated (``repeat_interleave``) up to
    ``num_heads``: query head ``h`` uses key/value head
    ``h // (num_heads // num_kv_heads)``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        num_kv_heads: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if num_heads <= 0 or d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if num_kv_heads <= 0 or num_heads % num_kv_heads != 0:
            raise ValueError(
                f"num_heads={num_heads} is not divisible by num_kv_heads={num_kv_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = d_model // num_heads
        self.dropout = dropout
        self.scale = scale  # None: 1 / sqrt(head_dim)
        kv_dim = num_kv_heads * self.head_dim
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, kv_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, kv_dim, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, num_heads={self.num_heads}, "
            f"num_kv_heads={self.num_kv_heads}, head_dim={self.head_dim}, dropout={self.dropout}"
            + ("" if self.scale is None else f", scale={self.scale}")
        )

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        rotary: RotaryEmbedding | None = None,
        cache: LayerKVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query (B, L, D)`` over ``key (B, S, D)``; returns ``(output, weights)``.

        - ``key=None``: self-attention (``key = value = query``).
        - ``key`` given, ``value=None``: ``value = key`` (cross-attention over
          a memory such as the encoder output).
        - ``mask``: bool (True = may attend) or float bias, broadcastable to
          ``(B, H, L, S)``; ``padding_mask`` gives ``(B, 1, 1, S)``.
        - ``is_causal``: also block the future (needs ``L == S``).
        - ``need_weights``: ``False`` takes the fused kernel and returns
          ``(output, None)``; ``True`` the explicit path, returning the
          weights ``(B, H, L, S)``.
        - ``rotary``: a ``RotaryEmbedding`` applied to the queries and
          keys of every head (positions ``0..L-1`` and ``0..S-1``).
        - ``cache``: a ``LayerKVCache`` holding the keys and values of ``P``
          earlier positions (self-attention only). This call's ``L`` positions
          come after them: their keys and values are appended to the cache,
          the queries attend over all ``S = P + L`` keys, and with
          ``is_causal`` new query ``i`` (position ``P + i``) sees keys
          ``0..P + i``; ``mask`` then covers all ``S`` keys.
        """
        if key is None:
            key = query
        if value is None:
            value = key
        self._check_inputs(query, key, value, cache)
        past = len(cache) if cache is not None else 0  # positions seen in earlier calls

        q = split_heads(self.q_proj(query), self.num_heads)  # (B, H, L, Dh)
        k = split_heads(self.k_proj(key), self.num_kv_heads)  # (B, Hkv, S, Dh)
        v = split_heads(self.v_proj(value), self.num_kv_heads)  # (B, Hkv, S, Dh)
        if rotary is not None:  # this call's positions start after the cached ones
            q = rotary(q, past + torch.arange(q.shape[-2], device=q.device))
            k = rotary(k, past + torch.arange(k.shape[-2], device=k.device))
        if cache is not None:  # attend over the P cached positions and these L
            if is_causal:  # new query i sits at position P + i: it may see keys 0 .. P + i
                causal = _causal_rows(past, q.shape[-2], q.device)  # (L, P + L)
                mask = merge_masks(mask, causal)  # (..., L, P + L)
                is_causal = False
            k, v = cache.update(k, v)  # (B, Hkv, P + L, Dh)
        if self.num_kv_heads != self.num_heads:
            group = self.num_heads // self.num_kv_heads
            k = k.repeat_interleave(group, dim=1)  # (B, H, S, Dh)
            v = v.repeat_interleave(group, dim=1)

        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            if is_causal:
                mask = _add_causal(mask, q.shape[-2], k.shape[-2], q.device)
            out, weights = scaled_dot_product_attention(
                q, k, v, mask, dropout_p=dropout_p, scale=self.scale
            )
        else:
            out = fused_attention(
                q, k, v, mask, is_causal=is_causal, dropout_p=dropout_p, scale=self.scale
            )
            weights = None
        # out (B, H, L, Dh) -> (B, L, D), then mixed across heads; weights (B, H, L, S)
        return self.out_proj(merge_heads(out)), weights

    def _check_inputs(
        self, query: Tensor, key: Tensor, value: Tensor, cache: LayerKVCache | None
    ) -> None:
        """Raise a ValueError naming the input whose shape is not ``(B, length, d_model)``, or
        if a cache is given for cross-attention."""
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.dim() != 3 or t.shape[-1] != self.d_model:
                raise ValueError(
                    f"{name} must have shape (batch, length, d_model={self.d_model}); "
                    f"got {tuple(t.shape)}"
                )
        if cache is not None and not (key is query and value is query):
            raise ValueError(
                "a cache holds the keys and values of earlier positions of the same sequence, "
                "so it is for self-attention only: pass key=None and value=None with a cache"
            )


def _causal_rows(past: int, length: int, device: torch.device) -> Tensor:
    """Bool ``(length, past + length)`` mask: new query ``i``, at position ``past + i``, may
    attend to keys ``0 .. past + i``; the last ``length`` rows of ``causal_mask(past + length)``."""
    return torch.ones(length, past + length, dtype=torch.bool, device=device).tril(past)

"""Attention from scratch: the functional core, multi-head attention, positions.

- ``.functional``: scaled dot-product attention (explicit and fused), masks,
  splitting into heads
- ``.multihead``: ``MultiHeadAttention``, with GQA and MQA
- ``.kv_cache``: the keys and values of past positions, for generating token by token
- ``.positions``: sinusoidal, learned, relative (Shaw et al.) and rotary (RoPE)
  position encodings, and T5's relative position bias

Masks are bool with ``True`` = may attend (as in
``torch.nn.functional.scaled_dot_product_attention``), or float additive biases.
"""

from .functional import (
    causal_mask,
    combine_masks,
    fused_attention,
    mask_to_bias,
    merge_heads,
    merge_masks,
    padding_mask,
    scaled_dot_product_attention,
    split_heads,
)
from .kv_cache import KVCache, LayerKVCache
from .multihead import MultiHeadAttention
from .positions import (
    LearnedPositionalEmbedding,
    RelativePositionAttention,
    RelativePositionBias,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    apply_rotary,
    relative_attention,
    relative_distances,
    relative_position_buckets,
    sinusoidal_positions,
)

__all__ = [
    "scaled_dot_product_attention",
    "fused_attention",
    "causal_mask",
    "padding_mask",
    "combine_masks",
    "merge_masks",
    "mask_to_bias",
    "split_heads",
    "merge_heads",
    "MultiHeadAttention",
    "KVCache",
    "LayerKVCache",
    "sinusoidal_positions",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "relative_distances",
    "relative_attention",
    "RelativePositionAttention",
    "RelativePositionBias",
    "relative_position_buckets",
    "RotaryEmbedding",
    "apply_rotary",
]

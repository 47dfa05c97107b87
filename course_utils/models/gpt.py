"""GPT-2 (Radford et al. 2019): a pre-LN decoder-only language model, and its key/value cache.

Taught in notebook 03, section 2 (the decoder) and section 4 (its parameters); the cache
in notebook 06 (generation).

>>> from course_utils.models import get_config
>>> model = GPTModel(get_config("gpt-tiny", vocab_size=100)).eval()
>>> out = model(torch.tensor([[5, 6, 7]]))
>>> tuple(out.logits.shape)                     # (batch, length, vocab_size)
(1, 3, 100)
>>> model.lm_head.weight is model.token_embeddings.weight    # tied
True

Generating token by token, a model without a cache runs the whole sequence again for
every new token. With a ``KVCache`` each causal self-attention layer keeps the keys and
values of the positions it has already seen, so the next call only feeds the new token:

>>> cache = KVCache()
>>> first = model(torch.tensor([[5, 6]]), cache=cache)         # the prompt: 2 positions
>>> second = model(torch.tensor([[7]]), cache=cache)           # 1 new position, at position 2
>>> len(cache), tuple(second.logits.shape)
(3, (1, 1, 100))
>>> torch.allclose(second.logits[:, -1], out.logits[:, -1], atol=1e-5)
True
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_utils.attention import (
    MultiHeadAttention,
    combine_masks,
    fused_attention,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    split_heads,
)
from course_utils.models.config import ModelConfig
from course_utils.models.tying import TiedWeights
from course_utils.transformer import (
    Decoder,
    DecoderLayer,
    StackOutput,
    TokenEmbedding,
    init_weights,
    positional_encoding,
)


class GPTOutput(NamedTuple):
    """``logits (B, L, V)``: scores for the *next* token at each position;
    ``hidden (B, L, D)`` after the final LayerNorm; ``attentions``: one
    ``(B, H, L, S)`` tensor per layer if ``need_weights`` (``S = L`` without a cache)."""

    logits: Tensor
    hidden: Tensor
    attentions: list[Tensor] | None = None


class KVCache:
    """Taught in notebook 06 (generation). The keys and values of every position a model
    has seen, one pair of tensors per causal self-attention layer.

    ``keys[i]`` and ``values[i]`` are ``(B, H_kv, S, head_dim)`` for layer ``i``;
    ``len(cache)`` is ``S``, the number of positions cached. Pass the same cache to
    successive ``GPTModel`` calls: each call appends its new positions, and the new
    tokens take the positions after the cached ones. Start a new cache for a new prompt.
    """

    def __init__(self) -> None:
        self.keys: list[Tensor] = []
        self.values: list[Tensor] = []

    def __len__(self) -> int:
        return self.keys[0].shape[-2] if self.keys else 0

    def update(self, layer: int, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Append the new positions' ``keys`` and ``values`` ``(B, H_kv, L, Dh)`` of ``layer``;
        return all of that layer's keys and values so far, ``(B, H_kv, S, Dh)``."""
        if layer == len(self.keys):  # the first call: nothing cached for this layer yet
            self.keys.append(keys)
            self.values.append(values)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], keys], dim=-2)  # (B, H_kv, S, Dh)
            self.values[layer] = torch.cat([self.values[layer], values], dim=-2)
        return self.keys[layer], self.values[layer]


class GPTModel(TiedWeights):
    """Taught in notebook 03, sections 2 and 4. ``token_embeddings`` + ``position_embeddings``
    -> ``decoder`` (causal layers and the final LayerNorm ``decoder.norm``) -> ``lm_head``.

    GPT-2 calls the two tables ``wte`` and ``wpe``. With ``config.tie_embeddings``
    the LM head reuses the token embedding matrix
    (``lm_head.weight is token_embeddings.weight``): the same vectors read tokens
    in and score them out. Weights are initialized as in GPT-2: N(0, 0.02), with
    the two projections that write into the residual stream in each layer
    (attention ``out_proj`` and ``ff.linear2``) scaled by ``1/sqrt(2 * num_layers)``
    so the stream's variance does not grow with depth.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.arch != "decoder":
            raise ValueError(f"GPTModel needs arch='decoder'; got {config.arch!r}")
        self.config = config
        d = config.d_model
        self.token_embeddings = TokenEmbedding(config.vocab_size, d, config.scale_embeddings)
        self.position_embeddings = positional_encoding(config.positions, config.max_positions, d)
        self.drop = nn.Dropout(config.dropout)
        self.decoder = Decoder(config)
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False)
        init_weights(self, std=config.init_std, embedding_std=config.embedding_init_std)
        residual_std = config.init_std / math.sqrt(2 * config.num_layers)
        for layer in self.decoder.layers:
            nn.init.normal_(layer.self_attn.out_proj.weight, std=residual_std)
            nn.init.normal_(layer.ff.linear2.weight, std=residual_std)
        self.tie_weights()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> GPTOutput:
        """``input_ids (B, L)``; ``attention_mask``: 1 for real tokens, 0 for padding.

        Position ``i``'s logits depend on tokens ``0..i`` only. ``attention_mask`` is
        ``(B, L)``, or with a ``cache`` ``(B, len(cache) + L)``: it covers the cached
        positions too. ``cache`` grows by ``L`` positions (see ``KVCache``).
        """
        stack = self.hidden_states(input_ids, attention_mask, need_weights, cache)
        return GPTOutput(self.lm_head(stack.hidden), stack.hidden, stack.attentions)  # (B, L, V)

    def hidden_states(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> StackOutput:
        """The body without the LM head: ``StackOutput`` with ``hidden (B, L, D)`` after the
        final LayerNorm; arguments as ``forward``. A classifier on top reads these."""
        if cache is None:
            x = self.drop(self.position_embeddings(self.token_embeddings(input_ids)))  # (B, L, D)
            mask = padding_mask(attention_mask) if attention_mask is not None else None
            hidden, attentions, _ = self.decoder(x, self_mask=mask, need_weights=need_weights)
            return StackOutput(hidden, attentions)
        past = self._check_cached_inputs(input_ids, attention_mask, cache)
        positions = torch.arange(past, past + input_ids.shape[1], device=input_ids.device)
        x = self.drop(self.position_embeddings(self.token_embeddings(input_ids), positions))
        return _decode_with_cache(self.decoder, x, cache, attention_mask, need_weights)

    def _check_cached_inputs(
        self, input_ids: Tensor, attention_mask: Tensor | None, cache: KVCache
    ) -> int:
        """Raise a ValueError if the new positions do not fit; return the cached length."""
        past, new = len(cache), input_ids.shape[-1]
        if past + new > self.config.max_positions:
            raise ValueError(
                f"the cache holds {past} positions and {new} new ones were given: "
                f"{past + new} is more than max_positions={self.config.max_positions}"
            )
        if attention_mask is not None and attention_mask.shape != (input_ids.shape[0], past + new):
            raise ValueError(
                f"with a cache, attention_mask covers the cached and the new positions: "
                f"expected shape {(input_ids.shape[0], past + new)}, got "
                f"{tuple(attention_mask.shape)}"
            )
        return past


# --- the decoder stack with a key/value cache -------------------------------
# The same computation as Decoder.forward, but each layer attends from the L new
# positions over the S = past + L cached and new keys, and stores the new keys.


def _decode_with_cache(
    decoder: Decoder,
    x: Tensor,
    cache: KVCache,
    attention_mask: Tensor | None,
    need_weights: bool,
) -> StackOutput:
    """``x (B, L, D)``: the new positions' embeddings -> ``StackOutput`` for those positions."""
    new, total = x.shape[1], len(cache) + x.shape[1]
    # New position i (absolute past + i) may attend to keys 0 .. past + i.
    causal = torch.ones(new, total, dtype=torch.bool, device=x.device).tril(total - new)  # (L, S)
    padding = padding_mask(attention_mask) if attention_mask is not None else None  # (B,1,1,S)
    mask = combine_masks(padding, causal)  # (B, 1, L, S) or (L, S)
    attentions = [] if need_weights else None
    for index, layer in enumerate(decoder.layers):
        x, weights = _cached_layer(layer, x, cache, index, mask, need_weights)  # (B, L, D)
        if attentions is not None and weights is not None:
            attentions.append(weights)
    if decoder.norm is not None:
        x = decoder.norm(x)
    return StackOutput(x, attentions)


def _cached_layer(
    layer: DecoderLayer,
    x: Tensor,
    cache: KVCache,
    index: int,
    mask: Tensor,
    need_weights: bool,
) -> tuple[Tensor, Tensor | None]:
    """``DecoderLayer.forward`` for the new positions ``x (B, L, D)``, with the cache."""
    attend = partial(
        _cached_self_attention, layer.self_attn, cache=cache, index=index, mask=mask,
        need_weights=need_weights,
    )  # fmt: skip
    if layer.norm_first:  # pre-LN: x = x + sublayer(LN(x))
        attended, weights = attend(layer.norm1(x))  # (B, L, D)
        x = x + layer.dropout(attended)
        x = x + layer.dropout(layer.ff(layer.norm2(x)))
    else:  # post-LN: x = LN(x + sublayer(x))
        attended, weights = attend(x)
        x = layer.norm1(x + layer.dropout(attended))
        x = layer.norm2(x + layer.dropout(layer.ff(x)))
    return x, weights


def _cached_self_attention(
    attn: MultiHeadAttention,
    x: Tensor,
    cache: KVCache,
    index: int,
    mask: Tensor,
    need_weights: bool,
) -> tuple[Tensor, Tensor | None]:
    """``MultiHeadAttention`` from the new positions over the cached and new keys: the keys
    and values of the ``L`` new positions are computed once and stored for later calls."""
    q = split_heads(attn.q_proj(x), attn.num_heads)  # (B, H, L, Dh)
    k = split_heads(attn.k_proj(x), attn.num_kv_heads)  # (B, H_kv, L, Dh): new positions only
    v = split_heads(attn.v_proj(x), attn.num_kv_heads)
    k, v = cache.update(index, k, v)  # (B, H_kv, S, Dh): past and new positions
    if attn.num_kv_heads != attn.num_heads:
        group = attn.num_heads // attn.num_kv_heads
        k = k.repeat_interleave(group, dim=1)  # (B, H, S, Dh)
        v = v.repeat_interleave(group, dim=1)
    dropout_p = attn.dropout if attn.training else 0.0
    if need_weights:
        out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p)
    else:
        out, weights = fused_attention(q, k, v, mask, dropout_p=dropout_p), None
    return attn.out_proj(merge_heads(out)), weights  # (B, L, D); weights (B, H, L, S)

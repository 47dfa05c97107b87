"""GPT-2 (Radford et al. 2019): a pre-LN decoder-only language model, and its key/value cache.

Taught in notebook 03, section 2 (the decoder) and section 4 (its parameters); the cache
(``course_utils.attention.kv_cache``) in notebook 06 (generation).

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
from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_utils.attention import padding_mask
from course_utils.attention.kv_cache import KVCache  # also importable from here
from course_utils.models.config import ModelConfig
from course_utils.models.tying import TiedWeights
from course_utils.transformer import (
    Decoder,
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
        positions = None  # 0 .. L-1
        if cache is not None:  # the new tokens come after the cached ones
            past = self._check_cached_inputs(input_ids, attention_mask, cache)
            positions = torch.arange(past, past + input_ids.shape[1], device=input_ids.device)
        x = self.drop(self.position_embeddings(self.token_embeddings(input_ids), positions))
        mask = padding_mask(attention_mask) if attention_mask is not None else None  # (B,1,1,S)
        hidden, attentions, _ = self.decoder(  # (B, L, D)
            x, self_mask=mask, need_weights=need_weights, cache=cache
        )
        return StackOutput(hidden, attentions)

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

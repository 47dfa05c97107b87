"""GPT-2 (Radford et al. 2019): a pre-LN decoder-only language model.

>>> from course_utils.models import get_config
>>> model = GPTModel(get_config("gpt-tiny", vocab_size=100)).eval()
>>> out = model(torch.tensor([[5, 6, 7]]))
>>> tuple(out.logits.shape)                     # (batch, length, vocab_size)
(1, 3, 100)
>>> model.lm_head.weight is model.wte.weight    # tied to the token embeddings
True
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch  # noqa: F401  (the docstring example uses it)
from torch import Tensor, nn

from course_utils.attention import padding_mask
from course_utils.models.config import ModelConfig
from course_utils.models.tying import TiedWeights
from course_utils.transformer import Decoder, init_weights, positional_encoding


class GPTOutput(NamedTuple):
    """``logits (B, L, V)``: scores for the *next* token at each position;
    ``hidden (B, L, D)`` after the final LayerNorm; ``attentions``: one
    ``(B, H, L, L)`` tensor per layer if ``need_weights``."""

    logits: Tensor
    hidden: Tensor
    attentions: list[Tensor] | None = None


class GPTModel(TiedWeights):
    """Token embeddings ``wte`` + positions ``wpe`` -> ``decoder`` (causal layers and
    the final LayerNorm ``decoder.norm``) -> ``lm_head``.

    With ``config.tie_embeddings`` the LM head reuses the token embedding
    matrix (``lm_head.weight is wte.weight``): the same vectors read tokens in
    and score them out. Weights are initialized as in GPT-2: N(0, 0.02), with
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
        self.scale = math.sqrt(d) if config.scale_embeddings else None
        self.wte = nn.Embedding(config.vocab_size, d)
        self.wpe = positional_encoding(config.positions, config.max_positions, d)
        self.drop = nn.Dropout(config.dropout)
        self.decoder = Decoder(
            config.num_layers, d, config.num_heads, config.d_ff, dropout=config.dropout,
            norm_first=config.norm_first, activation=config.activation,
            layer_norm_eps=config.layer_norm_eps, cross_attention=False,
            num_kv_heads=config.num_kv_heads, final_norm=config.final_norm,
        )  # fmt: skip
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False)
        init_weights(self, std=config.init_std, embedding_std=config.embedding_init_std)
        residual_std = config.init_std / math.sqrt(2 * config.num_layers)
        for layer in self.decoder.layers:
            nn.init.normal_(layer.self_attn.out_proj.weight, std=residual_std)
            nn.init.normal_(layer.ff.linear2.weight, std=residual_std)
        self.tie_weights()

    def tie_weights(self) -> None:
        if self.config.tie_embeddings:
            self.lm_head.weight = self.wte.weight

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, need_weights: bool = False
    ) -> GPTOutput:
        """``input_ids (B, L)``; ``attention_mask (B, L)``: 1 for real tokens, 0 for padding.

        Position ``i``'s logits depend on tokens ``0..i`` only.
        """
        x = self.wte(input_ids)
        if self.scale is not None:
            x = x * self.scale
        x = self.drop(self.wpe(x))
        mask = padding_mask(attention_mask) if attention_mask is not None else None
        hidden, attentions, _ = self.decoder(x, self_mask=mask, need_weights=need_weights)
        return GPTOutput(self.lm_head(hidden), hidden, attentions)


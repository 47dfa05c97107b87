"""GPT-2 (Radford et al. 2019): a pre-LN decoder-only language model.

Taught in notebook 03, section 2 (the decoder) and section 4 (its parameters).

>>> from course_utils.models import get_config
>>> model = GPTModel(get_config("gpt-tiny", vocab_size=100)).eval()
>>> out = model(torch.tensor([[5, 6, 7]]))
>>> tuple(out.logits.shape)                     # (batch, length, vocab_size)
(1, 3, 100)
>>> model.lm_head.weight is model.token_embeddings.weight    # tied
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
from course_utils.transformer import Decoder, TokenEmbedding, init_weights, positional_encoding


class GPTOutput(NamedTuple):
    """``logits (B, L, V)``: scores for the *next* token at each position;
    ``hidden (B, L, D)`` after the final LayerNorm; ``attentions``: one
    ``(B, H, L, L)`` tensor per layer if ``need_weights``."""

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
        self, input_ids: Tensor, attention_mask: Tensor | None = None, need_weights: bool = False
    ) -> GPTOutput:
        """``input_ids (B, L)``; ``attention_mask (B, L)``: 1 for real tokens, 0 for padding.

        Position ``i``'s logits depend on tokens ``0..i`` only.
        """
        x = self.drop(self.position_embeddings(self.token_embeddings(input_ids)))  # (B, L, D)
        mask = padding_mask(attention_mask) if attention_mask is not None else None
        hidden, attentions, _ = self.decoder(x, self_mask=mask, need_weights=need_weights)
        return GPTOutput(self.lm_head(hidden), hidden, attentions)  # logits (B, L, V)

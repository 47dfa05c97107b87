"""BERT (Devlin et al. 2019): embeddings, a post-LN encoder and a pooler.

The masked-language-model and next-sentence heads, and the fine-tuning
heads, are in :mod:`course_utils.models.heads`.

>>> from course_utils.models import get_config
>>> model = BertModel(get_config("bert-tiny", vocab_size=100)).eval()
>>> ids = torch.tensor([[2, 15, 16, 3, 0]])
>>> out = model(ids, attention_mask=torch.tensor([[1, 1, 1, 1, 0]]))
>>> tuple(out.hidden.shape[:2]), tuple(out.pooled.shape) == (1, model.config.d_model)
((1, 5), True)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_utils.attention import LearnedPositionalEmbedding, padding_mask
from course_utils.models.config import ModelConfig
from course_utils.transformer import Encoder, init_weights


class BertOutput(NamedTuple):
    """``hidden (B, L, D)``; ``pooled (B, D)`` or None without a pooler;
    ``attentions``: one ``(B, H, L, L)`` tensor per layer if ``need_weights``."""

    hidden: Tensor
    pooled: Tensor | None = None
    attentions: list[Tensor] | None = None


class BertEmbeddings(nn.Module):
    """``dropout(LayerNorm(token + position + segment embeddings))``.

    The token embeddings are multiplied by ``sqrt(d_model)`` first if
    ``config.scale_embeddings`` (not in BERT itself).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.scale = math.sqrt(d) if config.scale_embeddings else None
        self.word_embeddings = nn.Embedding(config.vocab_size, d)
        self.position_embeddings = LearnedPositionalEmbedding(config.max_positions, d)
        self.token_type_embeddings = (
            nn.Embedding(config.type_vocab_size, d) if config.type_vocab_size else None
        )
        self.LayerNorm = nn.LayerNorm(d, eps=config.layer_norm_eps)  # Hugging Face's name
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        x = self.word_embeddings(input_ids)
        if self.scale is not None:
            x = x * self.scale
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)  # everything is segment A
            x = x + self.token_type_embeddings(token_type_ids)
        elif token_type_ids is not None:
            raise ValueError("token_type_ids were given but the config has type_vocab_size=0")
        x = self.position_embeddings(x)
        return self.dropout(self.LayerNorm(x))


class BertModel(nn.Module):
    """BERT's body: ``embeddings``, ``encoder`` and, if ``config.pooler``, ``pooler``.

    The pooler is ``tanh(Linear(hidden[:, 0]))``: a summary of the sequence
    read from its first token ([CLS]), used for sentence-level tasks.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.arch != "encoder":
            raise ValueError(f"BertModel needs arch='encoder'; got {config.arch!r}")
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = Encoder(
            config.num_layers, config.d_model, config.num_heads, config.d_ff,
            dropout=config.dropout, norm_first=config.norm_first, activation=config.activation,
            layer_norm_eps=config.layer_norm_eps, num_kv_heads=config.num_kv_heads,
            final_norm=config.final_norm,
        )  # fmt: skip
        self.pooler = (
            nn.Sequential(nn.Linear(config.d_model, config.d_model), nn.Tanh())
            if config.pooler
            else None
        )
        init_weights(self, std=config.init_std, embedding_std=config.embedding_init_std)

    def forward(
        self,
        input_ids: Tensor,
        token_type_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> BertOutput:
        """``input_ids (B, L)``; ``token_type_ids (B, L)`` segment ids (default all 0);
        ``attention_mask (B, L)``: 1 for real tokens, 0 for padding."""
        x = self.embeddings(input_ids, token_type_ids)
        mask = padding_mask(attention_mask) if attention_mask is not None else None
        hidden, attentions, _ = self.encoder(x, mask=mask, need_weights=need_weights)
        pooled = self.pooler(hidden[:, 0]) if self.pooler is not None else None
        return BertOutput(hidden, pooled, attentions)

"""BERT (Devlin et al. 2019): embeddings, a post-LN encoder and a pooler.

Taught in notebook 03, section 2 (the encoder) and notebook 04, section 1 (BERT's
input). The masked-language-model and next-sentence heads, and the fine-tuning
heads, are in ``course_utils.models.heads``.

>>> from course_utils.models import get_config
>>> model = BertModel(get_config("bert-tiny", vocab_size=100)).eval()
>>> ids = torch.tensor([[2, 15, 16, 3, 0]])
>>> out = model(ids, attention_mask=torch.tensor([[1, 1, 1, 1, 0]]))
>>> tuple(out.hidden.shape[:2]), tuple(out.pooled.shape) == (1, model.config.d_model)
((1, 5), True)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_utils.attention import LearnedPositionalEmbedding, padding_mask
from course_utils.models.config import ModelConfig
from course_utils.transformer import Encoder, TokenEmbedding, init_weights


class BertOutput(NamedTuple):
    """``hidden (B, L, D)``; ``pooled (B, D)`` or None without a pooler;
    ``attentions``: one ``(B, H, L, L)`` tensor per layer if ``need_weights``."""

    hidden: Tensor
    pooled: Tensor | None = None
    attentions: list[Tensor] | None = None


class BertEmbeddings(nn.Module):
    """Taught in notebook 04, section 1.
    ``dropout(LayerNorm(token + segment + position embeddings))``.

    The token embeddings are multiplied by ``sqrt(d_model)`` first if
    ``config.scale_embeddings`` (not in BERT itself). ``token_embeddings`` is
    Hugging Face's ``word_embeddings``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.token_embeddings = TokenEmbedding(config.vocab_size, d, config.scale_embeddings)
        self.position_embeddings = LearnedPositionalEmbedding(config.max_positions, d)
        self.token_type_embeddings = (
            nn.Embedding(config.type_vocab_size, d) if config.type_vocab_size else None
        )
        self.LayerNorm = nn.LayerNorm(d, eps=config.layer_norm_eps)  # Hugging Face's name
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """``input_ids (B, L)``, ``token_type_ids (B, L)`` -> ``(B, L, D)``."""
        x = self.token_embeddings(input_ids)  # (B, L, D)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)  # everything is segment A
            x = x + self.token_type_embeddings(token_type_ids)
        elif token_type_ids is not None:
            raise ValueError("token_type_ids were given but the config has type_vocab_size=0")
        x = self.position_embeddings(x)
        return self.dropout(self.LayerNorm(x))


class BertModel(nn.Module):
    """Taught in notebook 03, section 1 (``create_model("bert-tiny")`` builds one) and in
    notebook 04. BERT's body: ``embeddings``, ``encoder`` and, if ``config.pooler``,
    ``pooler``.

    The pooler is ``tanh(Linear(hidden[:, 0]))``: a summary of the sequence
    read from its first token ([CLS]), used for sentence-level tasks.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.arch != "encoder":
            raise ValueError(f"BertModel needs arch='encoder'; got {config.arch!r}")
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = Encoder(config)
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
        x = self.embeddings(input_ids, token_type_ids)  # (B, L, D)
        mask = padding_mask(attention_mask) if attention_mask is not None else None
        hidden, attentions, _ = self.encoder(x, mask=mask, need_weights=need_weights)
        pooled = self.pooler(hidden[:, 0]) if self.pooler is not None else None
        return BertOutput(hidden, pooled, attentions)

"""The original Transformer (Vaswani et al. 2017): an encoder reads the source, a
decoder writes the target while attending to the encoder's output.

Taught in notebook 03, sections 2 and 3 (a tiny one learns to reverse digits), and
notebook 07: T5 and BART are the same model with other choices in their
``ModelConfig`` ("t5-small", "bart-base"):

=====================  ===========================  ==============================
                       T5                           BART
=====================  ===========================  ==============================
positions              bias per distance bucket     learned table (offset 2)
                       in the attention scores
norm                   RMSNorm, pre-norm            LayerNorm, post-LN, and one
                                                    on the embeddings
biases                 none                         everywhere
attention scores       not scaled                   divided by sqrt(head_dim)
feed-forward           ReLU                         GELU
LM head                tied, reads d**-0.5 * out    tied
=====================  ===========================  ==============================

Greedy decoding, one token at a time (a sketch; ``BOS`` is the start token)::

    memory = model.encode(src_ids, src_mask)
    tgt = torch.full((batch, 1), BOS)
    for _ in range(max_len):
        logits = model.decode(tgt, memory, memory_mask=src_mask)
        tgt = torch.cat([tgt, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_utils.attention import KVCache, padding_mask
from course_utils.models.config import ModelConfig
from course_utils.models.tying import TiedWeights
from course_utils.transformer import (
    Decoder,
    Encoder,
    StackOutput,
    TokenEmbedding,
    init_t5_weights,
    init_weights,
    make_norm,
    positional_encoding,
)


class Seq2SeqOutput(NamedTuple):
    """``logits (B, T, V)``: scores for the next target token at each target position.

    When ``need_weights``, one tensor per layer in each list:
    ``encoder_attentions (B, H, S, S)``, ``decoder_attentions (B, H, T, T)``,
    ``cross_attentions (B, H, T, S)``.
    """

    logits: Tensor
    encoder_attentions: list[Tensor] | None = None
    decoder_attentions: list[Tensor] | None = None
    cross_attentions: list[Tensor] | None = None


class EncoderDecoderModel(TiedWeights):
    """Taught in notebook 03, sections 2 and 3. Shared ``token_embeddings`` for source
    and target, ``encoder_positions`` and ``decoder_positions``, an ``encoder``, a
    ``decoder`` with cross-attention, and ``lm_head`` (tied to the token embeddings if
    ``config.tie_embeddings``).

    Masks are per-token ``(B, S)`` / ``(B, T)`` tensors, 1 for real tokens and 0
    for padding; the decoder's causal mask is always applied.

    T5 and BART (notebook 07): with ``config.positions == "t5_relative"`` the position
    tables are None (the stacks hold ``position_bias``); with ``config.embedding_norm``
    ``encoder_embedding_norm`` and ``decoder_embedding_norm`` normalize the embeddings
    (else None); ``config.scale_decoder_output`` multiplies the decoder output by
    ``d_model**-0.5`` before ``lm_head``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.arch != "encoder-decoder":
            raise ValueError(
                f"EncoderDecoderModel needs arch='encoder-decoder'; got {config.arch!r}"
            )
        self.config = config
        d = config.d_model
        self.token_embeddings = TokenEmbedding(config.vocab_size, d, config.scale_embeddings)
        tables = (config.positions, config.max_positions, d, config.position_offset)
        self.encoder_positions = positional_encoding(*tables)  # None for T5
        self.decoder_positions = positional_encoding(*tables)
        self.encoder_embedding_norm = self._embedding_norm()  # None unless BART
        self.decoder_embedding_norm = self._embedding_norm()
        self.drop = nn.Dropout(config.dropout)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)  # with cross-attention: config.arch is "encoder-decoder"
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False)
        if config.init == "t5":
            init_t5_weights(self)
        else:
            init_weights(self, std=config.init_std, embedding_std=config.embedding_init_std)
        self.tie_weights()

    def _embedding_norm(self) -> nn.Module | None:
        c = self.config
        return make_norm(c.norm, c.d_model, c.layer_norm_eps) if c.embedding_norm else None

    def _embed(
        self, ids: Tensor, positions: nn.Module | None, norm: nn.Module | None,
        position_ids: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """``ids (B, L)`` -> ``(B, L, D)``: token embeddings plus positions (if any), the
        embedding norm (if any), then dropout."""
        x = self.token_embeddings(ids)  # (B, L, D)
        if positions is not None:
            x = positions(x, position_ids)
        if norm is not None:
            x = norm(x)
        return self.drop(x)

    def _logits(self, hidden: Tensor) -> Tensor:
        """``hidden (B, T, D)`` -> logits ``(B, T, V)``."""
        if self.config.scale_decoder_output:  # T5: the tied matrix has N(0, 1) entries
            hidden = hidden * self.config.d_model**-0.5
        return self.lm_head(hidden)

    def _encode(self, src_ids: Tensor, src_mask: Tensor | None, need_weights: bool) -> StackOutput:
        mask = padding_mask(src_mask) if src_mask is not None else None
        x = self._embed(src_ids, self.encoder_positions, self.encoder_embedding_norm)
        return self.encoder(x, mask=mask, need_weights=need_weights)

    def _decode(
        self,
        tgt_ids: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        tgt_mask: Tensor | None,
        need_weights: bool,
        cache: KVCache | None = None,
    ) -> StackOutput:
        position_ids = None  # 0 .. T-1
        if cache is not None:  # the new tokens come after the cached ones
            past = len(cache)
            position_ids = torch.arange(past, past + tgt_ids.shape[1], device=tgt_ids.device)
        x = self._embed(tgt_ids, self.decoder_positions, self.decoder_embedding_norm, position_ids)
        return self.decoder(
            x,
            memory,
            self_mask=padding_mask(tgt_mask) if tgt_mask is not None else None,
            memory_mask=padding_mask(memory_mask) if memory_mask is not None else None,
            need_weights=need_weights,
            cache=cache,
        )

    def encode(self, src_ids: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """Taught in notebook 03, section 2.
        ``src_ids (B, S)`` -> ``memory (B, S, D)``, the encoder output."""
        return self._encode(src_ids, src_mask, need_weights=False).hidden

    def decode(
        self,
        tgt_ids: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        """``tgt_ids (B, T)`` and ``memory (B, S, D)`` -> logits ``(B, T, V)``.

        ``memory_mask`` is the source's ``(B, S)`` padding mask (``src_mask``). With a
        ``KVCache`` (notebook 07's decoding), ``tgt_ids`` are the tokens after the
        ``len(cache)`` cached ones, whose keys and values the decoder's self-attention
        keeps; ``tgt_mask`` then covers the cached positions too.
        """
        decoded = self._decode(tgt_ids, memory, memory_mask, tgt_mask, False, cache)
        return self._logits(decoded.hidden)

    def forward(
        self,
        src_ids: Tensor,
        tgt_ids: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> Seq2SeqOutput:
        """Teacher forcing: ``logits[:, t]`` predicts ``tgt_ids[:, t + 1]`` from
        ``tgt_ids[:, :t + 1]`` and the whole source."""
        encoded = self._encode(src_ids, src_mask, need_weights)
        decoded = self._decode(tgt_ids, encoded.hidden, src_mask, tgt_mask, need_weights)
        return Seq2SeqOutput(
            self._logits(decoded.hidden),
            encoded.attentions,
            decoded.attentions,
            decoded.cross_attentions,
        )

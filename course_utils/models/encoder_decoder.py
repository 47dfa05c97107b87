"""The original Transformer (Vaswani et al. 2017): an encoder reads the source, a
decoder writes the target while attending to the encoder's output.

Taught in notebook 03, sections 2 and 3 (a tiny one learns to reverse digits).

Greedy decoding, one token at a time (a sketch; ``BOS`` is the start token)::

    memory = model.encode(src_ids, src_mask)
    tgt = torch.full((batch, 1), BOS)
    for _ in range(max_len):
        logits = model.decode(tgt, memory, memory_mask=src_mask)
        tgt = torch.cat([tgt, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from course_utils.attention import padding_mask
from course_utils.models.config import ModelConfig
from course_utils.models.tying import TiedWeights
from course_utils.transformer import (
    Decoder,
    Encoder,
    StackOutput,
    TokenEmbedding,
    init_weights,
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
        self.encoder_positions = positional_encoding(config.positions, config.max_positions, d)
        self.decoder_positions = positional_encoding(config.positions, config.max_positions, d)
        self.drop = nn.Dropout(config.dropout)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)  # with cross-attention: config.arch is "encoder-decoder"
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False)
        init_weights(self, std=config.init_std, embedding_std=config.embedding_init_std)
        self.tie_weights()

    def _embed(self, ids: Tensor, positions: nn.Module) -> Tensor:
        """``ids (B, L)`` -> ``(B, L, D)``: token embeddings plus positions, then dropout."""
        return self.drop(positions(self.token_embeddings(ids)))

    def _encode(self, src_ids: Tensor, src_mask: Tensor | None, need_weights: bool) -> StackOutput:
        mask = padding_mask(src_mask) if src_mask is not None else None
        x = self._embed(src_ids, self.encoder_positions)
        return self.encoder(x, mask=mask, need_weights=need_weights)

    def _decode(
        self,
        tgt_ids: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        tgt_mask: Tensor | None,
        need_weights: bool,
    ) -> StackOutput:
        x = self._embed(tgt_ids, self.decoder_positions)
        return self.decoder(
            x,
            memory,
            self_mask=padding_mask(tgt_mask) if tgt_mask is not None else None,
            memory_mask=padding_mask(memory_mask) if memory_mask is not None else None,
            need_weights=need_weights,
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
    ) -> Tensor:
        """``tgt_ids (B, T)`` and ``memory (B, S, D)`` -> logits ``(B, T, V)``.

        ``memory_mask`` is the source's ``(B, S)`` padding mask (``src_mask``).
        """
        hidden = self._decode(tgt_ids, memory, memory_mask, tgt_mask, need_weights=False).hidden
        return self.lm_head(hidden)

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
            self.lm_head(decoded.hidden),
            encoded.attentions,
            decoded.attentions,
            decoded.cross_attentions,
        )

"""Transformer layers and stacks: feed-forward, encoder and decoder layers.

Taught in notebook 03, section 1 (the layer) and section 2 (encoder, decoder,
encoder-decoder).

Every layer is a few sublayers (self-attention, cross-attention,
feed-forward), each wrapped in a residual connection and a LayerNorm. Where
the LayerNorm goes is the one design choice that differs between the classic
models:

    post-LN (original Transformer, BERT):     x = LN(x + sublayer(x))
    pre-LN  (GPT-2 and most models since):    x = x + sublayer(LN(x))

Pre-LN keeps an un-normalized "residual stream" running through the whole
stack, so it needs one more LayerNorm after the last layer (``final_norm``).

Notebook 07's T5 changes three small things (``ModelConfig`` fields): ``RMSNorm``
instead of LayerNorm (``norm="rms"``), no biases (``bias=False``), and unscaled
scores with a learned ``RelativePositionBias`` added to them, computed once per
stack and shared by its layers (``positions="t5_relative"``, ``scale_attention=False``).

A layer used on its own takes its sizes as keyword arguments; a stack
(``Encoder``, ``Decoder``) builds its layers from one ``ModelConfig``.

>>> layer = EncoderLayer(d_model=8, num_heads=2, d_ff=16)
>>> out, weights = layer(torch.randn(3, 5, 8), need_weights=True)
>>> tuple(out.shape), tuple(weights.shape)      # weights: (batch, heads, L, L)
((3, 5, 8), (3, 2, 5, 5))
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import torch  # noqa: F401  (the docstring example uses it)
from torch import Tensor, nn

from course_utils.attention import (
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    RelativePositionBias,
    SinusoidalPositionalEncoding,
    merge_masks,
)
from course_utils.attention.kv_cache import KVCache, LayerKVCache

if TYPE_CHECKING:  # models.config imports this module, so only for the annotations
    from course_utils.models.config import ModelConfig

ACTIVATIONS = ("gelu", "gelu_tanh", "relu")
"""Feed-forward activations: exact GELU (BERT), GELU's tanh approximation (GPT-2), ReLU
(original Transformer)."""

POSITIONS = ("learned", "sinusoidal", "t5_relative")
"""Position encodings: a learned vector per position (BERT, GPT-2, BART), the fixed sines and
cosines of the original Transformer, or T5's learned bias per distance bucket, added to the
attention scores (``RelativePositionBias``; nothing is added to the embeddings)."""

NORMS = ("layer", "rms")
"""Normalizations: LayerNorm (subtract the mean, divide by the std, scale and shift) or
RMSNorm (divide by the root mean square, scale; T5)."""


class RMSNorm(nn.Module):
    """Taught in notebook 07. Root-mean-square normalization (Zhang and Sennrich 2019), T5's
    "layer norm": ``weight * x / sqrt(mean(x**2) + eps)`` over the last dim.

    Unlike ``nn.LayerNorm`` it does not subtract the mean and has no bias; ``weight``
    starts at 1. The mean of squares is taken in float32, as T5 does.

    >>> RMSNorm(2)(torch.tensor([[3.0, 4.0]]))         # rms = sqrt((9 + 16) / 2)
    tensor([[0.8485, 1.1314]], grad_fn=<MulBackward0>)
    """

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"

    def forward(self, x: Tensor) -> Tensor:
        mean_square = x.float().pow(2).mean(dim=-1, keepdim=True)  # (..., 1)
        return self.weight * (x * torch.rsqrt(mean_square + self.eps)).to(self.weight.dtype)


class FeedForward(nn.Module):
    """Taught in notebook 03, section 1. Position-wise feed-forward network:
    ``linear2(dropout(act(linear1(x))))``.

    Widens each position from ``d_model`` to ``d_ff`` (usually ``4 * d_model``)
    and back; positions do not interact here. ``bias=False`` drops the biases (T5).
    """

    def __init__(
        self, d_model: int, d_ff: int, activation: str = "gelu", dropout: float = 0.0,
        bias: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.activation = get_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """``x (..., D)`` -> ``(..., D)``."""
        return self.linear2(self.dropout(self.activation(self.linear1(x))))  # (..., D_ff) inside


class EncoderLayer(nn.Module):
    """Taught in notebook 03, section 1. Self-attention then feed-forward, each with a
    residual connection and a LayerNorm.

    ``norm_first=False`` is post-LN (BERT), ``True`` is pre-LN (see the module
    docstring). ``dropout`` is used on the attention weights, inside the
    feed-forward network, and on each sublayer's output before the residual
    addition (as ``torch.nn.TransformerEncoderLayer`` does). ``mask`` is a bool
    mask (True = may attend) or an additive float mask, broadcastable to
    ``(batch, heads, L, L)``, e.g. from ``course_utils.attention.padding_mask``.
    ``norm`` (one of ``NORMS``), ``bias`` (of every linear layer) and
    ``scale_attention`` (False: scores are not divided by ``sqrt(head_dim)``) are
    T5's choices. ``EncoderLayer.from_config(config)`` takes them and the sizes from
    a ``ModelConfig``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "gelu",
        layer_norm_eps: float = 1e-5,
        num_kv_heads: int | None = None,
        norm: str = "layer",
        bias: bool = True,
        scale_attention: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = _attention(
            d_model, num_heads, num_kv_heads, dropout, bias, scale_attention
        )
        self.norm1 = make_norm(norm, d_model, layer_norm_eps)
        self.ff = FeedForward(d_model, d_ff, activation=activation, dropout=dropout, bias=bias)
        self.norm2 = make_norm(norm, d_model, layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def from_config(cls, config: ModelConfig) -> EncoderLayer:
        """A layer with the sizes and choices of ``config``."""
        return cls(**_layer_options(config))

    def forward(
        self, x: Tensor, mask: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """``x (B, L, D)`` -> ``(x, weights)``; weights ``(B, H, L, L)`` or None."""
        attend = partial(self.self_attn, mask=mask, need_weights=need_weights)
        if self.norm_first:  # pre-LN: x = x + sublayer(LN(x))
            attended, weights = attend(self.norm1(x))  # (B, L, D), (B, H, L, L)
            x = x + self.dropout(attended)
            x = x + self.dropout(self.ff(self.norm2(x)))
        else:  # post-LN: x = LN(x + sublayer(x))
            attended, weights = attend(x)
            x = self.norm1(x + self.dropout(attended))
            x = self.norm2(x + self.dropout(self.ff(x)))
        return x, weights


class DecoderLayer(nn.Module):
    """Taught in notebook 03, section 2. Causal self-attention, optional cross-attention
    over ``memory``, then feed-forward.

    Each sublayer has a residual connection and a LayerNorm, pre-LN by default
    (GPT-2). Position ``i`` only ever sees positions ``0..i`` of ``x``: the
    causal mask is always applied, and ``self_mask`` (e.g. padding) is added on
    top of it. With ``cross_attention=True`` the layer also attends to the
    encoder output ``memory``, which is then required; ``memory_mask`` masks
    its padding. Attribute names follow ``EncoderLayer`` (``self_attn``,
    ``norm1``, ``ff``, ``norm2``), plus ``cross_attn`` and ``norm_cross``
    (both None without cross-attention). ``DecoderLayer.from_config(config)``
    takes the sizes from a ``ModelConfig``, with cross-attention in an
    encoder-decoder model. ``norm``, ``bias`` and ``scale_attention`` as in
    ``EncoderLayer``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = True,
        activation: str = "gelu",
        layer_norm_eps: float = 1e-5,
        cross_attention: bool = False,
        num_kv_heads: int | None = None,
        norm: str = "layer",
        bias: bool = True,
        scale_attention: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        attention = partial(_attention, d_model, num_heads, num_kv_heads, dropout, bias,
                            scale_attention)  # fmt: skip
        self.self_attn = attention()
        self.norm1 = make_norm(norm, d_model, layer_norm_eps)
        self.cross_attn: MultiHeadAttention | None = None
        self.norm_cross: nn.Module | None = None
        if cross_attention:
            self.cross_attn = attention()
            self.norm_cross = make_norm(norm, d_model, layer_norm_eps)
        self.ff = FeedForward(d_model, d_ff, activation=activation, dropout=dropout, bias=bias)
        self.norm2 = make_norm(norm, d_model, layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def from_config(cls, config: ModelConfig) -> DecoderLayer:
        """A layer with the sizes and choices of ``config``; it has cross-attention when
        ``config.arch`` is "encoder-decoder"."""
        return cls(**_layer_options(config), cross_attention=config.arch == "encoder-decoder")

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        self_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        need_weights: bool = False,
        cache: LayerKVCache | None = None,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """``x (B, T, D)``, ``memory (B, S, D)`` -> ``(x, self_weights, cross_weights)``.

        Weights are ``(B, H, T, T)`` and ``(B, H, T, S)``, or None when not asked
        for (cross weights are always None without cross-attention). With a
        ``cache`` of ``P`` earlier positions (a ``LayerKVCache``), ``x`` holds the
        positions after them: self-attention appends their keys and values to the
        cache and attends over all ``P + T`` (self weights ``(B, H, T, P + T)``;
        ``self_mask`` covers all of them).
        """
        check_memory(memory, has_cross_attention=self.cross_attn is not None)
        attend_self = partial(
            self.self_attn, mask=self_mask, is_causal=True, need_weights=need_weights, cache=cache
        )
        cross_weights = None
        if self.norm_first:  # pre-LN: x = x + sublayer(LN(x))
            attended, self_weights = attend_self(self.norm1(x))  # (B, T, D), (B, H, T, T)
            x = x + self.dropout(attended)
            if self.cross_attn is not None and self.norm_cross is not None:
                attended, cross_weights = self.cross_attn(  # (B, T, D), (B, H, T, S)
                    self.norm_cross(x), memory, mask=memory_mask, need_weights=need_weights
                )
                x = x + self.dropout(attended)
            x = x + self.dropout(self.ff(self.norm2(x)))
        else:  # post-LN: x = LN(x + sublayer(x))
            attended, self_weights = attend_self(x)
            x = self.norm1(x + self.dropout(attended))
            if self.cross_attn is not None and self.norm_cross is not None:
                attended, cross_weights = self.cross_attn(
                    x, memory, mask=memory_mask, need_weights=need_weights
                )
                x = self.norm_cross(x + self.dropout(attended))
            x = self.norm2(x + self.dropout(self.ff(x)))
        return x, self_weights, cross_weights


class StackOutput(NamedTuple):
    """What ``Encoder`` and ``Decoder`` return: ``hidden (B, L, D)``.

    ``attentions`` and ``cross_attentions`` hold one weight tensor per layer
    when ``need_weights=True``, else None (``cross_attentions`` is also None
    without cross-attention).
    """

    hidden: Tensor
    attentions: list[Tensor] | None = None
    cross_attentions: list[Tensor] | None = None


class Encoder(nn.Module):
    """Taught in notebook 03, section 2. ``config.num_layers`` ``EncoderLayer``s, plus a
    final LayerNorm ``norm`` if ``config.final_norm``.

    Post-LN stacks (BERT) need no final norm; pre-LN stacks do. With
    ``config.positions == "t5_relative"`` the stack holds a bidirectional
    ``RelativePositionBias`` (``position_bias``, else None) and adds its bias to
    every layer's attention scores (notebook 07).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.position_bias = _relative_position_bias(config, bidirectional=True)
        self.layers = nn.ModuleList(
            EncoderLayer.from_config(config) for _ in range(config.num_layers)
        )
        self.norm = _final_norm(config)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, need_weights: bool = False
    ) -> StackOutput:
        """``x (B, L, D)`` -> ``StackOutput``; arguments as ``EncoderLayer.forward``."""
        if self.position_bias is not None:  # T5: one bias for every layer
            mask = merge_masks(self.position_bias(x.shape[1], x.shape[1]), mask)  # (B, H, L, L)
        attentions = [] if need_weights else None
        for layer in self.layers:
            x, weights = layer(x, mask=mask, need_weights=need_weights)  # (B, L, D)
            if attentions is not None and weights is not None:
                attentions.append(weights)
        if self.norm is not None:
            x = self.norm(x)
        return StackOutput(x, attentions)


class Decoder(nn.Module):
    """Taught in notebook 03, section 2. ``config.decoder_layers`` ``DecoderLayer``s, plus a
    final LayerNorm ``norm`` if ``config.final_norm`` (GPT-2's ``ln_f``).

    The layers have cross-attention when ``config.arch`` is "encoder-decoder".
    ``forward`` takes the arguments of ``DecoderLayer.forward``. With T5 positions
    the stack's ``position_bias`` is causal (no buckets for the future) and only
    self-attention gets it.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.position_bias = _relative_position_bias(config, bidirectional=False)
        self.cross_attention = config.arch == "encoder-decoder"
        self.layers = nn.ModuleList(
            DecoderLayer.from_config(config) for _ in range(config.decoder_layers)
        )
        self.norm = _final_norm(config)

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        self_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> StackOutput:
        """``x (B, T, D)``, ``memory (B, S, D)`` -> ``StackOutput``; layer ``i`` uses
        ``cache.layer(i)`` when a ``KVCache`` is given."""
        check_memory(memory, has_cross_attention=self.cross_attention)
        if self.position_bias is not None:  # queries come after the cached positions
            past = len(cache) if cache is not None else 0
            bias = self.position_bias(x.shape[1], past + x.shape[1], past)  # (1, H, T, P + T)
            self_mask = merge_masks(bias, self_mask)
        attentions = [] if need_weights else None
        cross_attentions = [] if need_weights and self.cross_attention else None
        for index, layer in enumerate(self.layers):
            x, self_weights, cross_weights = layer(  # (B, T, D)
                x, memory, self_mask=self_mask, memory_mask=memory_mask, need_weights=need_weights,
                cache=cache.layer(index) if cache is not None else None,
            )  # fmt: skip
            if attentions is not None and self_weights is not None:
                attentions.append(self_weights)
            if cross_attentions is not None and cross_weights is not None:
                cross_attentions.append(cross_weights)
        if self.norm is not None:
            x = self.norm(x)
        return StackOutput(x, attentions, cross_attentions)


class TokenEmbedding(nn.Embedding):
    """Taught in notebook 03, section 2. A learned vector per token id:
    ``ids (B, L)`` -> ``(B, L, D)``.

    With ``scale=True`` the vectors are multiplied by ``sqrt(d_model)``, as
    Vaswani et al. do (``ModelConfig.scale_embeddings``). An ``nn.Embedding``
    otherwise, so an output layer can share (tie) its ``weight``.
    """

    def __init__(self, vocab_size: int, d_model: int, scale: bool = False) -> None:
        super().__init__(vocab_size, d_model)
        self.scale = math.sqrt(d_model) if scale else None

    def forward(self, input_ids: Tensor) -> Tensor:
        x = super().forward(input_ids)  # (B, L, D)
        return x if self.scale is None else x * self.scale


# --- building blocks, chosen by name ------------------------------------------


def get_activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of ``ACTIVATIONS``)."""
    if name == "gelu":
        return nn.GELU()  # x * Phi(x), with the exact normal CDF (erf)
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")


def positional_encoding(
    kind: str, max_positions: int, d_model: int, offset: int = 0
) -> nn.Module | None:
    """Taught in notebook 02, section 7. A module that adds position information:
    ``forward(x (B, L, D)) -> x + P[:L]``; ``kind`` is one of ``POSITIONS``.
    None for "t5_relative": T5 adds nothing to the embeddings (its stacks hold the
    bias). ``offset`` unused rows come first in a learned table (BART: 2)."""
    if kind == "learned":
        return LearnedPositionalEmbedding(max_positions, d_model, offset=offset)
    if offset:
        raise ValueError(f"a position offset needs positions='learned'; got {kind!r}")
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(d_model, max_positions)
    if kind == "t5_relative":
        return None
    raise ValueError(f"unknown positions {kind!r}; allowed: {', '.join(POSITIONS)}")


def make_norm(kind: str, d_model: int, eps: float = 1e-5) -> nn.Module:
    """Taught in notebook 07. The normalization called ``kind`` (one of ``NORMS``)."""
    if kind == "layer":
        return nn.LayerNorm(d_model, eps=eps)
    if kind == "rms":
        return RMSNorm(d_model, eps=eps)
    raise ValueError(f"unknown norm {kind!r}; allowed: {', '.join(NORMS)}")


def check_memory(memory: Tensor | None, has_cross_attention: bool) -> None:
    """Raise a ValueError unless ``memory`` is given exactly when cross-attention exists."""
    if has_cross_attention and memory is None:
        raise ValueError(
            "this decoder has cross-attention, so it needs memory (the encoder output, "
            "shape (batch, src_len, d_model))"
        )
    if not has_cross_attention and memory is not None:
        raise ValueError(
            "memory was given but this decoder has no cross-attention "
            "(build it with cross_attention=True, or from an arch='encoder-decoder' config)"
        )


def _layer_options(config: ModelConfig) -> dict[str, Any]:
    """The keyword arguments that ``EncoderLayer`` and ``DecoderLayer`` share, from ``config``."""
    return {
        "d_model": config.d_model,
        "num_heads": config.num_heads,
        "d_ff": config.d_ff,
        "dropout": config.dropout,
        "norm_first": config.norm_first,
        "activation": config.activation,
        "layer_norm_eps": config.layer_norm_eps,
        "num_kv_heads": config.num_kv_heads,
        "norm": config.norm,
        "bias": config.bias,
        "scale_attention": config.scale_attention,
    }


def _attention(
    d_model: int, num_heads: int, num_kv_heads: int | None, dropout: float, bias: bool,
    scale_attention: bool,
) -> MultiHeadAttention:  # fmt: skip
    """A layer's ``MultiHeadAttention``; ``scale_attention=False`` leaves the scores unscaled."""
    return MultiHeadAttention(d_model, num_heads, num_kv_heads=num_kv_heads, bias=bias,
                              dropout=dropout, scale=None if scale_attention else 1.0)  # fmt: skip


def _final_norm(config: ModelConfig) -> nn.Module | None:
    """The norm after a stack's last layer if ``config.final_norm``, else None."""
    if not config.final_norm:
        return None
    return make_norm(config.norm, config.d_model, config.layer_norm_eps)


def _relative_position_bias(
    config: ModelConfig, bidirectional: bool
) -> RelativePositionBias | None:
    """A stack's ``RelativePositionBias`` if ``config.positions == "t5_relative"``, else None."""
    if config.positions != "t5_relative":
        return None
    return RelativePositionBias(config.num_heads, config.relative_buckets,
                                config.relative_max_distance, bidirectional)  # fmt: skip


def init_weights(model: nn.Module, std: float = 0.02, embedding_std: float | None = None) -> None:
    """BERT / GPT-2 initialization, in place.

    Linear weights ~ N(0, std) with zero biases; embedding tables (token,
    segment and learned positions) ~ N(0, embedding_std), which defaults to
    ``std``; LayerNorms keep weight 1 and bias 0. PyTorch's own defaults
    (uniform for Linear, N(0, 1) for Embedding) are larger than what these
    models were trained with.
    """
    embedding_std = std if embedding_std is None else embedding_std
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Embedding, LearnedPositionalEmbedding)):
            nn.init.normal_(module.weight, mean=0.0, std=embedding_std)
        elif isinstance(module, (nn.LayerNorm, RMSNorm)):
            nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)


def init_t5_weights(model: nn.Module) -> None:
    """Taught in notebook 07. T5's initialization (Mesh TensorFlow's), in place.

    Every linear weight ~ N(0, 1 / fan_in), and the query projections ~ N(0, 1 /
    (fan_in * head_dim)): T5 does not divide its scores by ``sqrt(head_dim)``, so the
    queries start that much smaller instead. Token embeddings ~ N(0, 1) (the tied LM
    head then reads ``d_model**-0.5`` times the decoder output), relative position
    biases ~ N(0, 1 / d_model), norms weight 1, biases (if any) 0.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=module.in_features**-0.5)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, (nn.LayerNorm, RMSNorm)):
            nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            fan_in = module.q_proj.in_features
            nn.init.normal_(module.q_proj.weight, std=(fan_in * module.head_dim) ** -0.5)
        elif isinstance(module, RelativePositionBias):
            d_model = getattr(getattr(model, "config", None), "d_model", module.num_heads)
            nn.init.normal_(module.table.weight, std=d_model**-0.5)

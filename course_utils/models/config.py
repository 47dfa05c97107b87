"""One dataclass describes every model in the course, plus the named presets.

>>> config = NAMED_CONFIGS["bert-base"]
>>> config.d_model, config.num_layers, config.head_dim
(768, 12, 64)
>>> from dataclasses import replace
>>> replace(config, num_heads=10)
Traceback (most recent call last):
    ...
ValueError: d_model=768 is not divisible by num_heads=10
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

from course_utils.config import TinyModelSizes, get_scale
from course_utils.transformer import ACTIVATIONS, NORMS, POSITIONS

ARCHS = ("encoder", "decoder", "encoder-decoder")
"""Model shapes: BERT-like, GPT-like, and the original Transformer (also T5 and BART)."""

INITS = ("normal", "t5")
"""Weight initializations: N(0, ``init_std``) (BERT, GPT-2, BART) or T5's fan-in scaled one
(``course_utils.transformer.init_t5_weights``)."""

TINY_VOCAB_SIZE = 1_000
"""Vocabulary size of the tiny presets unless ``vocab_size`` is passed as an override."""


@dataclass(frozen=True)
class ModelConfig:
    """Taught in notebook 03, section 4. Everything needed to build a ``BertModel``,
    ``GPTModel`` or ``EncoderDecoderModel`` (picked by ``arch``, one of ``ARCHS``); the
    model passes it down to its stacks and layers.

    Sizes: ``d_model`` (hidden width), ``num_layers`` (encoder layers for
    "encoder-decoder"; ``num_decoder_layers`` defaults to the same),
    ``num_heads`` (``num_kv_heads`` fewer for grouped-query attention),
    ``d_ff`` (feed-forward width), ``max_positions`` (longest sequence),
    ``type_vocab_size`` (BERT's segment embeddings; 0 for none).

    Choices: ``norm_first`` (pre-LN if True, post-LN if False),
    ``activation`` (see ``ACTIVATIONS``), ``positions`` ("learned",
    "sinusoidal" or T5's "t5_relative"), ``final_norm`` (LayerNorm after the last layer of each
    stack), ``pooler`` (BERT's tanh layer on the first token),
    ``tie_embeddings`` (output projection shares the token embedding matrix),
    ``scale_embeddings`` (multiply token embeddings by ``sqrt(d_model)``, as
    Vaswani et al. do; they are then initialized with std ``d_model**-0.5``),
    ``init_std`` (std of the normal initialization of all other weights).

    Encoder-decoder flavours (notebook 07). T5: ``norm="rms"`` (see ``NORMS``),
    ``bias=False`` (no biases in attention and feed-forward layers),
    ``scale_attention=False`` (scores not divided by ``sqrt(head_dim)``),
    ``positions="t5_relative"`` with ``relative_buckets`` and
    ``relative_max_distance`` (a bias per head and distance bucket),
    ``scale_decoder_output`` (the decoder output times ``d_model**-0.5`` before the
    LM head) and ``init="t5"`` (see ``INITS``). BART: ``embedding_norm`` (a norm on
    the embeddings, before the first layer) and ``position_offset`` (BART's learned
    tables start with 2 unused rows).
    """

    arch: str
    vocab_size: int
    max_positions: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    num_kv_heads: int | None = None
    type_vocab_size: int = 0
    norm_first: bool = False
    activation: str = "gelu"
    layer_norm_eps: float = 1e-5
    dropout: float = 0.0
    pooler: bool = False
    tie_embeddings: bool = False
    final_norm: bool = False
    num_decoder_layers: int | None = None
    positions: str = "learned"
    scale_embeddings: bool = False
    init_std: float = 0.02
    norm: str = "layer"
    bias: bool = True
    scale_attention: bool = True
    relative_buckets: int = 32
    relative_max_distance: int = 128
    scale_decoder_output: bool = False
    embedding_norm: bool = False
    position_offset: int = 0
    init: str = "normal"

    def __post_init__(self) -> None:
        _check_choice("arch", self.arch, ARCHS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("positions", self.positions, POSITIONS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("init", self.init, INITS)
        for name in ("vocab_size", "max_positions", "d_model", "num_layers", "num_heads", "d_ff"):
            _check_positive_int(name, getattr(self, name))
        if self.d_model % self.num_heads != 0:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}"
            )
        if self.num_kv_heads is not None:
            _check_positive_int("num_kv_heads", self.num_kv_heads)
            if self.num_heads % self.num_kv_heads != 0:
                raise ValueError(
                    f"num_heads={self.num_heads} is not divisible by "
                    f"num_kv_heads={self.num_kv_heads}"
                )
        if not _is_int(self.type_vocab_size) or self.type_vocab_size < 0:
            raise ValueError(
                f"type_vocab_size must be an int >= 0 (0 = no segment embeddings); "
                f"got {self.type_vocab_size!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout!r}")
        for name in ("layer_norm_eps", "init_std"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}")
        if self.arch != "encoder" and (self.pooler or self.type_vocab_size):
            raise ValueError(
                f"pooler and type_vocab_size are BERT features, for arch='encoder' only; "
                f"got arch={self.arch!r} with pooler={self.pooler}, "
                f"type_vocab_size={self.type_vocab_size}"
            )
        if self.num_decoder_layers is not None:
            if self.arch != "encoder-decoder":
                raise ValueError(
                    f"num_decoder_layers is for arch='encoder-decoder' only; got arch={self.arch!r}"
                )
            _check_positive_int("num_decoder_layers", self.num_decoder_layers)
        self._check_flavour_fields()

    def _check_flavour_fields(self) -> None:
        """Raise a ValueError for a T5 or BART field this config cannot use."""
        for name in ("relative_buckets", "relative_max_distance"):
            _check_positive_int(name, getattr(self, name))
        if not _is_int(self.position_offset) or self.position_offset < 0:
            raise ValueError(f"position_offset must be an int >= 0; got {self.position_offset!r}")
        if self.position_offset and self.positions != "learned":
            raise ValueError(
                f"position_offset is for positions='learned' (BART); "
                f"got positions={self.positions!r}"
            )
        used = [
            text
            for wrong, text in (
                (self.positions == "t5_relative", "positions='t5_relative'"),
                (self.scale_decoder_output, "scale_decoder_output=True"),
                (self.embedding_norm, "embedding_norm=True"),
                (self.init != "normal", f"init={self.init!r}"),
            )
            if wrong
        ]
        if used and self.arch != "encoder-decoder":
            raise ValueError(
                f"{', '.join(used)}: T5 and BART features, for arch='encoder-decoder' only; "
                f"got arch={self.arch!r}"
            )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    @property
    def embedding_init_std(self) -> float:
        """Std of the embedding tables' initialization: ``d_model**-0.5`` with
        ``scale_embeddings`` (so the scaled token embeddings have unit variance),
        else ``init_std``."""
        return self.d_model**-0.5 if self.scale_embeddings else self.init_std

    @property
    def decoder_layers(self) -> int:
        """Number of layers of the decoder stack: ``num_decoder_layers`` if set
        (encoder-decoder models only), else ``num_layers``."""
        return self.num_layers if self.num_decoder_layers is None else self.num_decoder_layers


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive_int(name: str, value: object) -> None:
    if not _is_int(value) or value <= 0:  # type: ignore[operator]
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


# --- published models ------------------------------------------------------

BERT_BASE = ModelConfig(
    arch="encoder", vocab_size=30_522, max_positions=512, d_model=768, num_layers=12,
    num_heads=12, d_ff=3_072, type_vocab_size=2, norm_first=False, activation="gelu",
    layer_norm_eps=1e-12, dropout=0.1, pooler=True,
)  # fmt: skip

GPT2_SMALL = ModelConfig(
    arch="decoder", vocab_size=50_257, max_positions=1_024, d_model=768, num_layers=12,
    num_heads=12, d_ff=3_072, norm_first=True, activation="gelu_tanh", layer_norm_eps=1e-5,
    dropout=0.1, tie_embeddings=True, final_norm=True,
)  # fmt: skip

TRANSFORMER_BASE = ModelConfig(
    arch="encoder-decoder", vocab_size=37_000, max_positions=512, d_model=512, num_layers=6,
    num_heads=8, d_ff=2_048, norm_first=False, activation="relu", dropout=0.1,
    tie_embeddings=True, positions="sinusoidal", scale_embeddings=True,
)  # fmt: skip
"""Vaswani et al. (2017), "base": 6 + 6 post-LN layers, sinusoidal positions.

The paper's English-German setup has one shared BPE vocabulary of about 37000
tokens, and we assume its section 3.4 sharing: a single matrix serves as
source embedding, target embedding and (transposed) output projection, which
has no bias. Attention projections have biases. That gives 63,082,496
parameters (18.9M of them in the shared embedding); the paper rounds its
count to 65M without giving the vocabulary size it used. ``max_positions``
only sizes the fixed sinusoid table (no parameters).
"""


T5_SMALL = ModelConfig(
    arch="encoder-decoder", vocab_size=32_128, max_positions=512, d_model=512, num_layers=6,
    num_heads=8, d_ff=2_048, norm_first=True, activation="relu", layer_norm_eps=1e-6,
    dropout=0.1, tie_embeddings=True, final_norm=True, positions="t5_relative", norm="rms",
    bias=False, scale_attention=False, scale_decoder_output=True, init="t5",
)  # fmt: skip
"""Raffel et al. (2020), T5-small: 6 + 6 pre-norm layers with RMSNorm and no biases,
a 32-bucket relative position bias per stack (128 = the distance where buckets stop
growing), ReLU feed-forward, one embedding matrix for encoder, decoder and (tied,
scaled by ``d_model**-0.5``) LM head: 60,506,624 parameters, as Hugging Face's
``T5ForConditionalGeneration``. ``max_positions`` is no limit of the model (relative
positions work at any length); it is the length T5 was trained at.
"""

BART_BASE = ModelConfig(
    arch="encoder-decoder", vocab_size=50_265, max_positions=1_024, d_model=768, num_layers=6,
    num_heads=12, d_ff=3_072, norm_first=False, activation="gelu", layer_norm_eps=1e-5,
    dropout=0.1, tie_embeddings=True, positions="learned", position_offset=2,
    embedding_norm=True,
)  # fmt: skip
"""Lewis et al. (2020), BART-base: 6 + 6 post-LN layers like BERT's, GELU, learned
positions (tables of 1024 + 2 rows, one per stack), a LayerNorm on the embeddings of
each stack, one shared embedding matrix (also the LM head): 139,420,416 parameters, as
Hugging Face's ``BartForConditionalGeneration`` (whose ``final_logits_bias`` is a
buffer of zeros, not a parameter; we leave it out).
"""


# --- tiny models, sized by the scale preset --------------------------------


def _bert_tiny(tiny: TinyModelSizes) -> ModelConfig:
    return replace(BERT_BASE, vocab_size=TINY_VOCAB_SIZE, dropout=0.0, **_sizes(tiny))


def _gpt_tiny(tiny: TinyModelSizes) -> ModelConfig:
    return replace(GPT2_SMALL, vocab_size=TINY_VOCAB_SIZE, dropout=0.0, **_sizes(tiny))


def _encoder_decoder_tiny(tiny: TinyModelSizes) -> ModelConfig:
    # Pre-LN with a final norm: trains without a learning-rate warmup, which
    # the short notebook runs do not have. Otherwise as transformer-base.
    return replace(
        TRANSFORMER_BASE, vocab_size=TINY_VOCAB_SIZE, dropout=0.0, norm_first=True,
        final_norm=True, **_sizes(tiny),
    )  # fmt: skip


def _t5_tiny(tiny: TinyModelSizes) -> ModelConfig:
    return replace(T5_SMALL, vocab_size=TINY_VOCAB_SIZE, dropout=0.0, **_sizes(tiny))


def _bart_tiny(tiny: TinyModelSizes) -> ModelConfig:
    return replace(BART_BASE, vocab_size=TINY_VOCAB_SIZE, dropout=0.0, **_sizes(tiny))


def _sizes(tiny: TinyModelSizes) -> dict[str, int]:
    return {
        "d_model": tiny.d_model,
        "num_layers": tiny.num_layers,
        "num_heads": tiny.num_heads,
        "d_ff": tiny.d_ff,
        "max_positions": tiny.max_positions,
    }


class _Presets(Mapping[str, ModelConfig]):
    """Read-only ``name -> ModelConfig``; tiny presets are built at each lookup.

    So ``NAMED_CONFIGS["gpt-tiny"]`` follows ``COURSE_SCALE`` (via
    ``course_utils.config.get_scale``) even if the scale changes after import.
    """

    def __init__(
        self,
        fixed: dict[str, ModelConfig],
        tiny: dict[str, Callable[[TinyModelSizes], ModelConfig]],
    ) -> None:
        self._fixed = fixed
        self._tiny = tiny

    def __getitem__(self, name: str) -> ModelConfig:
        if name in self._fixed:
            return self._fixed[name]
        if name in self._tiny:
            return self._tiny[name](get_scale().tiny)
        raise KeyError(f"unknown model {name!r}; allowed: {', '.join(self)}")

    def __iter__(self) -> Iterator[str]:
        yield from self._fixed
        yield from self._tiny

    def __len__(self) -> int:
        return len(self._fixed) + len(self._tiny)

    def __repr__(self) -> str:
        return f"NAMED_CONFIGS({', '.join(self)})"


NAMED_CONFIGS: Mapping[str, ModelConfig] = _Presets(
    fixed={
        "bert-base": BERT_BASE,
        "bert-large": replace(BERT_BASE, d_model=1_024, num_layers=24, num_heads=16, d_ff=4_096),
        "gpt2-small": GPT2_SMALL,
        "gpt2-medium": replace(GPT2_SMALL, d_model=1_024, num_layers=24, num_heads=16, d_ff=4_096),
        "transformer-base": TRANSFORMER_BASE,
        "t5-small": T5_SMALL,
        "bart-base": BART_BASE,
    },
    tiny={
        "bert-tiny": _bert_tiny,
        "gpt-tiny": _gpt_tiny,
        "encoder-decoder-tiny": _encoder_decoder_tiny,
        "t5-tiny": _t5_tiny,
        "bart-tiny": _bart_tiny,
    },
)
"""The course's model presets by name. The tiny ones take their sizes from
``get_scale().tiny`` and have ``vocab_size=TINY_VOCAB_SIZE`` and no dropout;
pass ``vocab_size=`` (your tokenizer's size) to ``get_config``."""

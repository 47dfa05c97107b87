"""The course's transformer models: BERT-like, GPT-like and encoder-decoder.

Taught in notebook 03 (building and counting them) and notebooks 04 and 05 (BERT).
Every model is built from one ``ModelConfig``, which it passes down to its stacks
and layers.

>>> model = create_model("gpt-tiny", vocab_size=100)
>>> type(model).__name__, model.config.vocab_size
('GPTModel', 100)

Counting parameters costs no memory on PyTorch's "meta" device, where
tensors have shapes but no data (T5 and BART, notebook 07, count as Hugging Face's
``T5ForConditionalGeneration`` and ``BartForConditionalGeneration``):

>>> with torch.device("meta"):
...     t5, bart = create_model("t5-small"), create_model("bart-base")
>>> count_parameters(t5), count_parameters(bart)
(60506624, 139420416)

>>> with torch.device("meta"):
...     bert = create_model("bert-base")
>>> count_parameters(bert)
109482240
>>> parameter_groups(bert)["embeddings"] == (30522 + 512 + 2) * 768
True

``head="pretraining"`` adds BERT's masked-LM and next-sentence heads:

>>> with torch.device("meta"):
...     pretraining = create_model("bert-base", head="pretraining")
>>> type(pretraining).__name__, count_parameters(pretraining)
('BertForPreTraining', 110106428)
"""

from __future__ import annotations

import dataclasses

import torch  # noqa: F401  (the docstring example uses it)
from torch import nn

from course_utils.attention import LearnedPositionalEmbedding, MultiHeadAttention
from course_utils.models.bert import BertEmbeddings, BertModel, BertOutput
from course_utils.models.config import ARCHS, NAMED_CONFIGS, TINY_VOCAB_SIZE, ModelConfig
from course_utils.models.encoder_decoder import EncoderDecoderModel, Seq2SeqOutput
from course_utils.models.gpt import GPTModel, GPTOutput, KVCache
from course_utils.models.heads import (
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertMLMHead,
    GPTClassifierOutput,
    GPTForSequenceClassification,
    PreTrainingOutput,
    last_token_positions,
)
from course_utils.transformer import FeedForward, RMSNorm

PARAMETER_GROUPS = ("embeddings", "attention", "feed-forward", "layer norm", "pooler / head")
"""The groups of ``parameter_groups``, in order."""

MODEL_CLASSES: dict[str, type[nn.Module]] = {
    "encoder": BertModel,
    "decoder": GPTModel,
    "encoder-decoder": EncoderDecoderModel,
}


def get_config(name: str, **overrides: object) -> ModelConfig:
    """Taught in notebook 03, section 4. The preset ``name`` from ``NAMED_CONFIGS``, with
    some fields replaced.

    >>> get_config("bert-base", num_layers=2).num_layers
    2
    """
    config = NAMED_CONFIGS[name]  # KeyError listing the names if unknown
    fields = [f.name for f in dataclasses.fields(ModelConfig)]
    unknown = [key for key in overrides if key not in fields]
    if unknown:
        raise ValueError(
            f"unknown ModelConfig field(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(fields)}"
        )
    return dataclasses.replace(config, **overrides)


def build_model(config: ModelConfig) -> nn.Module:
    """The model class for ``config.arch``, built from ``config``."""
    return MODEL_CLASSES[config.arch](config)


MODEL_HEADS: dict[str, tuple[str, ...]] = {
    "encoder": ("pretraining",),
    "decoder": ("classification",),
    "encoder-decoder": (),
}
"""Values of ``create_model(head=...)`` by ``arch``: "pretraining" is
``BertForPreTraining``, "classification" is ``GPTForSequenceClassification``."""


def create_model(
    name: str, head: str | None = None, num_labels: int = 2, **overrides: object
) -> nn.Module:
    """Taught in notebook 03, sections 1 and 4. Build the preset ``name`` (see
    ``get_config`` for ``overrides``).

    ``head=None`` gives the bare model of ``MODEL_CLASSES`` (for BERT,
    ``BertModel`` without heads; for GPT, ``GPTModel``, the language model);
    ``head="pretraining"`` gives ``BertForPreTraining`` (encoder presets);
    ``head="classification"`` gives a randomly initialized
    ``GPTForSequenceClassification`` with ``num_labels`` labels (decoder presets).
    Fine-tuning models are built from a pretrained body:
    ``BertForSequenceClassification.from_pretrained_body(model.bert, num_labels)``
    (likewise ``BertForTokenClassification``), and
    ``GPTForSequenceClassification.from_pretrained_body(gpt_model, num_labels)``.

    Inside ``with torch.device("meta"):`` nothing is allocated, so even the
    large presets can be built just to count their parameters.

    >>> type(create_model("gpt-tiny", head="classification", num_labels=3)).__name__
    'GPTForSequenceClassification'
    """
    config = get_config(name, **overrides)
    if head is None:
        return build_model(config)
    allowed = MODEL_HEADS[config.arch]
    if head not in allowed:
        raise ValueError(
            f"unknown head {head!r}; allowed: {', '.join(allowed + ('None',))} for {name!r} "
            f"(arch={config.arch!r}). Build BERT classifiers with "
            f"BertForSequenceClassification / BertForTokenClassification"
        )
    if head == "classification":
        return GPTForSequenceClassification(config, num_labels)
    return BertForPreTraining(config)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Taught in notebook 03, section 4 (section 2 already uses it).
    Number of parameter values; a tensor shared by two modules (tied weights) counts once."""
    # model.parameters() already yields each tensor once, however many modules share it.
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_groups(model: nn.Module) -> dict[str, int]:
    """Taught in notebook 03, section 4. Parameter count per group of
    ``PARAMETER_GROUPS``; the values sum to
    ``count_parameters``.

    - "embeddings": token, position and segment tables (and T5's relative position
      biases);
    - "attention": every ``MultiHeadAttention`` (projections and biases);
    - "feed-forward": every ``FeedForward``;
    - "layer norm": every LayerNorm or RMSNorm, including BERT's and BART's embedding
      LayerNorms;
    - "pooler / head": everything else (BERT's pooler, an untied LM head).

    A tied LM head is the token embedding matrix, so it counts under "embeddings".
    """
    kinds: list[tuple[str, tuple[type[nn.Module], ...]]] = [
        ("embeddings", (nn.Embedding, LearnedPositionalEmbedding)),
        ("attention", (MultiHeadAttention,)),
        ("feed-forward", (FeedForward,)),
        ("layer norm", (nn.LayerNorm, RMSNorm)),
    ]
    counts = dict.fromkeys(PARAMETER_GROUPS, 0)
    seen: set[int] = set()

    def add(group: str, params: list[nn.Parameter]) -> None:
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                counts[group] += p.numel()

    for module in model.modules():
        for group, types in kinds:
            if isinstance(module, types):
                add(group, list(module.parameters()))
    add("pooler / head", list(model.parameters()))  # whatever is left
    return counts


__all__ = [
    "ARCHS",
    "MODEL_CLASSES",
    "MODEL_HEADS",
    "NAMED_CONFIGS",
    "PARAMETER_GROUPS",
    "TINY_VOCAB_SIZE",
    "BertEmbeddings",
    "BertForPreTraining",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertMLMHead",
    "BertModel",
    "BertOutput",
    "EncoderDecoderModel",
    "GPTClassifierOutput",
    "GPTForSequenceClassification",
    "GPTModel",
    "GPTOutput",
    "KVCache",
    "ModelConfig",
    "PreTrainingOutput",
    "Seq2SeqOutput",
    "build_model",
    "count_parameters",
    "create_model",
    "get_config",
    "last_token_positions",
    "parameter_groups",
]

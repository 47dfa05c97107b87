"""Converting the course's modules to the industry implementations they are tested against.

- ``to_torch_multihead_attention``: our attention as ``torch.nn.MultiheadAttention``;
- ``to_transformers`` / ``from_transformers``: our
  ``BertForPreTraining`` to and from Hugging Face's
  (``pip install transformers``). The two compute the same function; only the
  parameter names differ (``BERT_LAYER_NAMES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from course_utils.attention import MultiHeadAttention
from course_utils.models import BertForPreTraining, ModelConfig

if TYPE_CHECKING:
    import transformers


def to_torch_multihead_attention(ours: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    """A ``torch.nn.MultiheadAttention`` (batch first) holding the same weights as ``ours``.

    torch packs the query, key and value projections into one ``in_proj_weight``.
    """
    if ours.num_kv_heads != ours.num_heads:
        raise ValueError(
            f"torch.nn.MultiheadAttention has no grouped-query attention; this module has "
            f"{ours.num_kv_heads} key/value heads for {ours.num_heads} query heads"
        )
    if ours.q_proj.bias is None:
        raise ValueError("only modules with biases (bias=True) can be converted")
    theirs = torch.nn.MultiheadAttention(ours.d_model, ours.num_heads, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(
            torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight])
        )
        theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return theirs.to(ours.q_proj.weight.device)


# --- BERT <-> Hugging Face transformers --------------------------------------

BERT_LAYER_NAMES: dict[str, str] = {
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "norm1": "attention.output.LayerNorm",
    "ff.linear1": "intermediate.dense",
    "ff.linear2": "output.dense",
    "norm2": "output.LayerNorm",
}
"""Our ``EncoderLayer`` submodules -> their names
in Hugging Face's ``BertLayer`` (post-LN, the same computation)."""

_BERT_PRETRAINING_NAMES: dict[str, str] = {
    "bert.embeddings.token_embeddings": "bert.embeddings.word_embeddings",
    "bert.embeddings.position_embeddings": "bert.embeddings.position_embeddings",
    "bert.embeddings.token_type_embeddings": "bert.embeddings.token_type_embeddings",
    "bert.embeddings.LayerNorm": "bert.embeddings.LayerNorm",
    "bert.pooler.0": "bert.pooler.dense",
    "mlm.dense": "cls.predictions.transform.dense",
    "mlm.norm": "cls.predictions.transform.LayerNorm",
    "mlm.decoder": "cls.predictions.decoder",
    "nsp": "cls.seq_relationship",
}

_ACTIVATIONS_TO_HF = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}
_ACTIVATIONS_FROM_HF = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
}


def rename_parameters(
    state_dict: Mapping[str, Tensor], names: Mapping[str, str]
) -> dict[str, Tensor]:
    """``state_dict`` with each key ``module.param`` renamed to ``names[module].param``.

    >>> rename_parameters({"norm1.weight": torch.ones(2)}, BERT_LAYER_NAMES)
    {'attention.output.LayerNorm.weight': tensor([1., 1.])}
    """
    renamed = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        if module not in names:
            raise ValueError(f"no name is known for {key!r}; known modules: {', '.join(names)}")
        renamed[f"{names[module]}.{param}"] = value
    return renamed


def bert_pretraining_names(num_layers: int) -> dict[str, str]:
    """Our ``BertForPreTraining`` submodules -> their names
    in ``transformers.BertForPreTraining``."""
    names = dict(_BERT_PRETRAINING_NAMES)
    for i in range(num_layers):
        for ours, theirs in BERT_LAYER_NAMES.items():
            names[f"bert.encoder.layers.{i}.{ours}"] = f"bert.encoder.layer.{i}.{theirs}"
    return names


def bert_config_to_transformers(
    config: ModelConfig, attn_implementation: str | None = None
) -> transformers.BertConfig:
    """The ``transformers.BertConfig`` of ``config``; a ValueError names what Hugging
    Face's BERT cannot express. ``pad_token_id`` is None, as our embeddings have no
    padding row."""
    transformers = _import_transformers()
    problems = [
        text
        for wrong, text in (
            (config.arch != "encoder", f"arch={config.arch!r} (needs 'encoder')"),
            (config.norm_first, "norm_first=True (BERT is post-LN)"),
            (
                config.num_kv_heads not in (None, config.num_heads),
                f"num_kv_heads={config.num_kv_heads} (no grouped-query attention)",
            ),
            (config.positions != "learned", f"positions={config.positions!r} (needs 'learned')"),
            (config.scale_embeddings, "scale_embeddings=True"),
            (config.final_norm, "final_norm=True"),
            (not config.pooler, "pooler=False (needs the pooler)"),
            (config.type_vocab_size == 0, "type_vocab_size=0 (needs segment embeddings)"),
        )
        if wrong
    ]
    if problems:
        raise ValueError(f"Hugging Face BERT cannot express {'; '.join(problems)}")
    kwargs = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    return transformers.BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.d_model,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        intermediate_size=config.d_ff, hidden_act=_ACTIVATIONS_TO_HF[config.activation],
        max_position_embeddings=config.max_positions, type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps, hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout, initializer_range=config.init_std,
        pad_token_id=None, tie_word_embeddings=True, **kwargs,
    )  # fmt: skip


def bert_config_from_transformers(hf_config: transformers.BertConfig) -> ModelConfig:
    """The ``ModelConfig`` of a ``transformers.BertConfig``;
    a ValueError names what our BERT cannot express."""
    c = hf_config
    problems = [
        text
        for wrong, text in (
            (c.hidden_act not in _ACTIVATIONS_FROM_HF,
             f"hidden_act={c.hidden_act!r} (allowed: {', '.join(_ACTIVATIONS_FROM_HF)})"),
            (c.hidden_dropout_prob != c.attention_probs_dropout_prob,
             f"hidden_dropout_prob={c.hidden_dropout_prob} != attention_probs_dropout_prob="
             f"{c.attention_probs_dropout_prob} (we have one dropout)"),
            (getattr(c, "position_embedding_type", "absolute") != "absolute",
             f"position_embedding_type={getattr(c, 'position_embedding_type', None)!r}"),
            (getattr(c, "is_decoder", False) or getattr(c, "add_cross_attention", False),
             "is_decoder / add_cross_attention"),
            (not getattr(c, "tie_word_embeddings", True), "tie_word_embeddings=False"),
        )  # fmt: skip
        if wrong
    ]
    if problems:
        raise ValueError(f"our BERT cannot express {'; '.join(problems)}")
    return ModelConfig(
        arch="encoder", vocab_size=c.vocab_size, max_positions=c.max_position_embeddings,
        d_model=c.hidden_size, num_layers=c.num_hidden_layers, num_heads=c.num_attention_heads,
        d_ff=c.intermediate_size, type_vocab_size=c.type_vocab_size, norm_first=False,
        activation=_ACTIVATIONS_FROM_HF[c.hidden_act], layer_norm_eps=c.layer_norm_eps,
        dropout=c.hidden_dropout_prob, pooler=True, init_std=c.initializer_range,
    )  # fmt: skip


def to_transformers(
    model: BertForPreTraining, attn_implementation: str | None = None
) -> transformers.BertForPreTraining:
    """A ``transformers.BertForPreTraining`` holding the same weights as ``model``, on its
    device and dtype, in the same train/eval mode.

    ``attn_implementation``: Hugging Face's attention code (None = its default,
    "sdpa"); use "eager" to get attention weights with ``output_attentions=True``.
    """
    transformers = _import_transformers()
    if not isinstance(model, BertForPreTraining):
        raise ValueError(
            f"to_transformers converts a course_utils BertForPreTraining; got "
            f"{type(model).__name__}"
        )
    hf_config = bert_config_to_transformers(model.config, attn_implementation)
    weight = model.bert.embeddings.token_embeddings.weight
    with torch.device(weight.device):
        theirs = transformers.BertForPreTraining(hf_config).to(weight.dtype)
    state = rename_parameters(model.state_dict(), bert_pretraining_names(model.config.num_layers))
    state["cls.predictions.bias"] = state["cls.predictions.decoder.bias"]  # same tensor in HF
    theirs.load_state_dict(state)
    return theirs.train(model.training)


def from_transformers(hf_model: transformers.BertForPreTraining) -> BertForPreTraining:
    """Our ``BertForPreTraining`` holding the same weights as
    the ``transformers.BertForPreTraining`` ``hf_model``, on its device and dtype, in the
    same train/eval mode.

    Hugging Face's ``pad_token_id`` row of the token embeddings gets no gradient
    there; ours has no such special row (the forward pass is the same).
    """
    transformers = _import_transformers()
    if not isinstance(hf_model, transformers.BertForPreTraining):
        raise ValueError(
            f"from_transformers converts a transformers.BertForPreTraining; got "
            f"{type(hf_model).__name__}"
        )
    config = bert_config_from_transformers(hf_model.config)
    weight = hf_model.bert.embeddings.word_embeddings.weight
    with torch.device(weight.device):
        ours = BertForPreTraining(config).to(weight.dtype)
    theirs = hf_model.state_dict()
    names = bert_pretraining_names(config.num_layers)
    state = {}
    for key in ours.state_dict():
        module, _, param = key.rpartition(".")
        state[key] = theirs[f"{names[module]}.{param}"]
    ours.load_state_dict(state)
    return ours.train(hf_model.training)


def _import_transformers() -> ModuleType:
    try:
        import transformers
    except ImportError as error:
        raise ImportError(
            "converting to or from Hugging Face needs the transformers library: "
            "pip install transformers"
        ) from error
    return transformers

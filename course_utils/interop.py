"""Converting the course's modules to the industry implementations they are tested against.

- ``to_torch_multihead_attention``: our attention as ``torch.nn.MultiheadAttention``;
- ``to_transformers`` / ``from_transformers``: our ``BertForPreTraining`` to and
  from Hugging Face's, our ``GPTModel`` to and from ``GPT2LMHeadModel``, and our
  ``EncoderDecoderModel`` in its T5 and BART flavours (notebook 07) to and from
  ``T5ForConditionalGeneration`` and ``BartForConditionalGeneration``
  (``pip install transformers``); both functions pick the conversion by the
  model's type (and an encoder-decoder's by its ``config.positions``). The two
  compute the same function; only the parameter names differ
  (``BERT_LAYER_NAMES``, ``GPT2_LAYER_NAMES``, ``T5_LAYER_NAMES``,
  ``BART_LAYER_NAMES``), and GPT-2 stores its projections as ``Conv1D`` layers,
  whose weights are the transposes of ours, with the query, key and value
  projections packed into one ``c_attn``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from course_utils.attention import MultiHeadAttention
from course_utils.models import (
    NAMED_CONFIGS,
    BertForPreTraining,
    EncoderDecoderModel,
    GPTModel,
    ModelConfig,
)

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
    model: BertForPreTraining | GPTModel | EncoderDecoderModel,
    attn_implementation: str | None = None,
) -> (
    transformers.BertForPreTraining | transformers.GPT2LMHeadModel
    | transformers.T5ForConditionalGeneration | transformers.BartForConditionalGeneration
):  # fmt: skip
    """A ``transformers.BertForPreTraining`` (from our ``BertForPreTraining``),
    ``transformers.GPT2LMHeadModel`` (from our ``GPTModel``),
    ``transformers.T5ForConditionalGeneration`` (from a T5-flavoured
    ``EncoderDecoderModel``, ``positions="t5_relative"``) or
    ``transformers.BartForConditionalGeneration`` (from a BART-flavoured one) holding
    the same weights as ``model``, on its device and dtype, in the same train/eval mode.

    ``attn_implementation``: Hugging Face's attention code (None = its default,
    "sdpa"); use "eager" to get attention weights with ``output_attentions=True``.
    """
    transformers = _import_transformers()
    if isinstance(model, GPTModel):
        return _gpt_to_transformers(model, attn_implementation)
    if isinstance(model, EncoderDecoderModel):
        return _seq2seq_to_transformers(model, attn_implementation)
    if not isinstance(model, BertForPreTraining):
        raise ValueError(
            f"to_transformers converts a course_utils BertForPreTraining; got "
            f"{type(model).__name__}, which is neither that nor a GPTModel nor an "
            f"EncoderDecoderModel (T5 or BART flavour)"
        )
    hf_config = bert_config_to_transformers(model.config, attn_implementation)
    weight = model.bert.embeddings.token_embeddings.weight
    with torch.device(weight.device):
        theirs = transformers.BertForPreTraining(hf_config).to(weight.dtype)
    state = rename_parameters(model.state_dict(), bert_pretraining_names(model.config.num_layers))
    state["cls.predictions.bias"] = state["cls.predictions.decoder.bias"]  # same tensor in HF
    theirs.load_state_dict(state)
    return theirs.train(model.training)


def from_transformers(
    hf_model: (
        transformers.BertForPreTraining | transformers.GPT2LMHeadModel
        | transformers.T5ForConditionalGeneration | transformers.BartForConditionalGeneration
    ),
) -> BertForPreTraining | GPTModel | EncoderDecoderModel:  # fmt: skip
    """Our ``BertForPreTraining`` (from a ``transformers.BertForPreTraining``), our
    ``GPTModel`` (from a ``transformers.GPT2LMHeadModel``) or our ``EncoderDecoderModel``
    (from a ``T5ForConditionalGeneration`` or ``BartForConditionalGeneration``) holding
    the same weights as ``hf_model``, on its device and dtype, in the same train/eval mode.

    Hugging Face's ``pad_token_id`` row of BERT's (and BART's) token embeddings gets no
    gradient there; ours has no such special row (the forward pass is the same).
    """
    transformers = _import_transformers()
    if isinstance(hf_model, transformers.GPT2LMHeadModel):
        return _gpt_from_transformers(hf_model)
    if isinstance(hf_model, (transformers.T5ForConditionalGeneration,
                             transformers.BartForConditionalGeneration)):  # fmt: skip
        return _seq2seq_from_transformers(hf_model)
    if not isinstance(hf_model, transformers.BertForPreTraining):
        raise ValueError(
            f"from_transformers converts a transformers.BertForPreTraining or "
            f"GPT2LMHeadModel; got {type(hf_model).__name__} (it also converts "
            f"T5ForConditionalGeneration and BartForConditionalGeneration)"
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


# --- GPT <-> Hugging Face transformers (GPT-2) --------------------------------

GPT2_LAYER_NAMES: dict[str, str] = {
    "norm1": "ln_1",
    "self_attn.out_proj": "attn.c_proj",
    "norm2": "ln_2",
    "ff.linear1": "mlp.c_fc",
    "ff.linear2": "mlp.c_proj",
}
"""Our ``DecoderLayer`` submodules -> their names in Hugging Face's ``GPT2Block``
(pre-LN, the same computation). Our ``self_attn.q_proj``, ``k_proj`` and ``v_proj``
together are their ``attn.c_attn``. Their linear layers are ``Conv1D``: the weight
is stored as ``(in, out)``, the transpose of ``nn.Linear``'s ``(out, in)``."""

_GPT2_CONV1D = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


def gpt2_config_to_transformers(
    config: ModelConfig, attn_implementation: str | None = None
) -> transformers.GPT2Config:
    """The ``transformers.GPT2Config`` of ``config``; a ValueError names what Hugging
    Face's GPT-2 cannot express.

    Our one ``dropout`` becomes GPT-2's three (embeddings, residual, attention); with
    dropout on, our feed-forward also drops inside (after the activation), so only the
    eval-mode functions are the same. ``bos_token_id`` and ``eos_token_id`` are None:
    our config knows no special tokens (set ``generation_config.eos_token_id`` to stop
    Hugging Face's ``generate`` at one).
    """
    transformers = _import_transformers()
    problems = [
        text
        for wrong, text in (
            (config.arch != "decoder", f"arch={config.arch!r} (needs 'decoder')"),
            (not config.norm_first, "norm_first=False (GPT-2 is pre-LN)"),
            (not config.final_norm, "final_norm=False (GPT-2 has ln_f)"),
            (not config.tie_embeddings, "tie_embeddings=False"),
            (
                config.num_kv_heads not in (None, config.num_heads),
                f"num_kv_heads={config.num_kv_heads} (no grouped-query attention)",
            ),
            (config.positions != "learned", f"positions={config.positions!r} (needs 'learned')"),
            (config.scale_embeddings, "scale_embeddings=True"),
        )
        if wrong
    ]
    if problems:
        raise ValueError(f"Hugging Face GPT-2 cannot express {'; '.join(problems)}")
    kwargs = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    return transformers.GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.max_positions, n_embd=config.d_model,
        n_layer=config.num_layers, n_head=config.num_heads, n_inner=config.d_ff,
        activation_function=_ACTIVATIONS_TO_HF[config.activation],
        resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=config.dropout,
        layer_norm_epsilon=config.layer_norm_eps, initializer_range=config.init_std,
        bos_token_id=None, eos_token_id=None, tie_word_embeddings=True, **kwargs,
    )  # fmt: skip


def gpt2_config_from_transformers(hf_config: transformers.GPT2Config) -> ModelConfig:
    """The ``ModelConfig`` of a ``transformers.GPT2Config``;
    a ValueError names what our GPT cannot express."""
    c = hf_config
    dropouts = {c.resid_pdrop, c.embd_pdrop, c.attn_pdrop}
    problems = [
        text
        for wrong, text in (
            (c.activation_function not in _ACTIVATIONS_FROM_HF,
             f"activation_function={c.activation_function!r} "
             f"(allowed: {', '.join(_ACTIVATIONS_FROM_HF)})"),
            (len(dropouts) > 1,
             f"resid_pdrop={c.resid_pdrop}, embd_pdrop={c.embd_pdrop}, attn_pdrop={c.attn_pdrop} "
             f"(we have one dropout)"),
            (not c.scale_attn_weights, "scale_attn_weights=False"),
            (c.scale_attn_by_inverse_layer_idx, "scale_attn_by_inverse_layer_idx=True"),
            (getattr(c, "add_cross_attention", False), "add_cross_attention=True"),
            (not getattr(c, "tie_word_embeddings", True), "tie_word_embeddings=False"),
        )  # fmt: skip
        if wrong
    ]
    if problems:
        raise ValueError(f"our GPT cannot express {'; '.join(problems)}")
    return ModelConfig(
        arch="decoder", vocab_size=c.vocab_size, max_positions=c.n_positions, d_model=c.n_embd,
        num_layers=c.n_layer, num_heads=c.n_head,
        d_ff=c.n_inner if c.n_inner is not None else 4 * c.n_embd, norm_first=True,
        activation=_ACTIVATIONS_FROM_HF[c.activation_function],
        layer_norm_eps=c.layer_norm_epsilon, dropout=c.resid_pdrop, tie_embeddings=True,
        final_norm=True, init_std=c.initializer_range,
    )  # fmt: skip


def gpt_state_dict_to_gpt2(ours: Mapping[str, Tensor], num_layers: int) -> dict[str, Tensor]:
    """A ``GPTModel`` state dict (or any tensors keyed like it, such as gradients) under
    ``transformers.GPT2LMHeadModel``'s names and layouts: ``c_attn`` packs the query, key
    and value projections, and every ``Conv1D`` weight is the transpose of our
    ``nn.Linear`` one."""
    state = {
        "transformer.wte.weight": ours["token_embeddings.weight"],
        "transformer.wpe.weight": ours["position_embeddings.weight"],
        "transformer.ln_f.weight": ours["decoder.norm.weight"],
        "transformer.ln_f.bias": ours["decoder.norm.bias"],
        "lm_head.weight": ours["lm_head.weight"],  # the same tensor as wte (tied)
    }
    for i in range(num_layers):
        layer, block = f"decoder.layers.{i}", f"transformer.h.{i}"
        for param in ("weight", "bias"):
            qkv = torch.cat([ours[f"{layer}.self_attn.{p}_proj.{param}"] for p in "qkv"])
            state[f"{block}.attn.c_attn.{param}"] = qkv.T if param == "weight" else qkv
            for our_name, their_name in GPT2_LAYER_NAMES.items():
                value = ours[f"{layer}.{our_name}.{param}"]
                is_conv1d_weight = param == "weight" and their_name in _GPT2_CONV1D
                state[f"{block}.{their_name}.{param}"] = value.T if is_conv1d_weight else value
    return state


def gpt_state_dict_from_gpt2(theirs: Mapping[str, Tensor], num_layers: int) -> dict[str, Tensor]:
    """The inverse of ``gpt_state_dict_to_gpt2``: a ``GPT2LMHeadModel`` state dict under our
    ``GPTModel``'s names and layouts."""
    state = {
        "token_embeddings.weight": theirs["transformer.wte.weight"],
        "position_embeddings.weight": theirs["transformer.wpe.weight"],
        "decoder.norm.weight": theirs["transformer.ln_f.weight"],
        "decoder.norm.bias": theirs["transformer.ln_f.bias"],
        "lm_head.weight": theirs["transformer.wte.weight"],  # tied
    }
    for i in range(num_layers):
        layer, block = f"decoder.layers.{i}", f"transformer.h.{i}"
        for param in ("weight", "bias"):
            qkv = theirs[f"{block}.attn.c_attn.{param}"]
            qkv = qkv.T if param == "weight" else qkv  # (3D, D) or (3D,)
            for p, piece in zip("qkv", qkv.chunk(3)):
                state[f"{layer}.self_attn.{p}_proj.{param}"] = piece
            for our_name, their_name in GPT2_LAYER_NAMES.items():
                value = theirs[f"{block}.{their_name}.{param}"]
                is_conv1d_weight = param == "weight" and their_name in _GPT2_CONV1D
                state[f"{layer}.{our_name}.{param}"] = value.T if is_conv1d_weight else value
    return state


def _gpt_to_transformers(
    model: GPTModel, attn_implementation: str | None
) -> transformers.GPT2LMHeadModel:
    transformers = _import_transformers()
    hf_config = gpt2_config_to_transformers(model.config, attn_implementation)
    weight = model.token_embeddings.weight
    with torch.device(weight.device):
        theirs = transformers.GPT2LMHeadModel(hf_config).to(weight.dtype)
    theirs.load_state_dict(gpt_state_dict_to_gpt2(model.state_dict(), model.config.num_layers))
    return theirs.train(model.training)


def _gpt_from_transformers(hf_model: transformers.GPT2LMHeadModel) -> GPTModel:
    config = gpt2_config_from_transformers(hf_model.config)
    weight = hf_model.transformer.wte.weight
    with torch.device(weight.device):
        ours = GPTModel(config).to(weight.dtype)
    ours.load_state_dict(gpt_state_dict_from_gpt2(hf_model.state_dict(), config.num_layers))
    return ours.train(hf_model.training)


# --- T5 and BART <-> Hugging Face transformers ---------------------------------

T5_LAYER_NAMES: dict[str, dict[str, str]] = {
    "encoder": {
        "self_attn.q_proj": "layer.0.SelfAttention.q",
        "self_attn.k_proj": "layer.0.SelfAttention.k",
        "self_attn.v_proj": "layer.0.SelfAttention.v",
        "self_attn.out_proj": "layer.0.SelfAttention.o",
        "norm1": "layer.0.layer_norm",
        "ff.linear1": "layer.1.DenseReluDense.wi",
        "ff.linear2": "layer.1.DenseReluDense.wo",
        "norm2": "layer.1.layer_norm",
    },
    "decoder": {
        "self_attn.q_proj": "layer.0.SelfAttention.q",
        "self_attn.k_proj": "layer.0.SelfAttention.k",
        "self_attn.v_proj": "layer.0.SelfAttention.v",
        "self_attn.out_proj": "layer.0.SelfAttention.o",
        "norm1": "layer.0.layer_norm",
        "cross_attn.q_proj": "layer.1.EncDecAttention.q",
        "cross_attn.k_proj": "layer.1.EncDecAttention.k",
        "cross_attn.v_proj": "layer.1.EncDecAttention.v",
        "cross_attn.out_proj": "layer.1.EncDecAttention.o",
        "norm_cross": "layer.1.layer_norm",
        "ff.linear1": "layer.2.DenseReluDense.wi",
        "ff.linear2": "layer.2.DenseReluDense.wo",
        "norm2": "layer.2.layer_norm",
    },
}
"""Our ``EncoderLayer`` / ``DecoderLayer`` submodules -> their names inside Hugging Face's
``T5Block`` (pre-norm, the same computation), for the encoder and the decoder stack."""

_BART_ENCODER_LAYER = {
    **{f"self_attn.{p}_proj": f"self_attn.{p}_proj" for p in ("q", "k", "v", "out")},
    "norm1": "self_attn_layer_norm",
    "ff.linear1": "fc1",
    "ff.linear2": "fc2",
    "norm2": "final_layer_norm",
}
BART_LAYER_NAMES: dict[str, dict[str, str]] = {
    "encoder": _BART_ENCODER_LAYER,
    "decoder": {
        **_BART_ENCODER_LAYER,
        **{f"cross_attn.{p}_proj": f"encoder_attn.{p}_proj" for p in ("q", "k", "v", "out")},
        "norm_cross": "encoder_attn_layer_norm",
    },
}
"""Our layer submodules -> their names in Hugging Face's ``BartEncoderLayer`` and
``BartDecoderLayer`` (post-LN, the same computation)."""


def seq2seq_names(config: ModelConfig, flavour: str) -> dict[str, str]:
    """Our T5- or BART-flavoured ``EncoderDecoderModel`` submodules -> their names in
    ``transformers.T5ForConditionalGeneration`` (``flavour="t5"``) or
    ``BartForConditionalGeneration`` (``"bart"``).

    Their encoder's and decoder's ``embed_tokens`` (and ``lm_head``) are the same
    tensor as the shared embedding; ``seq2seq_tied_names`` lists them.
    """
    if flavour not in ("t5", "bart"):
        raise ValueError(f"unknown flavour {flavour!r}; allowed: t5, bart")
    if flavour == "t5":
        names = {
            "token_embeddings": "shared",
            "encoder.norm": "encoder.final_layer_norm",
            "decoder.norm": "decoder.final_layer_norm",
            "lm_head": "lm_head",
        }
        for stack in ("encoder", "decoder"):
            bias = f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias"
            names[f"{stack}.position_bias.table"] = bias  # in their first layer
        prefix, block, layer_names = "", "block", T5_LAYER_NAMES
    else:
        names = {"token_embeddings": "model.shared", "lm_head": "lm_head"}
        for stack in ("encoder", "decoder"):
            names[f"{stack}_positions"] = f"model.{stack}.embed_positions"
            names[f"{stack}_embedding_norm"] = f"model.{stack}.layernorm_embedding"
        prefix, block, layer_names = "model.", "layers", BART_LAYER_NAMES
    for stack, num_layers in (("encoder", config.num_layers), ("decoder", config.decoder_layers)):
        for i in range(num_layers):
            for ours, theirs in layer_names[stack].items():
                names[f"{stack}.layers.{i}.{ours}"] = f"{prefix}{stack}.{block}.{i}.{theirs}"
    return names


def seq2seq_tied_names(flavour: str) -> tuple[str, ...]:
    """Hugging Face's other names of the shared embedding matrix in ``flavour``."""
    prefix = "" if flavour == "t5" else "model."
    return tuple(f"{prefix}{stack}.embed_tokens" for stack in ("encoder", "decoder"))


def _encoder_decoder_problems(config: ModelConfig, flavour: str) -> list[str]:
    """What Hugging Face's T5 or BART cannot express about ``config``."""
    t5 = flavour == "t5"
    name = "T5" if t5 else "BART"
    return [
        text
        for wrong, text in (
            (config.arch != "encoder-decoder", f"arch={config.arch!r} (needs 'encoder-decoder')"),
            (config.norm_first != t5, f"norm_first={config.norm_first} ({name} is "
                                      f"{'pre-norm' if t5 else 'post-LN'})"),
            (config.final_norm != t5, f"final_norm={config.final_norm}"),
            (config.norm != ("rms" if t5 else "layer"), f"norm={config.norm!r}"),
            (config.bias == t5, f"bias={config.bias}"),
            (config.scale_attention == t5, f"scale_attention={config.scale_attention}"),
            (config.positions != ("t5_relative" if t5 else "learned"),
             f"positions={config.positions!r}"),
            (config.position_offset != (0 if t5 else 2),
             f"position_offset={config.position_offset} ({name} has {0 if t5 else 2})"),
            (config.embedding_norm == t5, f"embedding_norm={config.embedding_norm}"),
            (config.scale_decoder_output != t5,
             f"scale_decoder_output={config.scale_decoder_output}"),
            (config.scale_embeddings and t5, "scale_embeddings=True"),
            (not config.tie_embeddings, "tie_embeddings=False"),
            (config.num_kv_heads not in (None, config.num_heads),
             f"num_kv_heads={config.num_kv_heads} (no grouped-query attention)"),
            (not t5 and config.layer_norm_eps != 1e-5,
             f"layer_norm_eps={config.layer_norm_eps} (BART's LayerNorms have eps 1e-5)"),
            (t5 and config.activation not in _ACTIVATIONS_TO_HF,
             f"activation={config.activation!r}"),
        )  # fmt: skip
        if wrong
    ]


def t5_config_to_transformers(
    config: ModelConfig, attn_implementation: str | None = None
) -> transformers.T5Config:
    """The ``transformers.T5Config`` of a T5-flavoured ``config``; a ValueError names what
    Hugging Face's T5 cannot express. Special tokens keep T5's ids (pad 0, which also
    starts the decoder, and eos 1): set them on ``generation_config`` for ``generate``."""
    transformers = _import_transformers()
    problems = _encoder_decoder_problems(config, "t5")
    if problems:
        raise ValueError(f"Hugging Face T5 cannot express {'; '.join(problems)}")
    kwargs = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    return transformers.T5Config(
        vocab_size=config.vocab_size, d_model=config.d_model, d_kv=config.head_dim,
        d_ff=config.d_ff, num_layers=config.num_layers,
        num_decoder_layers=config.decoder_layers, num_heads=config.num_heads,
        relative_attention_num_buckets=config.relative_buckets,
        relative_attention_max_distance=config.relative_max_distance,
        dropout_rate=config.dropout, layer_norm_epsilon=config.layer_norm_eps,
        feed_forward_proj=_ACTIVATIONS_TO_HF[config.activation], **kwargs,
    )  # fmt: skip


def t5_config_from_transformers(
    hf_config: transformers.T5Config, max_positions: int = 512
) -> ModelConfig:
    """The ``ModelConfig`` of a ``transformers.T5Config``; a ValueError names what our T5
    cannot express. T5 has no longest sequence; ``max_positions`` is recorded."""
    c = hf_config
    problems = [
        text
        for wrong, text in (
            (c.is_gated_act, f"feed_forward_proj={c.feed_forward_proj!r} (no gated feed-forward)"),
            (c.dense_act_fn not in _ACTIVATIONS_FROM_HF, f"activation {c.dense_act_fn!r}"),
            (c.d_kv * c.num_heads != c.d_model,
             f"d_kv={c.d_kv} * num_heads={c.num_heads} != d_model={c.d_model}"),
            (not c.scale_decoder_outputs, "unscaled decoder outputs (T5 v1.1)"),
        )  # fmt: skip
        if wrong
    ]
    if problems:
        raise ValueError(f"our T5 cannot express {'; '.join(problems)}")
    return dataclasses.replace(
        NAMED_CONFIGS["t5-small"], vocab_size=c.vocab_size, max_positions=max_positions,
        d_model=c.d_model, num_layers=c.num_layers, num_decoder_layers=c.num_decoder_layers,
        num_heads=c.num_heads, d_ff=c.d_ff, activation=_ACTIVATIONS_FROM_HF[c.dense_act_fn],
        layer_norm_eps=c.layer_norm_epsilon, dropout=c.dropout_rate,
        relative_buckets=c.relative_attention_num_buckets,
        relative_max_distance=c.relative_attention_max_distance,
    )  # fmt: skip


def bart_config_to_transformers(
    config: ModelConfig, attn_implementation: str | None = None
) -> transformers.BartConfig:
    """The ``transformers.BartConfig`` of a BART-flavoured ``config``; a ValueError names
    what Hugging Face's BART cannot express. Our one ``dropout`` becomes BART's three
    (residual, attention, activation). Special tokens keep BART's ids (bos 0, pad 1,
    eos 2, which also starts the decoder)."""
    transformers = _import_transformers()
    problems = _encoder_decoder_problems(config, "bart")
    if config.activation not in _ACTIVATIONS_TO_HF:
        problems.append(f"activation={config.activation!r}")
    if problems:
        raise ValueError(f"Hugging Face BART cannot express {'; '.join(problems)}")
    kwargs = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    return transformers.BartConfig(
        vocab_size=config.vocab_size, max_position_embeddings=config.max_positions,
        d_model=config.d_model, encoder_layers=config.num_layers,
        decoder_layers=config.decoder_layers, encoder_attention_heads=config.num_heads,
        decoder_attention_heads=config.num_heads, encoder_ffn_dim=config.d_ff,
        decoder_ffn_dim=config.d_ff, activation_function=_ACTIVATIONS_TO_HF[config.activation],
        dropout=config.dropout, attention_dropout=config.dropout,
        activation_dropout=config.dropout, init_std=config.init_std,
        scale_embedding=config.scale_embeddings, tie_word_embeddings=True, **kwargs,
    )  # fmt: skip


def bart_config_from_transformers(hf_config: transformers.BartConfig) -> ModelConfig:
    """The ``ModelConfig`` of a ``transformers.BartConfig``; a ValueError names what our
    BART cannot express."""
    c = hf_config
    dropouts = {c.dropout, c.attention_dropout, c.activation_dropout}
    problems = [
        text
        for wrong, text in (
            (c.activation_function not in _ACTIVATIONS_FROM_HF,
             f"activation_function={c.activation_function!r}"),
            (c.encoder_attention_heads != c.decoder_attention_heads,
             "encoder_attention_heads != decoder_attention_heads"),
            (c.encoder_ffn_dim != c.decoder_ffn_dim, "encoder_ffn_dim != decoder_ffn_dim"),
            (len(dropouts) > 1, f"dropout={c.dropout}, attention_dropout={c.attention_dropout}, "
                                f"activation_dropout={c.activation_dropout} (we have one dropout)"),
            (c.encoder_layerdrop or c.decoder_layerdrop, "layerdrop (no layer dropping)"),
            (not c.tie_word_embeddings, "tie_word_embeddings=False"),
        )  # fmt: skip
        if wrong
    ]
    if problems:
        raise ValueError(f"our BART cannot express {'; '.join(problems)}")
    return dataclasses.replace(
        NAMED_CONFIGS["bart-base"], vocab_size=c.vocab_size,
        max_positions=c.max_position_embeddings, d_model=c.d_model,
        num_layers=c.encoder_layers, num_decoder_layers=c.decoder_layers,
        num_heads=c.encoder_attention_heads, d_ff=c.encoder_ffn_dim,
        activation=_ACTIVATIONS_FROM_HF[c.activation_function], dropout=c.dropout,
        init_std=c.init_std, scale_embeddings=c.scale_embedding,
    )  # fmt: skip


def _flavour(config: ModelConfig) -> str:
    """"t5" for T5 positions, else "bart" (whose config check names what does not fit)."""
    return "t5" if config.positions == "t5_relative" else "bart"


def _seq2seq_to_transformers(
    model: EncoderDecoderModel, attn_implementation: str | None
) -> transformers.T5ForConditionalGeneration | transformers.BartForConditionalGeneration:
    transformers = _import_transformers()
    flavour = _flavour(model.config)
    if flavour == "t5":
        hf_class = transformers.T5ForConditionalGeneration
        hf_config = t5_config_to_transformers(model.config, attn_implementation)
    else:
        hf_class = transformers.BartForConditionalGeneration
        hf_config = bart_config_to_transformers(model.config, attn_implementation)
    weight = model.token_embeddings.weight
    with torch.device(weight.device):
        theirs = hf_class(hf_config).to(weight.dtype)
    state = rename_parameters(model.state_dict(), seq2seq_names(model.config, flavour))
    for name in seq2seq_tied_names(flavour):
        state[f"{name}.weight"] = weight
    if flavour == "bart":  # a buffer of zeros in Hugging Face's BART; we have none
        state["final_logits_bias"] = theirs.final_logits_bias
    theirs.load_state_dict(state)
    return theirs.train(model.training)


def _seq2seq_from_transformers(
    hf_model: transformers.T5ForConditionalGeneration | transformers.BartForConditionalGeneration,
) -> EncoderDecoderModel:
    transformers = _import_transformers()
    if isinstance(hf_model, transformers.T5ForConditionalGeneration):
        flavour, config = "t5", t5_config_from_transformers(hf_model.config)
    else:
        flavour, config = "bart", bart_config_from_transformers(hf_model.config)
        if hf_model.final_logits_bias.any():
            raise ValueError("our BART has no final_logits_bias; this model's is not zero")
    weight = hf_model.get_input_embeddings().weight
    with torch.device(weight.device):
        ours = EncoderDecoderModel(config).to(weight.dtype)
    theirs = hf_model.state_dict()
    names = seq2seq_names(config, flavour)
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

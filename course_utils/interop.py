"""Converting the course's modules to the industry implementations they are tested against.

- ``to_torch_multihead_attention``: our attention as ``torch.nn.MultiheadAttention``;
- ``to_transformers`` / ``from_transformers``: our ``BertForPreTraining`` to and
  from Hugging Face's, and our ``GPTModel`` to and from ``GPT2LMHeadModel``
  (``pip install transformers``); both functions pick the conversion by the
  model's type. The two compute the same function; only the parameter names
  differ (``BERT_LAYER_NAMES``, ``GPT2_LAYER_NAMES``), and GPT-2 stores its
  projections as ``Conv1D`` layers, whose weights are the transposes of ours,
  with the query, key and value projections packed into one ``c_attn``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from course_utils.attention import MultiHeadAttention
from course_utils.models import BertForPreTraining, GPTModel, ModelConfig

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
    model: BertForPreTraining | GPTModel, attn_implementation: str | None = None
) -> transformers.BertForPreTraining | transformers.GPT2LMHeadModel:
    """A ``transformers.BertForPreTraining`` (from our ``BertForPreTraining``) or
    ``transformers.GPT2LMHeadModel`` (from our ``GPTModel``) holding the same weights as
    ``model``, on its device and dtype, in the same train/eval mode.

    ``attn_implementation``: Hugging Face's attention code (None = its default,
    "sdpa"); use "eager" to get attention weights with ``output_attentions=True``.
    """
    transformers = _import_transformers()
    if isinstance(model, GPTModel):
        return _gpt_to_transformers(model, attn_implementation)
    if not isinstance(model, BertForPreTraining):
        raise ValueError(
            f"to_transformers converts a course_utils BertForPreTraining; got "
            f"{type(model).__name__}, which is neither that nor a GPTModel"
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
    hf_model: transformers.BertForPreTraining | transformers.GPT2LMHeadModel,
) -> BertForPreTraining | GPTModel:
    """Our ``BertForPreTraining`` (from a ``transformers.BertForPreTraining``) or our
    ``GPTModel`` (from a ``transformers.GPT2LMHeadModel``) holding the same weights as
    ``hf_model``, on its device and dtype, in the same train/eval mode.

    Hugging Face's ``pad_token_id`` row of BERT's token embeddings gets no gradient
    there; ours has no such special row (the forward pass is the same).
    """
    transformers = _import_transformers()
    if isinstance(hf_model, transformers.GPT2LMHeadModel):
        return _gpt_from_transformers(hf_model)
    if not isinstance(hf_model, transformers.BertForPreTraining):
        raise ValueError(
            f"from_transformers converts a transformers.BertForPreTraining or "
            f"GPT2LMHeadModel; got {type(hf_model).__name__}"
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


def _import_transformers() -> ModuleType:
    try:
        import transformers
    except ImportError as error:
        raise ImportError(
            "converting to or from Hugging Face needs the transformers library: "
            "pip install transformers"
        ) from error
    return transformers

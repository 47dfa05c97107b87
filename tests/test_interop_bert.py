"""Our BertForPreTraining against Hugging Face's: the conversion both ways, equal logits,
attentions and gradients, config mapping and its errors."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch
from torch import nn

from course_utils.interop import (
    bert_config_from_transformers,
    bert_config_to_transformers,
    bert_pretraining_names,
    from_transformers,
    rename_parameters,
    to_transformers,
)
from course_utils.models import BertForPreTraining

transformers = pytest.importorskip("transformers")

ATOL = 1e-5
# 1 = real token, 0 = padding; the second and third sequences are padded.
MASK = torch.tensor([[1] * 9, [1] * 6 + [0] * 3, [1] * 2 + [0] * 7])
REAL = MASK.bool()


@pytest.fixture
def ours_random(bert_config, randomize):
    """``ours_random(seed=0)``: our BertForPreTraining of ``bert_config`` with random
    parameters, in eval mode."""
    return lambda seed=0: randomize(BertForPreTraining(bert_config), seed).eval()


def batch(seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(0, 100, MASK.shape, generator=gen),  # bert_config's vocab
        "token_type_ids": (torch.arange(9) >= 4).long().expand(3, 9),  # sentence A, then B
        "attention_mask": MASK,
    }


def assert_same_outputs(ours: BertForPreTraining, theirs: nn.Module) -> None:
    inputs = batch()
    with torch.no_grad():
        got = ours(**inputs)
        expected = theirs(**inputs)
    # Padded positions' outputs are meaningless; compare the real ones.
    torch.testing.assert_close(
        got.mlm_logits[REAL], expected.prediction_logits[REAL], atol=ATOL, rtol=1e-5
    )
    torch.testing.assert_close(
        got.nsp_logits, expected.seq_relationship_logits, atol=ATOL, rtol=1e-5
    )


def test_ours_to_transformers_gives_the_same_logits(ours_random):
    ours = ours_random()
    theirs = to_transformers(ours)
    assert isinstance(theirs, transformers.BertForPreTraining)
    assert not theirs.training  # the same mode as ours
    assert theirs.cls.predictions.decoder.weight is theirs.bert.embeddings.word_embeddings.weight
    assert_same_outputs(ours, theirs)


def test_transformers_to_ours_gives_the_same_logits(bert_config, randomize):
    torch.manual_seed(0)
    theirs = transformers.BertForPreTraining(bert_config_to_transformers(bert_config))
    randomize(theirs, seed=3).eval()
    ours = from_transformers(theirs)
    assert ours.config == bert_config
    assert not ours.training
    assert ours.mlm.decoder.weight is ours.bert.embeddings.token_embeddings.weight
    assert_same_outputs(ours, theirs)


def test_round_trip_gives_identical_state_dicts(ours_random):
    ours = ours_random()
    back = from_transformers(to_transformers(ours))
    assert back.config == ours.config
    expected = ours.state_dict()
    assert back.state_dict().keys() == expected.keys()
    for key, value in back.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_attention_weights_match_eager_attention(ours_random, bert_config):
    ours = ours_random()
    theirs = to_transformers(ours, attn_implementation="eager")
    inputs = batch()
    with torch.no_grad():
        got = ours(**inputs, need_weights=True).attentions
        expected = theirs(**inputs, output_attentions=True).attentions
    assert len(got) == len(expected) == bert_config.num_layers
    rows = REAL[:, None, :, None].expand(-1, bert_config.num_heads, -1, 9)  # real queries
    for g, e in zip(got, expected):
        torch.testing.assert_close(g[rows], e[rows], atol=ATOL, rtol=0)
        assert torch.all(g[~REAL[:, None, None, :].expand_as(g)] == 0)  # no weight on padding


def test_masked_positions_match_transformers_logits_there(ours_random, bert_config):
    ours = ours_random()
    theirs = to_transformers(ours)
    inputs = batch()
    masked = REAL & (torch.arange(9) % 3 == 1)
    with torch.no_grad():
        got = ours(**inputs, masked_positions=masked).mlm_logits
        full = ours(**inputs).mlm_logits
        expected = theirs(**inputs).prediction_logits
    assert got.shape == (int(masked.sum()), bert_config.vocab_size)
    torch.testing.assert_close(got, full[masked], atol=1e-6, rtol=0)
    torch.testing.assert_close(got, expected[masked], atol=ATOL, rtol=1e-5)


def test_gradients_match_transformers(ours_random, bert_config):
    """One MLM + NSP loss, backward: every parameter gets the same gradient in both."""
    ours = ours_random()
    theirs = to_transformers(ours)
    inputs = batch()
    labels = torch.where(REAL, inputs["input_ids"], -100)
    nsp_labels = torch.tensor([0, 1, 1])

    def loss_of(mlm_logits: torch.Tensor, nsp_logits: torch.Tensor) -> torch.Tensor:
        mlm = nn.functional.cross_entropy(mlm_logits.flatten(0, 1), labels.flatten())
        return mlm + nn.functional.cross_entropy(nsp_logits, nsp_labels)

    out = ours(**inputs)
    loss_of(out.mlm_logits, out.nsp_logits).backward()
    hf_out = theirs(**inputs)
    loss_of(hf_out.prediction_logits, hf_out.seq_relationship_logits).backward()

    names = bert_pretraining_names(bert_config.num_layers)
    our_grads = {name: p.grad for name, p in ours.named_parameters()}
    # Both models list each tied tensor once; remove_duplicate=False lists HF's under every name.
    their_grads = {name: p.grad for name, p in theirs.named_parameters(remove_duplicate=False)}
    for name, grad in rename_parameters(our_grads, names).items():
        torch.testing.assert_close(grad, their_grads[name], atol=1e-5, rtol=1e-4, msg=name)


def test_conversion_keeps_dtype_and_training_mode(ours_random):
    ours = ours_random().double().train()
    theirs = to_transformers(ours)
    assert theirs.training and theirs.cls.seq_relationship.weight.dtype == torch.float64
    back = from_transformers(theirs)
    assert back.training and back.nsp.weight.dtype == torch.float64


def test_config_mapping(bert_config):
    ours = dataclasses.replace(bert_config, activation="gelu_tanh", dropout=0.1)
    hf = bert_config_to_transformers(ours)
    assert (hf.vocab_size, hf.hidden_size, hf.num_hidden_layers, hf.num_attention_heads) == (
        100, 32, 2, 4,
    )  # fmt: skip
    assert (hf.intermediate_size, hf.max_position_embeddings, hf.type_vocab_size) == (64, 64, 2)
    assert hf.hidden_act == "gelu_new" and hf.layer_norm_eps == 1e-12
    assert hf.hidden_dropout_prob == hf.attention_probs_dropout_prob == 0.1
    assert hf.pad_token_id is None  # our embeddings have no padding row
    assert bert_config_from_transformers(hf) == ours
    hf.hidden_act = "gelu_pytorch_tanh"  # the same function under another name
    assert bert_config_from_transformers(hf).activation == "gelu_tanh"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"norm_first": True}, "norm_first=True"),
        ({"num_kv_heads": 2}, "num_kv_heads=2"),
        ({"positions": "sinusoidal"}, "positions='sinusoidal'"),
        ({"scale_embeddings": True}, "scale_embeddings=True"),
        ({"final_norm": True}, "final_norm=True"),
        ({"pooler": False}, "pooler=False"),
        ({"type_vocab_size": 0}, "type_vocab_size=0"),
    ],
)
def test_configs_hugging_face_cannot_express(overrides, message, bert_config):
    with pytest.raises(ValueError, match=f"Hugging Face BERT cannot express .*{message}"):
        bert_config_to_transformers(dataclasses.replace(bert_config, **overrides))


def test_grouped_query_config_with_all_heads_is_fine(bert_config):
    config = bert_config_to_transformers(dataclasses.replace(bert_config, num_kv_heads=4))
    assert config.num_attention_heads == 4


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"hidden_act": "silu"}, "hidden_act='silu'"),
        ({"attention_probs_dropout_prob": 0.2}, "one dropout"),
        ({"tie_word_embeddings": False}, "tie_word_embeddings=False"),
    ],
)
def test_configs_we_cannot_express(changes, message, bert_config):
    hf = bert_config_to_transformers(bert_config)
    for key, value in changes.items():
        setattr(hf, key, value)
    with pytest.raises(ValueError, match=f"our BERT cannot express .*{message}"):
        bert_config_from_transformers(hf)


def test_only_pretraining_models_are_converted(ours_random):
    with pytest.raises(ValueError, match="converts a course_utils BertForPreTraining; got BertModel"):
        to_transformers(ours_random().bert)
    theirs = to_transformers(ours_random())
    with pytest.raises(ValueError, match="converts a transformers.BertForPreTraining"):
        from_transformers(theirs.bert)


def test_rename_parameters_names_unknown_keys():
    with pytest.raises(ValueError, match="no name is known for 'mystery.weight'"):
        rename_parameters({"mystery.weight": torch.zeros(1)}, {"norm1": "LayerNorm"})


def test_missing_transformers_says_how_to_install(monkeypatch, ours_random):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(ImportError, match="pip install transformers"):
        to_transformers(ours_random())

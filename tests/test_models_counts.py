"""Parameter counts of the named models, built on the meta device (nothing allocated),
cross-checked against Hugging Face transformers built the same way."""

from __future__ import annotations

import pytest
import torch

from course_utils.models import (
    NAMED_CONFIGS,
    PARAMETER_GROUPS,
    count_parameters,
    create_model,
    get_config,
    parameter_groups,
)

PUBLISHED_COUNTS = {
    "bert-base": 109_482_240,  # with the pooler, as transformers' BertModel
    "bert-large": 335_141_888,
    "gpt2-small": 124_439_808,  # LM head tied to the token embeddings
    "gpt2-medium": 354_823_168,
}


def on_meta(name: str, **overrides):
    with torch.device("meta"):
        return create_model(name, **overrides)


@pytest.mark.parametrize("name", list(PUBLISHED_COUNTS))
def test_published_counts(name):
    assert count_parameters(on_meta(name)) == PUBLISHED_COUNTS[name]


@pytest.mark.parametrize("name", list(NAMED_CONFIGS))
def test_meta_device_allocates_nothing(name):
    model = on_meta(name)
    assert all(p.is_meta for p in model.parameters())
    assert all(b.is_meta for b in model.buffers())


def hf_model_on_meta(name: str):
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

    # Configs written out by hand (no download); the defaults are bert-base and gpt2.
    configs = {
        "bert-base": lambda: BertModel(BertConfig()),
        "bert-large": lambda: BertModel(
            BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                       intermediate_size=4096)
        ),
        "gpt2-small": lambda: GPT2Model(GPT2Config()),
        "gpt2-medium": lambda: GPT2Model(GPT2Config(n_embd=1024, n_layer=24, n_head=16)),
    }  # fmt: skip
    with torch.device("meta"):
        return configs[name]()


@pytest.mark.parametrize("name", list(PUBLISHED_COUNTS))
def test_counts_match_transformers(name):
    theirs = hf_model_on_meta(name)
    assert all(p.is_meta for p in theirs.parameters())
    # GPT2Model has no LM head; with a tied head, GPT2LMHeadModel counts the same.
    assert count_parameters(on_meta(name)) == sum(p.numel() for p in theirs.parameters())


def test_transformer_base_count():
    """Shared 37000-token embedding (also the output projection), biases in attention."""
    d, d_ff, vocab, layers = 512, 2048, 37_000, 6
    attention = 4 * (d * d + d)
    feed_forward = d * d_ff + d_ff + d_ff * d + d
    encoder_layer = attention + feed_forward + 2 * 2 * d
    decoder_layer = 2 * attention + feed_forward + 3 * 2 * d
    expected = vocab * d + layers * (encoder_layer + decoder_layer)
    assert expected == 63_082_496
    assert count_parameters(on_meta("transformer-base")) == expected


@pytest.mark.parametrize("name", list(NAMED_CONFIGS))
def test_parameter_groups_sum_to_total(name):
    model = on_meta(name)
    groups = parameter_groups(model)
    assert tuple(groups) == PARAMETER_GROUPS
    assert sum(groups.values()) == count_parameters(model)
    assert all(count >= 0 for count in groups.values())


def test_bert_base_groups():
    groups = parameter_groups(on_meta("bert-base"))
    d, layers = 768, 12
    # Token, position and segment tables; the embedding LayerNorm counts as "layer norm".
    assert groups["embeddings"] == 30522 * d + 512 * d + 2 * d
    assert groups["layer norm"] == (1 + 2 * layers) * 2 * d
    assert groups["attention"] == layers * 4 * (d * d + d)
    assert groups["feed-forward"] == layers * (2 * d * 3072 + 3072 + d)
    assert groups["pooler / head"] == d * d + d


def test_gpt2_groups_and_tied_head():
    model = on_meta("gpt2-small")
    assert model.lm_head.weight is model.token_embeddings.weight
    groups = parameter_groups(model)
    assert groups["embeddings"] == 50257 * 768 + 1024 * 768
    assert groups["pooler / head"] == 0  # the tied head is the embedding matrix
    assert groups["layer norm"] == (2 * 12 + 1) * 2 * 768  # two per layer plus ln_f

    untied = on_meta("gpt2-small", tie_embeddings=False)
    assert untied.lm_head.weight is not untied.token_embeddings.weight
    assert count_parameters(untied) == PUBLISHED_COUNTS["gpt2-small"] + 50257 * 768
    assert parameter_groups(untied)["pooler / head"] == 50257 * 768


def test_trainable_only():
    model = create_model("bert-tiny", vocab_size=50)
    total = count_parameters(model)
    model.embeddings.token_embeddings.weight.requires_grad_(False)
    assert count_parameters(model) == total
    assert count_parameters(model, trainable_only=True) == total - 50 * model.config.d_model


def test_grouped_query_attention_shrinks_attention():
    full = parameter_groups(on_meta("gpt2-small"))["attention"]
    grouped = parameter_groups(on_meta("gpt2-small", num_kv_heads=4))["attention"]
    d, kv_width = 768, 4 * 64
    assert full - grouped == 12 * 2 * (d * d + d - (d * kv_width + kv_width))


def test_sinusoidal_positions_have_no_parameters():
    config = get_config("transformer-base")
    assert config.positions == "sinusoidal"
    learned = on_meta("transformer-base", positions="learned")
    assert count_parameters(learned) - count_parameters(on_meta("transformer-base")) == (
        2 * config.max_positions * config.d_model  # one table for each side
    )

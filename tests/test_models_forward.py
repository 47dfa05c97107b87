"""Forward passes of the tiny models: shapes, padding, causality, encode/decode, errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from course_utils.config import get_scale
from course_utils.models import (
    NAMED_CONFIGS,
    TINY_VOCAB_SIZE,
    BertModel,
    EncoderDecoderModel,
    GPTModel,
    ModelConfig,
    create_model,
    get_config,
)
from course_utils.transformer import Decoder

VOCAB = 50
ATOL = 1e-5


def tiny(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, vocab_size=VOCAB, **overrides).eval()


def random_ids(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


# 1 = real token, 0 = padding (right-padded)
MASK = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])


def scramble_padding(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``ids`` with every padded position replaced by another token."""
    return torch.where(mask.bool(), ids, (ids + 7) % (VOCAB - 1) + 1)


# --- presets ----------------------------------------------------------------


def test_tiny_presets_follow_the_scale(monkeypatch):
    for name, cls in (("bert-tiny", BertModel), ("gpt-tiny", GPTModel),
                      ("encoder-decoder-tiny", EncoderDecoderModel)):  # fmt: skip
        config = get_config(name)
        sizes = get_scale().tiny
        assert (config.d_model, config.num_layers, config.num_heads, config.d_ff) == (
            sizes.d_model, sizes.num_layers, sizes.num_heads, sizes.d_ff
        )
        assert config.max_positions == sizes.max_positions
        assert config.vocab_size == TINY_VOCAB_SIZE
        assert isinstance(create_model(name, vocab_size=VOCAB), cls)
    monkeypatch.setenv("COURSE_SCALE", "laptop")
    assert NAMED_CONFIGS["gpt-tiny"].d_model == get_scale("laptop").tiny.d_model


def test_named_configs_are_what_the_papers_say():
    bert, gpt, base = (NAMED_CONFIGS[n] for n in ("bert-base", "gpt2-small", "transformer-base"))
    assert (bert.norm_first, bert.activation, bert.layer_norm_eps, bert.pooler) == (
        False, "gelu", 1e-12, True
    )
    assert (gpt.norm_first, gpt.activation, gpt.tie_embeddings, gpt.final_norm) == (
        True, "gelu_tanh", True, True
    )
    assert (base.arch, base.num_layers, base.decoder_layers, base.activation) == (
        "encoder-decoder", 6, 6, "relu"
    )


# --- BERT -------------------------------------------------------------------


def test_bert_shapes_and_weights():
    model = tiny("bert-tiny")
    config = model.config
    ids = random_ids(3, 6)
    out = model(ids, token_type_ids=torch.zeros_like(ids), attention_mask=MASK, need_weights=True)
    assert out.hidden.shape == (3, 6, config.d_model)
    assert out.pooled.shape == (3, config.d_model)
    assert len(out.attentions) == config.num_layers
    weights = out.attentions[0]
    assert weights.shape == (3, config.num_heads, 6, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, config.num_heads, 6))
    assert torch.all(weights[2, :, :, 2:] == 0)  # no attention to padding
    assert model(ids).attentions is None
    assert tiny("bert-tiny", pooler=False)(ids).pooled is None


def test_bert_padding_does_not_leak():
    model = tiny("bert-tiny")
    ids = random_ids(3, 6)
    out = model(ids, attention_mask=MASK)
    changed = model(scramble_padding(ids, MASK), attention_mask=MASK)
    real = MASK.bool()
    torch.testing.assert_close(out.hidden[real], changed.hidden[real], atol=ATOL, rtol=0)
    torch.testing.assert_close(out.pooled, changed.pooled, atol=ATOL, rtol=0)
    # Without the mask the padded tokens do change the real positions.
    unmasked = model(scramble_padding(ids, MASK)).hidden
    assert not torch.allclose(model(ids).hidden[real], unmasked[real])


def test_bert_segments():
    model = tiny("bert-tiny")
    ids = random_ids(2, 6)
    segments = torch.tensor([[0, 0, 0, 1, 1, 1]] * 2)
    assert not torch.allclose(model(ids).hidden, model(ids, token_type_ids=segments).hidden)
    torch.testing.assert_close(
        model(ids).hidden, model(ids, token_type_ids=torch.zeros_like(ids)).hidden
    )
    no_segments = tiny("bert-tiny", type_vocab_size=0)
    assert no_segments.embeddings.token_type_embeddings is None
    with pytest.raises(ValueError, match="type_vocab_size=0"):
        no_segments(ids, token_type_ids=segments)


# --- GPT --------------------------------------------------------------------


def test_gpt_shapes_and_tied_head():
    model = tiny("gpt-tiny")
    config = model.config
    out = model(random_ids(2, 5), need_weights=True)
    assert out.logits.shape == (2, 5, VOCAB)
    assert out.hidden.shape == (2, 5, config.d_model)
    assert len(out.attentions) == config.num_layers
    assert model.lm_head.weight is model.token_embeddings.weight
    torch.testing.assert_close(out.logits, out.hidden @ model.token_embeddings.weight.T)


def test_gpt_is_causal():
    model = tiny("gpt-tiny")
    ids = random_ids(2, 8)
    changed = ids.clone()
    changed[:, 5] = (changed[:, 5] + 1) % VOCAB
    logits, changed_logits = model(ids).logits, model(changed).logits
    torch.testing.assert_close(logits[:, :5], changed_logits[:, :5], atol=ATOL, rtol=0)
    assert not torch.allclose(logits[:, 5:], changed_logits[:, 5:])
    weights = model(ids, need_weights=True).attentions[0]
    assert torch.all(weights.triu(1) == 0)


def test_gpt_padding_does_not_leak():
    model = tiny("gpt-tiny")
    ids = random_ids(3, 6)
    mask = MASK.flip(-1)  # left padding, as when generating from prompts of different lengths
    out = model(ids, attention_mask=mask).logits
    changed = model(scramble_padding(ids, mask), attention_mask=mask).logits
    real = mask.bool()
    torch.testing.assert_close(out[real], changed[real], atol=ATOL, rtol=0)
    assert not torch.isnan(out).any()  # a padded position with nothing to attend to stays finite


def test_gpt_backward():
    model = create_model("gpt-tiny", vocab_size=VOCAB, num_kv_heads=1)  # multi-query attention
    ids = random_ids(2, 6)
    logits = model(ids[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


# --- encoder-decoder --------------------------------------------------------


def test_encoder_decoder_shapes():
    model = tiny("encoder-decoder-tiny")
    config = model.config
    src, tgt = random_ids(3, 6), random_ids(3, 4, seed=1)
    out = model(src, tgt, src_mask=MASK, need_weights=True)
    assert out.logits.shape == (3, 4, VOCAB)
    h, n = config.num_heads, config.num_layers
    assert [w.shape for w in out.encoder_attentions] == [(3, h, 6, 6)] * n
    assert [w.shape for w in out.decoder_attentions] == [(3, h, 4, 4)] * n
    assert [w.shape for w in out.cross_attentions] == [(3, h, 4, 6)] * n
    assert model.lm_head.weight is model.token_embeddings.weight
    assert model(src, tgt).encoder_attentions is None
    assert len(tiny("encoder-decoder-tiny", num_decoder_layers=3).decoder.layers) == 3


def test_encoder_decoder_forward_equals_encode_then_decode():
    model = tiny("encoder-decoder-tiny")
    src, tgt = random_ids(3, 6), random_ids(3, 5, seed=1)
    tgt_mask = torch.tensor([[1] * 5, [1] * 5, [1] * 3 + [0] * 2])
    logits = model(src, tgt, src_mask=MASK, tgt_mask=tgt_mask).logits
    memory = model.encode(src, MASK)
    assert memory.shape == (3, 6, model.config.d_model)
    decoded = model.decode(tgt, memory, memory_mask=MASK, tgt_mask=tgt_mask)
    torch.testing.assert_close(logits, decoded, atol=ATOL, rtol=0)
    # Step by step, as in greedy decoding: a prefix gives the same logits as the full target.
    for t in range(1, 6):
        step = model.decode(tgt[:, :t], memory, memory_mask=MASK)
        torch.testing.assert_close(step[:, -1], model.decode(tgt, memory, MASK)[:, t - 1],
                                   atol=ATOL, rtol=0)  # fmt: skip


def test_encoder_decoder_decoder_is_causal_and_source_padding_is_ignored():
    model = tiny("encoder-decoder-tiny")
    src, tgt = random_ids(3, 6), random_ids(3, 5, seed=1)
    logits = model(src, tgt, src_mask=MASK).logits
    changed_tgt = tgt.clone()
    changed_tgt[:, 3] = (changed_tgt[:, 3] + 1) % VOCAB
    changed = model(src, changed_tgt, src_mask=MASK).logits
    torch.testing.assert_close(logits[:, :3], changed[:, :3], atol=ATOL, rtol=0)
    assert not torch.allclose(logits[:, 3:], changed[:, 3:])

    padded_changed = model(scramble_padding(src, MASK), tgt, src_mask=MASK).logits
    torch.testing.assert_close(logits, padded_changed, atol=ATOL, rtol=0)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_transformer_base_architecture_runs_small(norm_first):
    """transformer-base's choices (post-LN, ReLU, sinusoids, scaled embeddings) at tiny size."""
    model = tiny(
        "transformer-base", d_model=32, num_heads=4, d_ff=64, num_layers=2, max_positions=16,
        norm_first=norm_first, final_norm=norm_first,
    )  # fmt: skip
    assert model.token_embeddings.scale == pytest.approx(32**0.5)
    logits = model(random_ids(2, 7), random_ids(2, 5, seed=1)).logits
    assert logits.shape == (2, 5, VOCAB) and torch.isfinite(logits).all()


# --- errors -----------------------------------------------------------------


def test_unknown_model_name_lists_the_names():
    with pytest.raises(KeyError, match="bert-base.*gpt-tiny"):
        create_model("bert-huge")
    with pytest.raises(KeyError, match="unknown model"):
        get_config("gpt3")


def test_unknown_override_lists_the_fields():
    with pytest.raises(ValueError, match="'hidden_size'.*allowed: arch, vocab_size"):
        create_model("bert-tiny", hidden_size=64)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_heads": 5}, "not divisible by num_heads=5"),
        ({"num_kv_heads": 3}, "not divisible by num_kv_heads=3"),
        ({"activation": "swish"}, "allowed: gelu, gelu_tanh, relu"),
        ({"arch": "decoder-only"}, "allowed: encoder, decoder, encoder-decoder"),
        ({"positions": "rotary"}, "allowed: learned, sinusoidal"),
        ({"num_layers": 0}, "num_layers must be a positive int"),
        ({"vocab_size": 10.0}, "vocab_size must be a positive int"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"layer_norm_eps": 0.0}, "layer_norm_eps must be > 0"),
        ({"type_vocab_size": -1}, "type_vocab_size must be an int >= 0"),
    ],
)
def test_bad_config(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_config("gpt-tiny", **overrides)


def test_bad_config_combinations():
    with pytest.raises(ValueError, match="arch='encoder' only"):
        get_config("gpt-tiny", pooler=True)
    with pytest.raises(ValueError, match="num_decoder_layers is for arch='encoder-decoder'"):
        get_config("bert-tiny", num_decoder_layers=2)
    with pytest.raises(ValueError, match="GPTModel needs arch='decoder'"):
        GPTModel(get_config("bert-tiny", pooler=False, type_vocab_size=0))
    config = NAMED_CONFIGS["bert-base"]
    assert isinstance(config, ModelConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.d_model = 10  # type: ignore[misc]


def test_decoder_memory_missing():
    model = tiny("encoder-decoder-tiny")
    decoder = model.decoder
    assert isinstance(decoder, Decoder)
    with pytest.raises(ValueError, match="needs memory"):
        decoder(torch.randn(1, 3, model.config.d_model))


def test_too_long_input():
    model = tiny("gpt-tiny")
    with pytest.raises(ValueError, match="max_positions"):
        model(random_ids(1, model.config.max_positions + 1))


@pytest.mark.parametrize("name", ["gpt-tiny", "encoder-decoder-tiny"])
def test_tied_lm_head_survives_the_meta_device(name):
    with torch.device("meta"):
        model = create_model(name, vocab_size=50)
    model = model.to_empty(device="cpu")
    assert model.lm_head.weight is model.token_embeddings.weight

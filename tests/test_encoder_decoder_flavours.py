"""T5 and BART (notebook 07) as flavours of our EncoderDecoderModel: parameter counts on the
meta device, forward shapes, the conversion to and from Hugging Face's
T5ForConditionalGeneration and BartForConditionalGeneration (equal logits, padding
included), the key/value cache, and greedy and beam-search decoding against Hugging
Face's ``generate`` (random weights, nothing downloaded)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from course_utils.attention import RelativePositionBias, relative_position_buckets
from course_utils.decoding import beam_search, seq2seq_generate
from course_utils.interop import (
    bart_config_to_transformers,
    from_transformers,
    t5_config_to_transformers,
    to_transformers,
)
from course_utils.models import (
    EncoderDecoderModel,
    KVCache,
    ModelConfig,
    count_parameters,
    create_model,
    get_config,
    parameter_groups,
)
from course_utils.transformer import RMSNorm

transformers = pytest.importorskip("transformers")

ATOL = 1e-5
VOCAB = 40
FLAVOURS = ("t5", "bart")
START = {"t5": 0, "bart": 2}  # the decoder's first token: T5's pad, BART's eos
# 1 = real token, 0 = padding (right-padded)
SRC_MASK = torch.tensor([[1] * 9, [1] * 6 + [0] * 3, [1] * 3 + [0] * 6])
TGT_MASK = torch.tensor([[1] * 6, [1] * 6, [1] * 4 + [0] * 2])


def tiny(flavour: str, seed: int = 0, **overrides) -> EncoderDecoderModel:
    """A small model of the flavour: width 32, 4 heads, 2 encoder and 3 decoder layers."""
    torch.manual_seed(seed)
    sizes = {"d_model": 32, "num_heads": 4, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 3}
    return create_model(f"{flavour}-tiny", vocab_size=VOCAB, **{**sizes, **overrides}).eval()


def ids(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(3, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def hf_logits(hf, src, tgt, src_mask=None, tgt_mask=None) -> torch.Tensor:
    return hf(input_ids=src, attention_mask=src_mask, decoder_input_ids=tgt,
              decoder_attention_mask=tgt_mask).logits  # fmt: skip


# --- parameter counts and configs ----------------------------------------------------


def hf_on_meta(name: str) -> torch.nn.Module:
    """Hugging Face's t5-small and bart-base, from configs written out by hand."""
    configs = {
        "t5-small": lambda: transformers.T5ForConditionalGeneration(transformers.T5Config(
            vocab_size=32_128, d_model=512, d_kv=64, d_ff=2_048, num_layers=6, num_heads=8)),
        "bart-base": lambda: transformers.BartForConditionalGeneration(transformers.BartConfig(
            vocab_size=50_265, max_position_embeddings=1_024, d_model=768, encoder_layers=6,
            decoder_layers=6, encoder_attention_heads=12, decoder_attention_heads=12,
            encoder_ffn_dim=3_072, decoder_ffn_dim=3_072)),
    }  # fmt: skip
    with torch.device("meta"):
        return configs[name]()


@pytest.mark.parametrize("name, count", [("t5-small", 60_506_624), ("bart-base", 139_420_416)])
def test_counts_on_meta_match_transformers(name, count):
    with torch.device("meta"):
        ours = create_model(name)
    assert all(p.is_meta for p in ours.parameters())
    assert count_parameters(ours) == count
    # Hugging Face counts each tied tensor once too (model.parameters() deduplicates).
    assert sum(p.numel() for p in hf_on_meta(name).parameters()) == count


def test_parameter_groups_of_t5_and_bart():
    with torch.device("meta"):
        t5, bart = create_model("t5-small"), create_model("bart-base")
    d, layers = 512, 6
    groups = parameter_groups(t5)
    assert groups["embeddings"] == 32_128 * d + 2 * 32 * 8  # shared matrix, two bias tables
    assert groups["layer norm"] == (2 * layers + 3 * layers + 2) * d  # RMSNorm: weights only
    assert groups["attention"] == 3 * layers * 4 * d * d  # no biases
    assert groups["pooler / head"] == 0  # the LM head is the shared matrix
    d = 768
    groups = parameter_groups(bart)
    assert groups["embeddings"] == 50_265 * d + 2 * 1_026 * d  # positions: 1024 + 2 rows each
    assert groups["layer norm"] == (2 + 2 * 6 + 3 * 6) * 2 * d  # two embedding LayerNorms
    assert groups["pooler / head"] == 0


def test_named_configs_are_what_the_papers_say():
    t5, bart = get_config("t5-small"), get_config("bart-base")
    assert (t5.norm, t5.norm_first, t5.final_norm, t5.bias, t5.scale_attention) == (
        "rms", True, True, False, False
    )
    assert (t5.positions, t5.relative_buckets, t5.relative_max_distance) == ("t5_relative", 32, 128)
    assert (t5.activation, t5.layer_norm_eps, t5.tie_embeddings, t5.scale_decoder_output) == (
        "relu", 1e-6, True, True
    )
    assert (bart.norm, bart.norm_first, bart.final_norm, bart.bias, bart.embedding_norm) == (
        "layer", False, False, True, True
    )
    assert (bart.positions, bart.position_offset, bart.activation, bart.scale_embeddings) == (
        "learned", 2, "gelu", False
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"arch": "decoder", "positions": "t5_relative"}, "for arch='encoder-decoder' only"),
        ({"arch": "encoder-decoder", "positions": "sinusoidal", "position_offset": 2},
         "position_offset is for positions='learned'"),
        ({"arch": "encoder-decoder", "norm": "batch"}, "unknown norm 'batch'; allowed: layer, rms"),
        ({"arch": "encoder-decoder", "init": "xavier"},
         "unknown init 'xavier'; allowed: normal, t5"),
        ({"arch": "encoder-decoder", "relative_buckets": 0}, "relative_buckets must be a positive"),
    ],
)  # fmt: skip
def test_config_errors(overrides, message):
    sizes = {"vocab_size": 10, "max_positions": 8, "d_model": 8, "num_layers": 1,
             "num_heads": 2, "d_ff": 16}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**sizes, **overrides})


def test_transformer_base_keeps_its_modules():
    """Notebook 03's model has none of the new parts, so its checkpoints still load."""
    model = create_model("encoder-decoder-tiny", vocab_size=VOCAB)
    assert model.encoder.position_bias is None and model.encoder_embedding_norm is None
    assert not any("position_bias" in key or "embedding_norm" in key for key in model.state_dict())
    learned = create_model("encoder-decoder-tiny", vocab_size=VOCAB, positions="learned")
    assert learned.encoder_positions.weight.shape[0] == learned.config.max_positions  # no offset


# --- building blocks --------------------------------------------------------------


def test_buckets_match_transformers():
    bucket = transformers.models.t5.modeling_t5.T5Attention._relative_position_bucket
    distances = torch.arange(-300, 300)
    settings = itertools.product((True, False), (32, 8), (128, 20))
    for bidirectional, buckets, max_distance in settings:
        assert torch.equal(
            relative_position_buckets(distances, bidirectional, buckets, max_distance),
            bucket(distances, bidirectional, buckets, max_distance),
        )


def test_position_bias_shape_and_offset():
    bias = RelativePositionBias(num_heads=3, num_buckets=8, max_distance=16, bidirectional=False)
    full = bias(5, 5)  # (1, H, L, S)
    assert full.shape == (1, 3, 5, 5)
    torch.testing.assert_close(bias(2, 5, past=3), full[:, :, 3:])  # the last 2 queries


def test_rms_norm_matches_transformers():
    ours, theirs = RMSNorm(6, eps=1e-6), transformers.models.t5.modeling_t5.T5LayerNorm(6)
    with torch.no_grad():
        ours.weight.normal_()
        theirs.weight.copy_(ours.weight)
    x = torch.randn(2, 3, 6) * 5 + 1
    torch.testing.assert_close(ours(x), theirs(x), atol=ATOL, rtol=0)


# --- forward passes and interop ------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_forward_shapes(flavour):
    model = tiny(flavour)
    out = model(ids(3, 9), ids(3, 6, seed=1), SRC_MASK, TGT_MASK, need_weights=True)
    assert out.logits.shape == (3, 6, VOCAB)
    assert [a.shape for a in out.encoder_attentions] == [(3, 4, 9, 9)] * 2
    assert [a.shape for a in out.decoder_attentions] == [(3, 4, 6, 6)] * 3
    assert [a.shape for a in out.cross_attentions] == [(3, 4, 6, 9)] * 3
    assert model.lm_head.weight is model.token_embeddings.weight


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_to_transformers_gives_the_same_logits(flavour, randomize):
    ours = randomize(tiny(flavour), std=0.3)  # norms and biases away from 1 and 0
    theirs = to_transformers(ours).eval()
    assert type(theirs).__name__ == f"{flavour.upper() if flavour == 't5' else 'Bart'}" \
        "ForConditionalGeneration"
    src, tgt = ids(3, 9), ids(3, 6, seed=1)
    expected = ours(src, tgt, SRC_MASK, TGT_MASK).logits
    torch.testing.assert_close(hf_logits(theirs, src, tgt, SRC_MASK, TGT_MASK), expected,
                               atol=ATOL, rtol=0)  # fmt: skip
    torch.testing.assert_close(hf_logits(theirs, src, tgt), ours(src, tgt).logits,
                               atol=ATOL, rtol=0)  # fmt: skip


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_from_transformers_gives_the_same_logits(flavour, randomize):
    if flavour == "t5":
        hf_config = transformers.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64,
                                          num_layers=2, num_decoder_layers=1, num_heads=4,
                                          relative_attention_num_buckets=16,
                                          relative_attention_max_distance=20)  # fmt: skip
        theirs = transformers.T5ForConditionalGeneration(hf_config)
    else:
        hf_config = transformers.BartConfig(vocab_size=VOCAB, max_position_embeddings=16,
                                            d_model=32, encoder_layers=2, decoder_layers=1,
                                            encoder_attention_heads=4, decoder_attention_heads=4,
                                            encoder_ffn_dim=64, decoder_ffn_dim=64,
                                            dropout=0.0)  # fmt: skip
        theirs = transformers.BartForConditionalGeneration(hf_config)
    theirs = randomize(theirs, std=0.3).eval()
    if flavour == "bart":
        theirs.final_logits_bias.zero_()
    ours = from_transformers(theirs)
    assert (ours.config.num_layers, ours.config.decoder_layers) == (2, 1)
    src, tgt = ids(3, 9), ids(3, 6, seed=1)
    torch.testing.assert_close(ours(src, tgt, SRC_MASK, TGT_MASK).logits,
                               hf_logits(theirs, src, tgt, SRC_MASK, TGT_MASK),
                               atol=ATOL, rtol=0)  # fmt: skip
    back = to_transformers(ours)  # and the round trip keeps every tensor
    for key, value in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_round_trip_keeps_the_config(flavour):
    ours = tiny(flavour)
    back = from_transformers(to_transformers(ours))
    # T5 has no longest sequence, so Hugging Face's config does not record ours.
    assert back.config == dataclasses.replace(ours.config, max_positions=back.config.max_positions)
    assert back.config.max_positions == (512 if flavour == "t5" else ours.config.max_positions)


def test_gradients_match_transformers(randomize):
    ours = randomize(tiny("t5"), std=0.3)
    theirs = to_transformers(ours)
    src, tgt = ids(3, 9), ids(3, 6, seed=1)
    ours(src, tgt, SRC_MASK, TGT_MASK).logits.square().mean().backward()
    hf_logits(theirs, src, tgt, SRC_MASK, TGT_MASK).square().mean().backward()
    torch.testing.assert_close(theirs.shared.weight.grad, ours.token_embeddings.weight.grad,
                               atol=ATOL, rtol=1e-4)  # fmt: skip
    bias = theirs.decoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
    torch.testing.assert_close(bias.grad, ours.decoder.position_bias.table.weight.grad,
                               atol=ATOL, rtol=1e-4)  # fmt: skip


@pytest.mark.parametrize(
    "name, message",
    [("encoder-decoder-tiny", "Hugging Face BART cannot express norm_first=True"),
     ("t5-tiny", "Hugging Face T5 cannot express bias=True")],
)  # fmt: skip
def test_what_hugging_face_cannot_express(name, message):
    config = get_config(name)
    if name == "t5-tiny":
        config = dataclasses.replace(config, bias=True)
    convert = t5_config_to_transformers if name == "t5-tiny" else bart_config_to_transformers
    with pytest.raises(ValueError, match=message):
        convert(config)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_cached_decoding_gives_the_logits_of_the_whole_target(flavour):
    model = tiny(flavour)
    src, tgt = ids(3, 9), ids(3, 6, seed=1)
    memory = model.encode(src, SRC_MASK)
    full = model.decode(tgt, memory, memory_mask=SRC_MASK)
    cache = KVCache()
    first = model.decode(tgt[:, :4], memory, memory_mask=SRC_MASK, cache=cache)
    rest = [model.decode(tgt[:, t : t + 1], memory, memory_mask=SRC_MASK, cache=cache)
            for t in range(4, 6)]  # fmt: skip
    torch.testing.assert_close(torch.cat([first, *rest], dim=1), full, atol=ATOL, rtol=0)


# --- decoding against Hugging Face's generate ---------------------------------------


GENERATION_SEEDS = {"t5": 0, "bart": 1}  # seeds where early_stopping changes some results


def generation_setup(flavour: str, seed: int | None = None):
    """Our model, its Hugging Face copy, sources with padding, and an eos that the model
    actually produces (the commonest token of its free-running greedy outputs), so that
    beams finish at different lengths. BART's weights are drawn larger than its
    initialization's (std 0.3), or its outputs hardly depend on the source."""
    seed = GENERATION_SEEDS[flavour] if seed is None else seed
    larger = {"init_std": 0.3} if flavour == "bart" else {}
    model = tiny(flavour, seed=seed, num_decoder_layers=2, **larger)
    src = ids(4, 7, seed=seed)
    mask = torch.ones_like(src)
    mask[1, 5:], mask[2, 3:] = 0, 0
    free = seq2seq_generate(model, src, 8, START[flavour], src_mask=mask)[:, 1:]
    counts = torch.bincount(free.flatten(), minlength=VOCAB)
    counts[START[flavour]] = -1
    eos = int(counts.argmax())
    pad = VOCAB - 1 if eos != VOCAB - 1 else VOCAB - 2
    theirs = to_transformers(model).eval()
    theirs.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=START[flavour], eos_token_id=eos, pad_token_id=pad
    )  # only these: no forced eos, no minimum length, no repetition rules
    return model, theirs, src, mask, eos, pad


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_matches_generate(flavour, use_cache):
    model, theirs, src, mask, eos, pad = generation_setup(flavour)
    ours = seq2seq_generate(model, src, 8, START[flavour], eos, mask, pad_id=pad,
                            use_cache=use_cache)  # fmt: skip
    expected = theirs.generate(input_ids=src, attention_mask=mask, max_new_tokens=8,
                               do_sample=False)  # fmt: skip
    assert torch.equal(ours, expected)
    assert (ours[:, 1:] == eos).any()  # the test sees targets that end early


BEAM_SETTINGS = list(itertools.product((2, 3), (1.0, 0.0, 2.0, -1.0), (True, False)))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_beam_search_matches_generate(flavour):
    """Hugging Face's semantics (see ``beam_search``): length penalty on the tokens after
    the start token, eos included; early_stopping True and False."""
    model, theirs, src, mask, eos, pad = generation_setup(flavour)
    differs = 0
    for num_beams, length_penalty, early_stopping in BEAM_SETTINGS:
        ours = beam_search(model, src, num_beams, 8, START[flavour], eos, mask,
                           length_penalty=length_penalty, early_stopping=early_stopping,
                           pad_id=pad)  # fmt: skip
        expected = theirs.generate(
            input_ids=src, attention_mask=mask, max_new_tokens=8, do_sample=False,
            num_beams=num_beams, length_penalty=length_penalty, early_stopping=early_stopping,
            return_dict_in_generate=True, output_scores=True,
        )  # fmt: skip
        setting = (num_beams, length_penalty, early_stopping)
        assert torch.equal(ours.sequences, expected.sequences), setting
        torch.testing.assert_close(ours.scores, expected.sequences_scores, atol=1e-4, rtol=0)
        if early_stopping:
            other = beam_search(model, src, num_beams, 8, START[flavour], eos, mask,
                                length_penalty=length_penalty, early_stopping=False,
                                pad_id=pad)  # fmt: skip
            differs += not torch.equal(other.sequences, ours.sequences)
    assert differs > 0  # the settings exercise both stopping rules


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_beam_search_without_cache_and_with_one_beam(flavour):
    model, _, src, mask, eos, pad = generation_setup(flavour, seed=1)
    cached = beam_search(model, src, 3, 8, START[flavour], eos, mask, pad_id=pad)
    uncached = beam_search(model, src, 3, 8, START[flavour], eos, mask, pad_id=pad,
                           use_cache=False)  # fmt: skip
    assert torch.equal(cached.sequences, uncached.sequences)
    one_beam = beam_search(model, src, 1, 8, START[flavour], eos, mask, pad_id=pad)
    greedy = seq2seq_generate(model, src, 8, START[flavour], eos, mask, pad_id=pad)
    assert torch.equal(one_beam.sequences, greedy[:, : one_beam.sequences.shape[1]])


@pytest.mark.parametrize(
    "kwargs, message",
    [({"num_beams": 0}, "num_beams must be an int >= 1"),
     ({"max_new_tokens": 0}, "max_new_tokens must be an int >= 1"),
     ({"early_stopping": "never"}, "'never' is not supported"),
     ({"src_mask": torch.ones(2, 3)}, "src_mask must have the shape of src_ids")],
)  # fmt: skip
def test_beam_search_errors(kwargs, message):
    model = tiny("bart")
    arguments = {"num_beams": 2, "max_new_tokens": 4, "start_id": 2, "eos_id": 2,
                 **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        beam_search(model, ids(1, 5), **arguments)


def test_generate_checks_the_length_of_learned_positions():
    model = tiny("bart")  # learned positions: max_positions is a real limit
    with pytest.raises(ValueError, match="max_positions"):
        seq2seq_generate(model, ids(1, 5), model.config.max_positions, start_id=2)
    t5 = tiny("t5")  # relative positions: none
    assert seq2seq_generate(t5, ids(1, 3), 3, start_id=0).shape == (1, 4)

"""Transformer layers: parity with Hugging Face's BertLayer and GPT2Block and with
torch.nn.TransformerEncoderLayer, pre-LN vs post-LN, causality, the key/value cache, stacks
and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.attention import padding_mask
from course_utils.attention.kv_cache import KVCache, LayerKVCache
from course_utils.interop import BERT_LAYER_NAMES, rename_parameters
from course_utils.models import ModelConfig
from course_utils.transformer import (
    ACTIVATIONS,
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    FeedForward,
    StackOutput,
)

D_MODEL, HEADS, D_FF = 32, 4, 64
ATOL = 1e-5
STD = 0.3  # of the random parameters (the randomize fixture)


def stack_config(arch: str = "encoder", **overrides) -> ModelConfig:
    """The layers' sizes as the ModelConfig a stack is built from."""
    sizes = dict(vocab_size=50, max_positions=16, d_model=D_MODEL, num_heads=HEADS, d_ff=D_FF)
    return ModelConfig(arch=arch, **{"num_layers": 2, **sizes, **overrides})


def inputs(batch: int = 3, length: int = 7, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, length, D_MODEL, generator=torch.Generator().manual_seed(seed))


# 1 = real token, 0 = padding; the second and third sequences are padded.
ATTENTION_MASK = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 2 + [0] * 5])


def additive_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Hugging Face's "extended" mask for eager attention: (B, 1, 1, S) floats, 0 where a
    key may be attended to and the dtype's minimum where it is padding."""
    return (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


def causal_additive_mask(length: int) -> torch.Tensor:
    blocked = torch.ones(length, length, dtype=torch.bool).triu(1)
    return torch.zeros(length, length).masked_fill(blocked, torch.finfo(torch.float32).min)


def copy_linear_(target: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
    with torch.no_grad():
        target.weight.copy_(weight)
        target.bias.copy_(bias)


def copy_norm_(target: nn.LayerNorm, source: nn.LayerNorm) -> None:
    copy_linear_(target, source.weight, source.bias)  # type: ignore[arg-type]


# --- feed-forward -----------------------------------------------------------


def test_feed_forward_shapes_and_activations():
    x = torch.randn(2, 3, D_MODEL)
    for name in ACTIVATIONS:
        ff = FeedForward(D_MODEL, D_FF, activation=name)
        assert ff(x).shape == x.shape
        assert (ff.linear1.in_features, ff.linear1.out_features) == (D_MODEL, D_FF)
    z = torch.linspace(-4, 4, 101)
    exact = z * torch.special.ndtr(z)  # x times the standard normal CDF
    assert torch.allclose(FeedForward(1, 1, "gelu").activation(z), exact, atol=1e-6)
    assert torch.equal(FeedForward(1, 1, "relu").activation(z), z.clamp(min=0))
    tanh_approx = 0.5 * z * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (z + 0.044715 * z**3)))
    assert torch.allclose(FeedForward(1, 1, "gelu_tanh").activation(z), tanh_approx, atol=1e-6)


def test_unknown_activation_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="gelu, gelu_tanh, relu"):
        FeedForward(D_MODEL, D_FF, activation="swish")
    with pytest.raises(ValueError, match="unknown activation"):
        EncoderLayer(D_MODEL, HEADS, D_FF, activation="Gelu")


# --- parity with Hugging Face -----------------------------------------------


def hf_bert_layer_from(ours: EncoderLayer) -> nn.Module:
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLayer

    config = BertConfig(
        hidden_size=D_MODEL, num_attention_heads=HEADS, intermediate_size=D_FF,
        hidden_act="gelu", hidden_dropout_prob=0, attention_probs_dropout_prob=0,
        attn_implementation="eager",
    )  # fmt: skip
    theirs = BertLayer(config).eval()
    # The same parameters under Hugging Face's names (the mapping lives in course_utils.interop).
    theirs.load_state_dict(rename_parameters(ours.state_dict(), BERT_LAYER_NAMES))
    return theirs


@pytest.mark.parametrize("padded", [False, True], ids=["no-mask", "padding-mask"])
def test_post_ln_encoder_layer_matches_bert_layer(padded, randomize):
    ours = randomize(EncoderLayer(D_MODEL, HEADS, D_FF, norm_first=False, layer_norm_eps=1e-12), std=STD)
    theirs = hf_bert_layer_from(ours.eval())
    x = inputs()
    # transformers 5.x: BertLayer takes the already-expanded mask that BertModel builds; for
    # eager attention that is an additive float (B, 1, 1, S), not the (B, S) 0/1 mask.
    their_mask = additive_mask(ATTENTION_MASK) if padded else None
    our_mask = padding_mask(ATTENTION_MASK) if padded else None
    with torch.no_grad():
        expected = theirs(x, attention_mask=their_mask)
        expected = expected[0] if isinstance(expected, tuple) else expected  # 4.x returned a tuple
        got, _ = ours(x, mask=our_mask)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def hf_gpt2_block_from(ours: DecoderLayer) -> nn.Module:
    from transformers import GPT2Config
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block

    config = GPT2Config(
        n_embd=D_MODEL, n_head=HEADS, n_inner=D_FF, n_layer=1, n_positions=16, vocab_size=50,
        activation_function="gelu_new", resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
        bos_token_id=None, eos_token_id=None, attn_implementation="eager",
    )  # fmt: skip
    theirs = GPT2Block(config).eval()
    # GPT-2's Conv1D computes x @ W + b with W of shape (in, out): the transpose of
    # nn.Linear's (out, in). c_attn packs the query, key and value projections side by side.
    a = ours.self_attn
    with torch.no_grad():
        theirs.attn.c_attn.weight.copy_(
            torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).T
        )
        theirs.attn.c_attn.bias.copy_(torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]))
        theirs.attn.c_proj.weight.copy_(a.out_proj.weight.T)
        theirs.attn.c_proj.bias.copy_(a.out_proj.bias)
        theirs.mlp.c_fc.weight.copy_(ours.ff.linear1.weight.T)
        theirs.mlp.c_fc.bias.copy_(ours.ff.linear1.bias)
        theirs.mlp.c_proj.weight.copy_(ours.ff.linear2.weight.T)
        theirs.mlp.c_proj.bias.copy_(ours.ff.linear2.bias)
    copy_norm_(theirs.ln_1, ours.norm1)
    copy_norm_(theirs.ln_2, ours.norm2)
    return theirs


@pytest.mark.parametrize("padded", [False, True], ids=["no-mask", "padding-mask"])
def test_pre_ln_decoder_layer_matches_gpt2_block(padded, randomize):
    ours = randomize(DecoderLayer(D_MODEL, HEADS, D_FF, norm_first=True, activation="gelu_tanh"), std=STD)
    theirs = hf_gpt2_block_from(ours.eval())
    x = inputs()
    # With eager attention GPT2Block adds no causal mask of its own: GPT2Model builds it.
    # So we pass the full additive mask, causal plus padding.
    their_mask = causal_additive_mask(x.shape[1])[None, None]
    if padded:
        their_mask = their_mask + additive_mask(ATTENTION_MASK)
    our_mask = padding_mask(ATTENTION_MASK) if padded else None
    with torch.no_grad():
        expected = theirs(x, attention_mask=their_mask)
        expected = expected[0] if isinstance(expected, tuple) else expected
        got, _, _ = ours(x, self_mask=our_mask)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


# --- parity with torch.nn.TransformerEncoderLayer ---------------------------


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("padded", [False, True], ids=["no-mask", "padding-mask"])
def test_encoder_layer_matches_torch(norm_first, activation, padded, randomize):
    ours = randomize(
        EncoderLayer(D_MODEL, HEADS, D_FF, norm_first=norm_first, activation=activation)
    , std=STD).eval()
    theirs = nn.TransformerEncoderLayer(
        D_MODEL, HEADS, D_FF, dropout=0.0, activation=activation, batch_first=True,
        norm_first=norm_first,
    ).eval()  # fmt: skip
    a = ours.self_attn
    with torch.no_grad():
        theirs.self_attn.in_proj_weight.copy_(
            torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
        )
        theirs.self_attn.in_proj_bias.copy_(
            torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias])
        )
    copy_linear_(theirs.self_attn.out_proj, a.out_proj.weight, a.out_proj.bias)
    copy_linear_(theirs.linear1, ours.ff.linear1.weight, ours.ff.linear1.bias)
    copy_linear_(theirs.linear2, ours.ff.linear2.weight, ours.ff.linear2.bias)
    copy_norm_(theirs.norm1, ours.norm1)
    copy_norm_(theirs.norm2, ours.norm2)

    x = inputs()
    # torch's key padding mask has the opposite convention: True = padding (blocked).
    their_mask = ATTENTION_MASK == 0 if padded else None
    our_mask = padding_mask(ATTENTION_MASK) if padded else None
    expected = theirs(x, src_key_padding_mask=their_mask)
    got, _ = ours(x, mask=our_mask)
    real = ATTENTION_MASK.bool() if padded else torch.ones(x.shape[:2], dtype=torch.bool)
    # Compare real positions: torch's inference fast path may zero padded ones.
    torch.testing.assert_close(got[real], expected[real], atol=ATOL, rtol=0)


# --- pre-LN vs post-LN ------------------------------------------------------


def test_pre_ln_and_post_ln_differ_with_the_same_weights(randomize):
    post = randomize(EncoderLayer(D_MODEL, HEADS, D_FF, norm_first=False), std=STD).eval()
    pre = EncoderLayer(D_MODEL, HEADS, D_FF, norm_first=True).eval()
    pre.load_state_dict(post.state_dict())  # same parameters, only the LayerNorm placement differs
    x = inputs()
    out_post, _ = post(x)
    out_pre, _ = pre(x)
    assert not torch.allclose(out_post, out_pre, atol=1e-3)
    # Post-LN ends on a LayerNorm: every position is normalized (before the affine part).
    standardized = (out_post - post.norm2.bias) / post.norm2.weight
    torch.testing.assert_close(standardized.mean(-1), torch.zeros(3, 7), atol=1e-4, rtol=0)
    # Pre-LN leaves the residual stream un-normalized.
    assert not torch.allclose(out_pre.mean(-1), torch.zeros(3, 7), atol=1e-2)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_both_norm_placements_train(norm_first):
    """A toy task that needs attention: output the mean over the sequence at every position."""
    torch.manual_seed(0)
    encoder = Encoder(stack_config(norm_first=norm_first, final_norm=norm_first))
    readout = nn.Linear(D_MODEL, D_MODEL)
    params = [*encoder.parameters(), *readout.parameters()]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    x = torch.randn(16, 6, D_MODEL)
    target = x.mean(dim=1, keepdim=True).expand_as(x)
    losses = []
    for _ in range(40):
        loss = nn.functional.mse_loss(readout(encoder(x).hidden), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert losses[-1] < 0.5 * target.pow(2).mean().item()  # far better than predicting zeros


# --- decoder layer ----------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_decoder_layer_is_causal(norm_first, randomize):
    layer = randomize(DecoderLayer(D_MODEL, HEADS, D_FF, norm_first=norm_first), std=STD).eval()
    x = inputs()
    changed = x.clone()
    changed[:, 4:] = torch.randn_like(changed[:, 4:])
    out, weights, cross = layer(x, need_weights=True)
    out_changed, _, _ = layer(changed)
    torch.testing.assert_close(out[:, :4], out_changed[:, :4], atol=ATOL, rtol=0)
    assert not torch.allclose(out[:, 4:], out_changed[:, 4:])
    assert cross is None
    assert weights is not None and torch.all(weights.triu(1) == 0)  # nothing above the diagonal


def test_decoder_layer_weights_path_matches_fused_path(randomize):
    layer = randomize(DecoderLayer(D_MODEL, HEADS, D_FF, cross_attention=True), std=STD).eval()
    x, memory = inputs(length=5), inputs(length=7, seed=2)
    self_mask, memory_mask = padding_mask(ATTENTION_MASK[:, :5]), padding_mask(ATTENTION_MASK)
    fused, none_self, none_cross = layer(x, memory, self_mask, memory_mask)
    explicit, self_weights, cross_weights = layer(
        x, memory, self_mask, memory_mask, need_weights=True
    )
    torch.testing.assert_close(fused, explicit, atol=ATOL, rtol=0)
    assert none_self is None and none_cross is None
    assert self_weights.shape == (3, HEADS, 5, 5)
    assert cross_weights.shape == (3, HEADS, 5, 7)
    assert torch.all(cross_weights[2, :, :, 2:] == 0)  # padded memory gets no attention


def test_cross_attention_reads_memory(randomize):
    layer = randomize(DecoderLayer(D_MODEL, HEADS, D_FF, cross_attention=True), std=STD).eval()
    x, memory = inputs(length=5), inputs(length=7, seed=2)
    out, _, _ = layer(x, memory)
    out_other, _, _ = layer(x, memory + 1.0)
    assert not torch.allclose(out, out_other)
    assert layer.cross_attn is not None and layer.norm_cross is not None
    plain = DecoderLayer(D_MODEL, HEADS, D_FF)
    assert plain.cross_attn is None and plain.norm_cross is None


def test_decoder_memory_errors():
    with_cross = DecoderLayer(D_MODEL, HEADS, D_FF, cross_attention=True)
    without = DecoderLayer(D_MODEL, HEADS, D_FF)
    x = inputs()
    with pytest.raises(ValueError, match="needs memory"):
        with_cross(x)
    with pytest.raises(ValueError, match="no cross-attention"):
        without(x, memory=x)
    with pytest.raises(ValueError, match="needs memory"):
        Decoder(stack_config("encoder-decoder"))(x)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_decoder_layer_with_a_cache_gives_the_rows_of_the_full_pass(norm_first, randomize):
    layer = DecoderLayer(D_MODEL, HEADS, D_FF, norm_first=norm_first, cross_attention=True)
    layer = randomize(layer, std=STD).eval()
    x, memory = inputs(), inputs(length=5, seed=2)
    self_mask = padding_mask(ATTENTION_MASK)
    full, full_weights, full_cross = layer(x, memory, self_mask, need_weights=True)
    cache = LayerKVCache()
    first, _, _ = layer(x[:, :4], memory, padding_mask(ATTENTION_MASK[:, :4]), cache=cache)
    rest, weights, cross = layer(x[:, 4:], memory, self_mask, need_weights=True, cache=cache)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full, atol=ATOL, rtol=0)
    torch.testing.assert_close(weights, full_weights[:, :, 4:], atol=ATOL, rtol=0)  # (B,H,3,7)
    torch.testing.assert_close(cross, full_cross[:, :, 4:], atol=ATOL, rtol=0)  # (B, H, 3, 5)
    assert len(cache) == 7


def test_decoder_stack_keeps_one_cache_entry_per_layer(randomize):
    decoder = randomize(Decoder(stack_config("decoder", final_norm=True)), std=STD).eval()
    x = inputs()
    full = decoder(x)
    cache = KVCache()
    pieces = [decoder(x[:, start:end], cache=cache) for start, end in [(0, 5), (5, 6), (6, 7)]]
    hidden = torch.cat([piece.hidden for piece in pieces], dim=1)
    torch.testing.assert_close(hidden, full.hidden, atol=ATOL, rtol=0)
    assert len(cache) == 7 and len(cache.layers) == len(decoder.layers) == 2
    assert cache.keys[1].shape == (3, HEADS, 7, D_MODEL // HEADS)


def test_grouped_query_attention_is_passed_through():
    layer = EncoderLayer(D_MODEL, HEADS, D_FF, num_kv_heads=2)
    assert layer.self_attn.num_kv_heads == 2
    assert layer.self_attn.k_proj.out_features == 2 * (D_MODEL // HEADS)
    assert layer(inputs())[0].shape == (3, 7, D_MODEL)


# --- stacks -------------------------------------------------------------------


def test_encoder_stack_outputs():
    encoder = Encoder(stack_config(num_layers=3))
    assert len(encoder.layers) == 3 and encoder.norm is None
    out = encoder(inputs(), mask=padding_mask(ATTENTION_MASK), need_weights=True)
    assert isinstance(out, StackOutput)
    assert out.hidden.shape == (3, 7, D_MODEL)
    assert len(out.attentions) == 3 and out.attentions[0].shape == (3, HEADS, 7, 7)
    assert out.cross_attentions is None
    assert encoder(inputs()).attentions is None
    assert isinstance(Encoder(stack_config(num_layers=1, final_norm=True)).norm, nn.LayerNorm)


def test_decoder_stack_outputs():
    decoder = Decoder(stack_config("encoder-decoder", norm_first=True, final_norm=True))
    assert isinstance(decoder.norm, nn.LayerNorm)
    out = decoder(inputs(length=5), memory=inputs(), need_weights=True)
    assert out.hidden.shape == (3, 5, D_MODEL)
    assert [w.shape for w in out.attentions] == [(3, HEADS, 5, 5)] * 2
    assert [w.shape for w in out.cross_attentions] == [(3, HEADS, 5, 7)] * 2
    plain = Decoder(stack_config("decoder", norm_first=True))
    assert plain.norm is None
    assert plain(inputs(), need_weights=True).cross_attentions is None


def test_final_norm_normalizes_the_stack_output():
    encoder = Encoder(stack_config(norm_first=True, final_norm=True))
    hidden = encoder(inputs()).hidden  # LayerNorm with weight 1 and bias 0 at init
    torch.testing.assert_close(hidden.mean(-1), torch.zeros(3, 7), atol=1e-5, rtol=0)


def test_stacks_build_their_layers_from_the_config():
    config = stack_config(
        "encoder-decoder", num_layers=3, num_decoder_layers=2, dropout=0.1, norm_first=True,
        activation="relu", layer_norm_eps=1e-6, num_kv_heads=2,
    )  # fmt: skip
    encoder, decoder = Encoder(config), Decoder(config)
    assert (len(encoder.layers), len(decoder.layers)) == (3, 2)
    for layer in [*encoder.layers, *decoder.layers]:
        assert layer.norm_first and layer.norm1.eps == 1e-6 and layer.dropout.p == 0.1
        assert layer.self_attn.num_kv_heads == 2 and layer.self_attn.dropout == 0.1
        assert isinstance(layer.ff.activation, nn.ReLU) and layer.ff.linear1.out_features == D_FF
    assert all(layer.cross_attn is not None for layer in decoder.layers)  # an encoder-decoder's
    assert all(layer.cross_attn is None for layer in Decoder(stack_config("decoder")).layers)
    # A layer from the config equals the one from keyword arguments, parameter for parameter.
    torch.manual_seed(0)
    from_config = DecoderLayer.from_config(config)
    torch.manual_seed(0)
    by_hand = DecoderLayer(
        D_MODEL, HEADS, D_FF, dropout=0.1, norm_first=True, activation="relu",
        layer_norm_eps=1e-6, cross_attention=True, num_kv_heads=2,
    )  # fmt: skip
    assert str(from_config) == str(by_hand)
    for (name, a), (_, b) in zip(from_config.state_dict().items(), by_hand.state_dict().items()):
        assert torch.equal(a, b), name
    assert str(EncoderLayer.from_config(config)) == str(encoder.layers[0])

"""MultiHeadAttention: parameters, parity with torch.nn.MultiheadAttention,
GQA/MQA against a reference that repeats the key/value heads by hand, RoPE,
the key/value cache, dropout, errors and gradients."""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn.functional as F

from course_utils.attention import (
    MultiHeadAttention,
    RotaryEmbedding,
    apply_rotary,
    causal_mask,
    combine_masks,
    mask_to_bias,
    multihead,
    padding_mask,
)
from course_utils.attention.kv_cache import LayerKVCache
from course_utils.interop import to_torch_multihead_attention

TOL = {"atol": 1e-5, "rtol": 0.0}
D_MODEL, HEADS = 32, 4


def make_mha(num_kv_heads=None, seed=0, **kwargs):
    torch.manual_seed(seed)
    return MultiHeadAttention(D_MODEL, HEADS, num_kv_heads=num_kv_heads, **kwargs).eval()


def torch_copy(ours: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    """torch's module with our weights: its in_proj_weight stacks q, k, v."""
    return to_torch_multihead_attention(ours).eval()


def inputs(batch=3, length=6, memory_length=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, D_MODEL, generator=g)
    if memory_length is None:
        return x, None
    return x, torch.randn(batch, memory_length, D_MODEL, generator=g)


def attention_mask(batch, length, seed=0):
    """(batch, length) 0/1 with right padding; every row keeps its first token."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    lengths[0] = length - 1  # at least one row is padded
    return (torch.arange(length)[None, :] < lengths[:, None]).long()


def test_docstring_examples():
    result = doctest.testmod(multihead)
    assert result.attempted > 0 and result.failed == 0


# --- parameters --------------------------------------------------------------


def test_parameter_count_equals_bert_attention():
    mha = MultiHeadAttention(768, 12)
    assert sum(p.numel() for p in mha.parameters()) == 4 * (768 * 768 + 768)
    assert (mha.num_heads, mha.num_kv_heads, mha.head_dim) == (12, 12, 64)
    assert sum(p.numel() for p in MultiHeadAttention(64, 4, bias=False).parameters()) == 4 * 64 * 64


@pytest.mark.parametrize("num_kv_heads", [1, 2])
def test_gqa_projections_are_narrower(num_kv_heads):
    mha = MultiHeadAttention(64, 8, num_kv_heads=num_kv_heads)
    kv_dim = num_kv_heads * 8
    assert mha.num_kv_heads == num_kv_heads and mha.head_dim == 8
    assert mha.q_proj.weight.shape == (64, 64) and mha.out_proj.weight.shape == (64, 64)
    assert mha.k_proj.weight.shape == (kv_dim, 64) and mha.v_proj.weight.shape == (kv_dim, 64)


# --- parity with torch.nn.MultiheadAttention -----------------------------------
# torch's module uses the opposite bool convention: True = blocked, for both
# key_padding_mask (B, S) and attn_mask (L, S). Ours: True = may attend.


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("masks", ["none", "padding", "attn_mask", "both", "float"])
@pytest.mark.parametrize("memory_length", [None, 9], ids=["self", "cross"])
def test_matches_torch_multihead_attention(memory_length, masks, need_weights):
    ours = make_mha()
    theirs = torch_copy(ours)
    x, memory = inputs(memory_length=memory_length)
    length_k = x.shape[1] if memory is None else memory.shape[1]
    keys = x if memory is None else memory

    g = torch.Generator().manual_seed(1)
    allowed = torch.rand(x.shape[1], length_k, generator=g) > 0.3
    allowed[:, 0] = True  # every query keeps a key
    pad = attention_mask(x.shape[0], length_k)

    our_mask, torch_kwargs = None, {}
    if masks in ("padding", "both"):
        our_mask = padding_mask(pad)
        torch_kwargs["key_padding_mask"] = pad == 0
    if masks in ("attn_mask", "both"):
        our_mask = combine_masks(our_mask, allowed)
        torch_kwargs["attn_mask"] = ~allowed
    if masks == "float":
        our_mask = mask_to_bias(allowed) + torch.randn(allowed.shape, generator=g)
        torch_kwargs["attn_mask"] = our_mask

    out, weights = ours(x, memory, mask=our_mask, need_weights=need_weights)
    expected, expected_weights = theirs(
        x, keys, keys, need_weights=True, average_attn_weights=False, **torch_kwargs
    )
    torch.testing.assert_close(out, expected, **TOL)
    if need_weights:
        assert weights.shape == (x.shape[0], HEADS, x.shape[1], length_k)
        torch.testing.assert_close(weights, expected_weights, **TOL)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [False, True])
def test_is_causal_matches_torch_with_a_causal_attn_mask(need_weights):
    ours = make_mha()
    x, _ = inputs(length=7)
    pad = attention_mask(3, 7)
    out, _ = ours(x, mask=padding_mask(pad), is_causal=True, need_weights=need_weights)
    expected, _ = torch_copy(ours)(x, x, x, attn_mask=~causal_mask(7), key_padding_mask=pad == 0)
    torch.testing.assert_close(out, expected, **TOL)


def test_value_defaults_to_key_and_key_to_query():
    ours = make_mha()
    x, memory = inputs(memory_length=5)
    torch.testing.assert_close(ours(x)[0], ours(x, x, x)[0], atol=0, rtol=0)
    torch.testing.assert_close(ours(x, memory)[0], ours(x, memory, memory)[0], atol=0, rtol=0)


# --- grouped-query and multi-query attention ------------------------------------


def reference_gqa(mha, x, memory, mask):
    """Project, then give query head h the key/value head h // group, one head at a time."""
    batch, length, _ = x.shape
    memory = x if memory is None else memory
    group = mha.num_heads // mha.num_kv_heads
    dh = mha.head_dim
    q = mha.q_proj(x).view(batch, length, mha.num_heads, dh)
    k = mha.k_proj(memory).view(batch, memory.shape[1], mha.num_kv_heads, dh)
    v = mha.v_proj(memory).view(batch, memory.shape[1], mha.num_kv_heads, dh)
    heads = []
    for h in range(mha.num_heads):
        kv = h // group
        scores = q[:, :, h] @ k[:, :, kv].transpose(1, 2) / dh**0.5  # (B, L, S)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, 0], float("-inf"))
        heads.append(torch.softmax(scores, -1) @ v[:, :, kv])
    return mha.out_proj(torch.cat(heads, dim=-1))


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("memory_length", [None, 9], ids=["self", "cross"])
@pytest.mark.parametrize("num_kv_heads", [1, 2], ids=["MQA", "GQA"])
def test_gqa_matches_reference(num_kv_heads, memory_length, need_weights):
    mha = make_mha(num_kv_heads)
    x, memory = inputs(memory_length=memory_length)
    length_k = x.shape[1] if memory is None else memory.shape[1]
    mask = padding_mask(attention_mask(x.shape[0], length_k))
    out, _ = mha(x, memory, mask=mask, need_weights=need_weights)
    torch.testing.assert_close(out, reference_gqa(mha, x, memory, mask), **TOL)


@pytest.mark.parametrize("num_kv_heads", [1, 2, HEADS])
def test_fused_and_explicit_paths_agree(num_kv_heads):
    mha = make_mha(num_kv_heads)
    x, _ = inputs(length=8)
    mask = padding_mask(attention_mask(3, 8))
    fused, none = mha(x, mask=mask, is_causal=True)
    explicit, weights = mha(x, mask=mask, is_causal=True, need_weights=True)
    assert none is None and weights.shape == (3, HEADS, 8, 8)
    torch.testing.assert_close(fused, explicit, **TOL)


def test_query_heads_of_one_group_share_keys():
    """With MQA, all heads see the same keys: equal queries give equal weights."""
    mha = make_mha(num_kv_heads=1)
    with torch.no_grad():  # make every query head a copy of head 0
        w = mha.q_proj.weight.view(HEADS, mha.head_dim, D_MODEL)
        w[:] = w[0].clone()
        mha.q_proj.bias.view(HEADS, mha.head_dim)[:] = mha.q_proj.bias[: mha.head_dim].clone()
    _, weights = mha(inputs()[0], need_weights=True)
    for h in range(1, HEADS):
        torch.testing.assert_close(weights[:, h], weights[:, 0], **TOL)


# --- rotary positions -------------------------------------------------------------


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("num_kv_heads", [2, HEADS])
def test_rotary_is_applied_to_queries_and_keys(num_kv_heads, need_weights):
    mha = make_mha(num_kv_heads)
    rope = RotaryEmbedding(mha.head_dim, max_positions=16)
    x, _ = inputs(length=7)
    out, _ = mha(x, is_causal=True, rotary=rope, need_weights=need_weights)

    batch, length, _ = x.shape
    dh, group = mha.head_dim, HEADS // num_kv_heads
    cos, sin = rope.cos[:length], rope.sin[:length]
    q = apply_rotary(mha.q_proj(x).view(batch, length, HEADS, dh).transpose(1, 2), cos, sin)
    k = apply_rotary(mha.k_proj(x).view(batch, length, num_kv_heads, dh).transpose(1, 2), cos, sin)
    v = mha.v_proj(x).view(batch, length, num_kv_heads, dh).transpose(1, 2)
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expected = mha.out_proj(heads.transpose(1, 2).reshape(batch, length, D_MODEL))
    torch.testing.assert_close(out, expected, **TOL)


# --- the key/value cache ----------------------------------------------------------


def attend_in_pieces(mha, x, pieces, **kwargs):
    """Feed ``x`` to ``mha`` in consecutive pieces (lengths ``pieces``) with one cache;
    ``mask_for(end)`` in kwargs gives each call's mask over positions ``0..end-1``."""
    cache, outputs, weights, start = LayerKVCache(), [], [], 0
    mask_for = kwargs.pop("mask_for", lambda end: None)
    for length in pieces:
        end = start + length
        out, w = mha(x[:, start:end], mask=mask_for(end), cache=cache, **kwargs)
        assert len(cache) == end
        outputs.append(out)
        weights.append(w)
        start = end
    return torch.cat(outputs, dim=1), weights, cache


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("num_kv_heads", [1, 2, HEADS], ids=["MQA", "GQA", "MHA"])
def test_cached_pieces_give_the_rows_of_full_causal_attention(num_kv_heads, need_weights):
    mha = make_mha(num_kv_heads)
    x, _ = inputs(length=7)
    full, full_weights = mha(x, is_causal=True, need_weights=True)
    out, weights, cache = attend_in_pieces(
        mha, x, [4, 1, 2], is_causal=True, need_weights=need_weights
    )
    torch.testing.assert_close(out, full, **TOL)
    assert cache.keys.shape == cache.values.shape == (3, num_kv_heads, 7, mha.head_dim)
    if need_weights:  # the last piece's rows: queries 5 and 6 over keys 0..6
        torch.testing.assert_close(weights[-1], full_weights[:, :, 5:], **TOL)
    else:
        assert all(w is None for w in weights)


@pytest.mark.parametrize("need_weights", [False, True])
def test_cache_with_padding_mask_and_rotary(need_weights):
    mha = make_mha(num_kv_heads=2)
    rope = RotaryEmbedding(mha.head_dim, max_positions=16)
    x, _ = inputs(length=7)
    mask = attention_mask(3, 7)
    full, _ = mha(x, mask=padding_mask(mask), is_causal=True, rotary=rope)
    out, _, _ = attend_in_pieces(
        mha, x, [3, 1, 1, 2], mask_for=lambda end: padding_mask(mask[:, :end]),
        is_causal=True, rotary=rope, need_weights=need_weights,
    )  # fmt: skip
    torch.testing.assert_close(out, full, **TOL)


def test_cache_without_is_causal_attends_to_every_cached_position():
    mha = make_mha()
    x, _ = inputs(length=6)
    cache = LayerKVCache()
    mha(x[:, :5], cache=cache)
    out, weights = mha(x[:, 5:], cache=cache, need_weights=True)
    full, full_weights = mha(x, need_weights=True)
    torch.testing.assert_close(out, full[:, 5:], **TOL)
    torch.testing.assert_close(weights, full_weights[:, :, 5:], **TOL)


def test_cache_errors():
    mha = make_mha()
    x, memory = inputs(length=5, memory_length=7)
    with pytest.raises(ValueError, match="self-attention only: pass key=None"):
        mha(x, memory, cache=LayerKVCache())
    cache = LayerKVCache()
    mha(x, cache=cache)
    with pytest.raises(ValueError, match=r"holds keys of shape \(3, 4, 5, 8\).*\(2, 4, 1, 8\)"):
        mha(x[:2, :1], cache=cache)
    assert len(cache) == 5  # the failed calls left the cache as it was


def test_cache_takes_a_float_bias():
    """A float mask (T5's position bias) works with a cache as without one."""
    mha = make_mha()
    x, _ = inputs(length=6)
    bias = torch.randn(1, mha.num_heads, 6, 6, generator=torch.Generator().manual_seed(1))
    cache = LayerKVCache()
    mha(x[:, :5], mask=bias[:, :, :5, :5], is_causal=True, cache=cache)
    out, _ = mha(x[:, 5:], mask=bias[:, :, 5:], is_causal=True, cache=cache)
    full, _ = mha(x, mask=bias, is_causal=True)
    torch.testing.assert_close(out, full[:, 5:], **TOL)


# --- dropout ----------------------------------------------------------------------


@pytest.mark.parametrize("need_weights", [False, True])
def test_dropout_only_in_training(need_weights):
    mha = make_mha(dropout=0.5)
    plain = make_mha()  # same seed, same weights, no dropout
    x, _ = inputs()
    torch.testing.assert_close(mha(x, need_weights=need_weights)[0], plain(x)[0], **TOL)
    mha.train()
    torch.manual_seed(0)
    first = mha(x, need_weights=need_weights)[0]
    second = mha(x, need_weights=need_weights)[0]
    assert not torch.allclose(first, second)


# --- errors -------------------------------------------------------------------------


def test_constructor_errors_name_the_numbers():
    with pytest.raises(ValueError, match="d_model=30 is not divisible by num_heads=4"):
        MultiHeadAttention(30, 4)
    with pytest.raises(ValueError, match="num_heads=4 is not divisible by num_kv_heads=3"):
        MultiHeadAttention(32, 4, num_kv_heads=3)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        MultiHeadAttention(32, 4, dropout=1.5)


@pytest.mark.parametrize("need_weights", [False, True])
def test_forward_errors_name_the_shapes(need_weights):
    mha = make_mha()
    x, memory = inputs(batch=2, length=5, memory_length=7)
    with pytest.raises(ValueError, match=r"mask of shape \(3, 5, 7\) .* \(2, 4, 5, 7\)"):
        mha(x, memory, mask=torch.ones(3, 5, 7, dtype=torch.bool), need_weights=need_weights)
    with pytest.raises(ValueError, match=r"query must have shape .*d_model=32.*got \(2, 5, 16\)"):
        mha(x[..., :16], need_weights=need_weights)
    with pytest.raises(ValueError, match="L=5, S=7"):
        mha(x, memory, is_causal=True, need_weights=need_weights)


# --- gradients ------------------------------------------------------------------------


def test_gradients_flow_and_agree_between_paths():
    mha = make_mha(num_kv_heads=2)
    x, _ = inputs()
    mask = padding_mask(attention_mask(3, 6))
    grads = []
    for need_weights in (False, True):
        x_in = x.clone().requires_grad_(True)
        mha.zero_grad()
        out, _ = mha(x_in, mask=mask, is_causal=True, need_weights=need_weights)
        out.square().sum().backward()
        grads.append([x_in.grad] + [p.grad.clone() for p in mha.parameters()])
    for fused, explicit in zip(*grads):
        assert fused.abs().sum() > 0
        torch.testing.assert_close(fused, explicit, **TOL)


def test_conversion_to_torch_refuses_what_torch_cannot_hold():
    with pytest.raises(ValueError, match="2 key/value heads for 4 query heads"):
        to_torch_multihead_attention(MultiHeadAttention(16, 4, num_kv_heads=2))
    with pytest.raises(ValueError, match="bias=True"):
        to_torch_multihead_attention(MultiHeadAttention(16, 4, bias=False))

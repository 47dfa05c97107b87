"""The functional core: masks, heads, explicit attention against PyTorch's SDPA,
and the fused path against the explicit one."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.attention import (
    causal_mask,
    combine_masks,
    functional,
    fused_attention,
    mask_to_bias,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    split_heads,
)

TOL = {"atol": 1e-5, "rtol": 0.0}

# (batch dims, L, S, d, dv): L != S, several batch/head dims, unbatched
SHAPES = [
    ((2, 3), 5, 5, 8, 8),
    ((2, 4), 7, 11, 16, 16),
    ((3, 2), 9, 4, 8, 12),
    ((4,), 6, 6, 32, 32),
    ((), 5, 9, 8, 4),
]
MASK_KINDS = ["none", "causal", "padding", "padding+causal", "float", "scale"]
CASES = [
    pytest.param(shape, kind, id=f"{kind}-{shape}")
    for shape in SHAPES
    for kind in MASK_KINDS
    if "causal" not in kind or shape[1] == shape[2]  # causal masks need L == S
]


def qkv(batch, length_q, length_k, d, dv, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    shape = lambda n, w: (*batch, n, w)  # noqa: E731
    tensors = (
        torch.randn(shape(length_q, d), generator=g),
        torch.randn(shape(length_k, d), generator=g),
        torch.randn(shape(length_k, dv), generator=g),
    )
    return tuple(t.requires_grad_(requires_grad) for t in tensors)


def right_padding(batch_size, length, seed=0):
    """A (batch, length) 0/1 mask with at least one real token first in each row."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (batch_size,), generator=g)
    return (torch.arange(length)[None, :] < lengths[:, None]).long()


def padding_for(batch, length):
    """A padding mask broadcastable to (*batch, L, S): (B, 1, 1, S), or (1, S) unbatched."""
    if not batch:
        return padding_mask(right_padding(1, length))[0, 0]
    pad = padding_mask(right_padding(batch[0], length))  # (B, 1, 1, S)
    return pad if len(batch) == 2 else pad[:, 0]  # (B, 1, S) for one batch dim


def case(kind, batch, length_q, length_k, seed=0):
    """Mask arguments for ours and for torch's SDPA: (our_mask, torch_kwargs, scale)."""
    g = torch.Generator().manual_seed(seed + 1)
    if kind == "none":
        return None, {}, None
    if kind == "causal":
        return causal_mask(length_q), {"is_causal": True}, None
    if kind == "padding":
        pad = padding_for(batch, length_k)
        return pad, {"attn_mask": pad}, None
    if kind == "padding+causal":
        both = combine_masks(padding_for(batch, length_k), causal_mask(length_q))
        return both, {"attn_mask": both}, None
    if kind == "float":  # a random bias with some -inf, but key 0 always allowed
        bias = torch.randn(length_q, length_k, generator=g)
        blocked = torch.rand(length_q, length_k, generator=g) < 0.3
        blocked[:, 0] = False
        bias = bias.masked_fill(blocked, float("-inf"))
        return bias, {"attn_mask": bias}, None
    if kind == "scale":
        return None, {"scale": 0.3}, 0.3
    raise AssertionError(kind)


def test_docstring_examples():
    result = doctest.testmod(functional)
    assert result.attempted > 0 and result.failed == 0


# --- masks -----------------------------------------------------------------


def test_causal_mask():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool and mask.shape == (4, 4)
    for i in range(4):
        for j in range(4):
            assert mask[i, j] == (j <= i)


def test_padding_mask_from_ints_and_bools():
    attention_mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    mask = padding_mask(attention_mask)
    assert mask.shape == (2, 1, 1, 3) and mask.dtype == torch.bool
    assert mask[:, 0, 0].tolist() == [[True, True, False], [True, False, False]]
    assert torch.equal(padding_mask(attention_mask.bool()), mask)


def test_padding_mask_errors():
    with pytest.raises(ValueError, match=r"\(batch, seq\); got shape \(3,\)"):
        padding_mask(torch.tensor([1, 1, 0]))
    with pytest.raises(ValueError, match="only 0 .* and 1"):
        padding_mask(torch.tensor([[101, 2023, 102]]))


def test_combine_masks():
    pad = padding_mask(torch.tensor([[1, 1, 0]]))
    combined = combine_masks(pad, causal_mask(3))
    assert combined.shape == (1, 1, 3, 3)
    assert torch.equal(combined[0, 0], causal_mask(3) & torch.tensor([True, True, False]))
    assert combine_masks(None, pad, None) is pad
    assert combine_masks() is None and combine_masks(None, None) is None


def test_combine_masks_errors():
    with pytest.raises(ValueError, match=r"\(3, 3\), \(4, 4\)"):
        combine_masks(causal_mask(3), causal_mask(4))
    with pytest.raises(TypeError, match="bool masks"):
        combine_masks(causal_mask(3), mask_to_bias(causal_mask(3)))


def test_mask_to_bias():
    bias = mask_to_bias(torch.tensor([True, False]))
    assert bias.dtype == torch.float32 and bias.tolist() == [0.0, -math.inf]
    assert mask_to_bias(torch.tensor([True, False]), torch.float64).dtype == torch.float64
    assert torch.equal(mask_to_bias(bias), bias)  # a float mask is already a bias


# --- heads -----------------------------------------------------------------


def test_split_and_merge_heads():
    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    for h in range(3):
        assert torch.equal(heads[:, h], x[..., 4 * h : 4 * (h + 1)])
    assert torch.equal(merge_heads(heads), x)


def test_split_heads_error_names_both_numbers():
    with pytest.raises(ValueError, match="width 10 is not divisible by num_heads=3"):
        split_heads(torch.randn(2, 5, 10), 3)


# --- explicit attention against torch's SDPA ---------------------------------


@pytest.mark.parametrize(("shape", "kind"), CASES)
def test_explicit_matches_torch_sdpa(shape, kind):
    batch, length_q, length_k, d, dv = shape
    q, k, v = qkv(*shape)
    mask, torch_kwargs, scale = case(kind, batch, length_q, length_k)

    out, weights = scaled_dot_product_attention(q, k, v, mask=mask, scale=scale)
    expected = F.scaled_dot_product_attention(q, k, v, **torch_kwargs)

    assert out.shape == (*batch, length_q, dv) and weights.shape == (*batch, length_q, length_k)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), **TOL)
    torch.testing.assert_close(weights @ v, out, **TOL)


def test_weights_are_the_softmax_of_scaled_scores():
    q, k, v = qkv((2,), 4, 6, 8, 8)
    _, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(weights, torch.softmax(q @ k.mT / math.sqrt(8), -1), **TOL)


def test_masked_keys_get_zero_weight():
    q, k, v = qkv((1,), 3, 3, 4, 4)
    _, weights = scaled_dot_product_attention(q, k, v, mask=causal_mask(3))
    assert torch.equal(weights[0].triu(1), torch.zeros(3, 3))


def test_bool_and_float_masks_agree():
    q, k, v = qkv((2, 2), 5, 5, 8, 8)
    mask = combine_masks(padding_mask(torch.tensor([[1, 1, 1, 0, 0], [1] * 5])), causal_mask(5))
    out_bool, w_bool = scaled_dot_product_attention(q, k, v, mask=mask)
    out_float, w_float = scaled_dot_product_attention(q, k, v, mask=mask_to_bias(mask))
    torch.testing.assert_close(out_bool, out_float, **TOL)
    torch.testing.assert_close(w_bool, w_float, **TOL)


# --- rows with every key masked ----------------------------------------------


@pytest.mark.parametrize("as_bias", [False, True])
def test_fully_masked_rows_give_zeros_without_nan(as_bias):
    q, k, v = qkv((2, 3), 4, 6, 8, 8, requires_grad=True)
    mask = torch.ones(2, 1, 4, 6, dtype=torch.bool)
    mask[0, 0, 1] = False  # batch 0, query 1: no key at all
    mask[1, 0, :, 2] = False
    arg = mask_to_bias(mask) if as_bias else mask

    out, weights = scaled_dot_product_attention(q, k, v, mask=arg)
    fused = fused_attention(q, k, v, mask=arg)
    assert torch.equal(out[0, :, 1], torch.zeros(3, 8))
    assert torch.equal(weights[0, :, 1], torch.zeros(3, 6))
    assert torch.equal(fused[0, :, 1], torch.zeros(3, 8))

    # The other rows are ordinary attention: compare them with torch's SDPA.
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    others = torch.ones(2, 3, 4, dtype=torch.bool)
    others[0, :, 1] = False
    torch.testing.assert_close(out[others], expected[others], **TOL)
    torch.testing.assert_close(fused[others], expected[others], **TOL)

    for result in (out, fused):
        grads = torch.autograd.grad(result.square().sum(), (q, k, v))
        assert all(torch.isfinite(g).all() for g in grads)
        assert torch.equal(grads[0][0, :, 1], torch.zeros(3, 8))  # the empty row learns nothing


# --- the fused path ------------------------------------------------------------


@pytest.mark.parametrize(("shape", "kind"), CASES)
def test_fused_matches_explicit(shape, kind):
    batch, length_q, length_k, _, _ = shape
    q, k, v = qkv(*shape)
    mask, _, scale = case(kind, batch, length_q, length_k)
    explicit, _ = scaled_dot_product_attention(q, k, v, mask=mask, scale=scale)
    torch.testing.assert_close(fused_attention(q, k, v, mask=mask, scale=scale), explicit, **TOL)


@pytest.mark.parametrize("as_bias", [False, True])
def test_fused_is_causal_combines_with_a_mask(as_bias):
    q, k, v = qkv((3, 2), 6, 6, 8, 8)
    pad = padding_mask(right_padding(3, 6))
    explicit, _ = scaled_dot_product_attention(q, k, v, mask=combine_masks(pad, causal_mask(6)))
    mask = mask_to_bias(pad) if as_bias else pad
    torch.testing.assert_close(fused_attention(q, k, v, mask=mask, is_causal=True), explicit, **TOL)
    causal_only, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(6))
    torch.testing.assert_close(fused_attention(q, k, v, is_causal=True), causal_only, **TOL)


# --- dropout -------------------------------------------------------------------


def test_dropout_is_reproducible_and_scaled():
    q, k, v = qkv((2, 4), 16, 16, 8, 8)
    run = lambda seed: scaled_dot_product_attention(  # noqa: E731
        q, k, v, dropout_p=0.25, generator=torch.Generator().manual_seed(seed)
    )
    (out1, w1), (out2, w2), (out3, _) = run(0), run(0), run(1)
    assert torch.equal(out1, out2) and torch.equal(w1, w2)
    assert not torch.equal(out1, out3)
    torch.testing.assert_close(w1 @ v, out1, **TOL)  # the returned weights are the applied ones

    _, clean = scaled_dot_product_attention(q, k, v)
    kept = w1 != 0
    assert 0.65 < kept.float().mean() < 0.85
    torch.testing.assert_close(w1[kept], clean[kept] / 0.75, **TOL)


def test_dropout_p_must_be_below_one():
    q, k, v = qkv((1,), 2, 2, 4, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\); got 1.0"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)


# --- errors ----------------------------------------------------------------------


@pytest.mark.parametrize("attention", [scaled_dot_product_attention, fused_attention])
def test_shape_errors_name_the_shapes(attention):
    q, k, v = qkv((2,), 3, 5, 8, 8)
    with pytest.raises(ValueError, match=r"query \(2, 3, 8\) and key \(2, 5, 7\)"):
        attention(q, k[..., :7], v)
    with pytest.raises(ValueError, match=r"key \(2, 5, 8\) and value \(2, 4, 8\)"):
        attention(q, k, v[:, :4])
    with pytest.raises(ValueError, match=r"mask of shape \(3, 3\) .* shape \(2, 3, 5\)"):
        attention(q, k, v, mask=causal_mask(3))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 1, 5\) .* shape \(2, 3, 5\)"):
        attention(q, k, v, mask=torch.ones(4, 1, 5, dtype=torch.bool))


def test_is_causal_needs_square_scores():
    q, k, v = qkv((2,), 3, 5, 8, 8)
    with pytest.raises(ValueError, match="L=3, S=5"):
        fused_attention(q, k, v, is_causal=True)


# --- gradients --------------------------------------------------------------------


def test_gradients_flow_and_agree_between_paths():
    q, k, v = qkv((2, 2), 5, 7, 8, 8, requires_grad=True)
    pad = padding_mask(right_padding(2, 7))
    explicit, _ = scaled_dot_product_attention(q, k, v, mask=pad)
    grads_explicit = torch.autograd.grad(explicit.square().sum(), (q, k, v))
    fused = fused_attention(q, k, v, mask=pad)
    grads_fused = torch.autograd.grad(fused.square().sum(), (q, k, v))
    for g_explicit, g_fused in zip(grads_explicit, grads_fused):
        assert g_explicit.abs().sum() > 0
        torch.testing.assert_close(g_fused, g_explicit, **TOL)


def test_explicit_path_passes_gradcheck():
    q, k, v = (t.double() for t in qkv((1, 2), 3, 4, 4, 4))
    for t in (q, k, v):
        t.requires_grad_(True)
    mask = torch.tensor([True, True, True, False])
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask)[0], (q, k, v)
    )

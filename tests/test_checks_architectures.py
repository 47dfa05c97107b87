"""The checkers of notebooks 02 and 03 accept right answers and explain wrong ones."""

import math

import pytest
import torch

from course_utils.attention import causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from course_utils.checks.attention import (
    check_attention,
    check_causal_mask,
    check_merge_heads,
    check_split_heads,
)
from course_utils.checks.transformer import (
    check_bert_parameter_count,
    check_post_ln_layer,
    check_pre_ln_layer,
)


def test_reference_answers_pass(capsys):
    check_attention(lambda q, k, v, mask=None: scaled_dot_product_attention(q, k, v, mask))
    check_causal_mask(causal_mask)
    check_split_heads(split_heads)
    check_merge_heads(merge_heads)
    check_post_ln_layer(lambda layer, x: layer.norm2(
        layer.norm1(x + layer.self_attn(x)[0]) + layer.ff(layer.norm1(x + layer.self_attn(x)[0]))))
    check_pre_ln_layer(lambda layer, x: (lambda h: h + layer.ff(layer.norm2(h)))(
        x + layer.self_attn(layer.norm1(x))[0]))
    assert capsys.readouterr().out.count("✅") == 6


def test_unscaled_attention_is_caught():
    def unscaled(q, k, v, mask=None):
        weights = (q @ k.transpose(-2, -1)).softmax(-1)
        return weights @ v, weights

    with pytest.raises(AssertionError, match="largest difference"):
        check_attention(unscaled)


def test_attention_ignoring_the_mask_is_caught():
    def no_mask(q, k, v, mask=None):
        return scaled_dot_product_attention(q, k, v)

    with pytest.raises(AssertionError, match="-inf"):
        check_attention(no_mask)


def test_wrong_masks_and_heads_are_caught():
    with pytest.raises(AssertionError, match="dtype"):
        check_causal_mask(lambda n: torch.tril(torch.ones(n, n)))
    with pytest.raises(AssertionError, match="entries differ"):
        check_causal_mask(lambda n: torch.triu(torch.ones(n, n, dtype=torch.bool)))
    with pytest.raises(AssertionError, match="shape"):
        check_split_heads(lambda x, h: x.view(x.shape[0], x.shape[1], h, -1))  # forgot the transpose
    with pytest.raises(AssertionError):
        check_merge_heads(lambda x: x.reshape(x.shape[0], x.shape[2], -1))  # no transpose first


def test_swapped_layer_norm_order_is_caught():
    def pre_instead_of_post(layer, x):
        x = x + layer.self_attn(layer.norm1(x))[0]
        return x + layer.ff(layer.norm2(x))

    with pytest.raises(AssertionError, match="post-LN"):
        check_post_ln_layer(pre_instead_of_post)


def test_parameter_count_without_biases_is_caught():
    def no_biases(vocab, positions, types, d, layers, d_ff):
        return (vocab + positions + types) * d + 2 * d + layers * (4 * d * d + 2 * d * d_ff + 4 * d) + d * d

    with pytest.raises(AssertionError, match="hint"):
        check_bert_parameter_count(no_biases)
    assert math.isfinite(no_biases(1, 1, 1, 1, 1, 1))

"""The checkers of notebooks 02 and 03 accept right answers and explain wrong ones."""

import copy
import math
import re

import pytest
import torch

from course_utils.attention import causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from course_utils.checks import code_hint
from course_utils.checks.attention import (
    HINTS,
    check_attention,
    check_causal_mask,
    check_merge_heads,
    check_split_heads,
)
from course_utils.checks.core import NotYourOwnWork
from course_utils.checks.transformer import (
    check_bert_parameter_count,
    check_post_ln_layer,
    check_pre_ln_layer,
)
from course_utils.transformer import EncoderLayer


def _own_attention(q, k, v, mask=None):
    """A student's attention, written out (the checkers refuse the package's, even wrapped)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    return weights @ v, weights


def _own_split(x, h):
    return x.view(x.shape[0], x.shape[1], h, -1).transpose(1, 2)


def _own_merge(x):
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)


def test_reference_answers_pass(capsys):
    # The attention checkers forbid the package's functions while the student's runs, so the
    # right answers here are written out, as a student would write them.
    check_attention(_own_attention)
    check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril())
    check_split_heads(_own_split)
    check_merge_heads(_own_merge)
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


def test_thin_wrappers_around_the_package_fail_the_visible_checks():
    wrappers = [
        (check_attention, lambda q, k, v, mask=None: scaled_dot_product_attention(q, k, v, mask)),
        (check_causal_mask, lambda n: causal_mask(n)),
        (check_split_heads, lambda x, h: split_heads(x, h)),
        (check_merge_heads, lambda x: merge_heads(x)),
    ]
    for checker, wrapper in wrappers:
        with pytest.raises(NotYourOwnWork, match="write it yourself"):
            checker(wrapper)
    # ... and the package's functions work again after each check.
    assert torch.equal(causal_mask(2), torch.ones(2, 2, dtype=torch.bool).tril())
    assert scaled_dot_product_attention(torch.ones(1, 2), torch.ones(1, 2), torch.ones(1, 2))[0].shape == (1, 2)


def test_attention_ignoring_the_mask_is_caught():
    def no_mask(q, k, v, mask=None):
        return _own_attention(q, k, v)

    with pytest.raises(AssertionError, match="minus infinity before the softmax"):
        check_attention(no_mask)


def test_attention_checkers_refuse_the_package_and_hint_in_words(capsys):
    with pytest.raises(AssertionError, match="the package's own"):
        check_causal_mask(causal_mask)
    wrong = [
        (check_attention, lambda q, k, v, mask=None: (v, q)),
        (check_causal_mask, lambda n: torch.ones(n, n, dtype=torch.bool)),
        (check_split_heads, lambda x, h: x.view(x.shape[0], x.shape[1], h, -1)),
        (check_merge_heads, lambda x: x.reshape(x.shape[0], x.shape[2], -1)),
    ]
    code_like = r"[()\[\]=@]|torch|\.\w|masked_fill|tril|view|reshape|transpose"
    assert not any(re.search(code_like, hint) for hint in HINTS.values())
    for checker, answer in wrong:
        with pytest.raises(AssertionError) as failure:
            checker(answer)
        message = str(failure.value)
        hint = message.split("hint: ", 1)[1].split("\n", 1)[0]
        assert not re.search(code_like, hint), hint
        assert "code_hint(" in message  # the code is one call away, on request
    for name in ("attention", "causal_mask", "split_heads", "merge_heads"):
        code_hint(name)
    assert "masked_fill" in capsys.readouterr().out


def test_wrong_masks_and_heads_are_caught():
    with pytest.raises(AssertionError, match="dtype"):
        check_causal_mask(lambda n: torch.tril(torch.ones(n, n)))
    with pytest.raises(AssertionError, match="entries differ"):
        check_causal_mask(lambda n: torch.triu(torch.ones(n, n, dtype=torch.bool)))
    with pytest.raises(AssertionError, match="shape"):
        check_split_heads(lambda x, h: x.view(x.shape[0], x.shape[1], h, -1))  # forgot the transpose
    with pytest.raises(AssertionError):
        check_merge_heads(lambda x: x.reshape(x.shape[0], x.shape[2], -1))  # no transpose first


def test_parameter_count_without_biases_is_caught():
    def no_biases(vocab, positions, types, d, layers, d_ff):
        return (vocab + positions + types) * d + 2 * d + layers * (4 * d * d + 2 * d * d_ff + 4 * d) + d * d

    with pytest.raises(AssertionError, match="hint"):
        check_bert_parameter_count(no_biases)
    assert math.isfinite(no_biases(1, 1, 1, 1, 1, 1))


def test_transformer_hints_give_the_idea_and_code_only_on_request(capsys):
    from course_utils.checks import code_hint
    from course_utils.checks.transformer import HINTS

    for name in ("post_ln_layer", "pre_ln_layer", "bert_parameter_count"):
        assert not any(piece in HINTS[name] for piece in ("=", "layer.", "self_attn", "*", "return"))
        code_hint(name)
        assert "=" in capsys.readouterr().out  # the code hint is a line of code


def test_failed_layer_and_count_checks_offer_a_code_hint():
    def post_without_second_norm(layer, x):
        x = layer.norm1(x + layer.self_attn(x)[0])
        return x + layer.ff(x)

    with pytest.raises(AssertionError, match=r"code_hint\('post_ln_layer'\)"):
        check_post_ln_layer(post_without_second_norm)
    with pytest.raises(AssertionError, match=r"code_hint\('bert_parameter_count'\)"):
        check_bert_parameter_count(lambda *shape: 0)


def test_a_count_that_builds_the_package_model_fails_the_visible_checks():
    from course_utils.models import count_parameters, create_model

    def by_building(vocab, positions, types, d, layers, d_ff):
        with torch.device("meta"):
            model = create_model("bert-base", vocab_size=vocab, max_positions=positions,
                                 type_vocab_size=types, d_model=d, num_layers=layers, d_ff=d_ff,
                                 num_heads=1)
        return count_parameters(model)

    with pytest.raises(NotYourOwnWork, match="write it yourself"):
        check_bert_parameter_count(by_building)
    with pytest.raises(NotYourOwnWork, match="write it yourself"):
        check_bert_parameter_count(lambda *shape: by_building(*shape))
    assert by_building(50, 10, 3, 4, 2, 12) == 696  # everything is restored afterwards


def test_reference_count_passes(capsys):
    def by_hand(vocab, positions, types, d, layers, d_ff):
        per_layer = 4 * (d * d + d) + (d * d_ff + d_ff) + (d_ff * d + d) + 4 * d
        return (vocab + positions + types) * d + 2 * d + layers * per_layer + d * d + d

    check_bert_parameter_count(by_hand)
    assert "✅" in capsys.readouterr().out


def test_a_layer_that_calls_itself_fails_the_visible_checks():
    def calls_the_layer(layer, x):
        return layer(x)[0]

    def calls_it_wired_the_asked_way(layer, x, norm_first):
        layer = copy.deepcopy(layer)
        layer.norm_first = norm_first
        return layer(x)[0]

    for checker, norm_first in ((check_post_ln_layer, False), (check_pre_ln_layer, True)):
        with pytest.raises(AssertionError):
            checker(calls_the_layer)
        # Even with the right wiring, the package's forward refuses to run during the check.
        with pytest.raises(NotYourOwnWork, match="write it yourself"):
            checker(lambda layer, x: calls_it_wired_the_asked_way(layer, x, norm_first))
    x = torch.randn(1, 2, 8)
    assert calls_the_layer(EncoderLayer(8, 2, 16), x).shape == x.shape  # restored afterwards


def test_a_layer_that_calls_itself_fails_even_without_forward_disabled():
    # The layers are mostly built the other way, so layer(x) is simply the wrong answer.
    from course_utils.checks import transformer

    calls = []

    def run_without_forbid(name, function, cases, same, explain, forbid=()):
        calls.append([same(function(*case.args), case.expected) for case in cases])

    original = transformer.run_checks
    transformer.run_checks = run_without_forbid
    try:
        with torch.no_grad():
            transformer.check_post_ln_layer(lambda layer, x: layer(x)[0])
            transformer.check_pre_ln_layer(lambda layer, x: layer(x)[0])
    finally:
        transformer.run_checks = original
    assert all(not all(results) for results in calls)


def pre_instead_of_post(layer, x):  # the pre-LN order handed to the post-LN check
    x = x + layer.self_attn(layer.norm1(x))[0]
    return x + layer.ff(layer.norm2(x))


def norm1_twice(layer, x):  # pre-LN, but one LayerNorm for both sublayers
    x = x + layer.self_attn(layer.norm1(x))[0]
    return x + layer.ff(layer.norm1(x))


def swapped_norms(layer, x):  # post-LN with norm1 and norm2 swapped
    x = layer.norm2(x + layer.self_attn(x)[0])
    return layer.norm1(x + layer.ff(x))


@pytest.mark.parametrize(
    "check, wrong_layer, message",
    [
        (check_post_ln_layer, pre_instead_of_post, "post-LN"),
        (check_pre_ln_layer, norm1_twice, "pre-LN"),
        (check_post_ln_layer, swapped_norms, "post-LN"),
    ],
    ids=["swapped-layer-norm-order", "pre-ln-one-norm-for-both", "post-ln-swapped-norms"],
)
def test_wrong_layer_norm_placement_is_caught(check, wrong_layer, message):
    with pytest.raises(AssertionError, match=message):
        check(wrong_layer)

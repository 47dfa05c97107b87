"""Checkers for the exercises of notebook 03 (residual blocks, counting parameters).

Expected answers come from ``course_utils.transformer`` and ``course_utils.models``.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_utils.checks.core import Case, run_checks
from course_utils.checks.tensors import explain_tensors, tensors_match
from course_utils.transformer import EncoderLayer


def _check_layer(name: str, function: Callable, norm_first: bool, hint: str) -> None:
    """Compare ``function(layer, x)`` with ``layer(x)`` on a few small encoder layers."""
    cases = []
    for seed, (width, heads, length) in enumerate([(8, 2, 3), (16, 4, 5), (32, 4, 1)]):
        torch.manual_seed(seed)
        layer = EncoderLayer(width, heads, 2 * width, norm_first=norm_first).eval()
        x = torch.randn(2, length, width, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            cases.append(Case((layer, x), layer(x)[0], hint=hint))
    with torch.no_grad():
        run_checks(name, function, cases, same=tensors_match, explain=explain_tensors)


def check_post_ln_layer(function: Callable) -> None:
    """``function(layer, x)`` should compute a post-LN encoder layer with ``layer``'s modules."""
    _check_layer("post_ln_layer", function, norm_first=False,
                 hint="post-LN: x = norm1(x + self_attn(x)[0]), then x = norm2(x + ff(x)); "
                      "the normalisation comes after each residual addition")


def check_pre_ln_layer(function: Callable) -> None:
    """``function(layer, x)`` should compute a pre-LN encoder layer with ``layer``'s modules."""
    _check_layer("pre_ln_layer", function, norm_first=True,
                 hint="pre-LN: x = x + self_attn(norm1(x))[0], then x = x + ff(norm2(x)); "
                      "the residual path itself is never normalised")


def check_bert_parameter_count(function: Callable) -> None:
    """``function(vocab_size, max_positions, type_vocab_size, d_model, num_layers, d_ff)``
    should count the parameters of a BERT encoder with its pooler."""
    from course_utils.models import count_parameters, create_model

    shapes = [
        dict(vocab_size=100, max_positions=16, type_vocab_size=2, d_model=8, num_layers=1, d_ff=32),
        dict(vocab_size=1000, max_positions=64, type_vocab_size=2, d_model=32, num_layers=3, d_ff=64),
        dict(vocab_size=30522, max_positions=512, type_vocab_size=2, d_model=768, num_layers=12,
             d_ff=3072),
        dict(vocab_size=30522, max_positions=512, type_vocab_size=2, d_model=1024, num_layers=24,
             d_ff=4096),
    ]
    cases = []
    for shape in shapes:
        heads = max(1, shape["d_model"] // 64)
        with torch.device("meta"):
            model = create_model("bert-base", num_heads=heads, **shape)
        cases.append(Case(tuple(shape.values()), count_parameters(model), hint=(
            "embeddings (word, position, segment tables and their LayerNorm), then per layer: "
            "Q, K, V and output projections (weights and biases), two LayerNorms (weight and "
            "bias each), the two feed-forward linears; then the pooler (a d x d linear)")))
    run_checks("bert_parameter_count", function, cases)

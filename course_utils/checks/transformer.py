"""Checkers for the exercises of notebook 03 (residual blocks, counting parameters).

Expected layer outputs are written out by hand from the layer's modules; expected counts come
from building the model with ``course_utils.models`` before the student's function runs.
"""

from __future__ import annotations

from typing import Callable

import torch

from course_utils.checks.core import Case, register_code_hints, run_checks
from course_utils.checks.tensors import explain_tensors, tensors_match
from course_utils.transformer import EncoderLayer

# The idea behind each exercise, in words (a failed check prints the one that fits).
HINTS = {
    "post_ln_layer": (
        "post-LN normalises after each residual addition: add the attention output to the "
        "input and normalise the sum with the first LayerNorm, then do the same with the "
        "feed-forward network and the second LayerNorm"
    ),
    "pre_ln_layer": (
        "pre-LN normalises what each sub-layer reads, not the sum: the attention reads a "
        "normalised copy of x and its output is added to x itself; then the feed-forward "
        "network reads the second LayerNorm's copy and is added the same way"
    ),
    "bert_parameter_count": (
        "count table by table: the three embedding tables (token, position, segment; each "
        "row is d_model wide) and the LayerNorm after them; per layer the four square "
        "attention projections, the two feed-forward linears and two LayerNorms, every "
        "linear with a bias and every LayerNorm with a weight and a bias; last the pooler, "
        "one more square linear with its bias"
    ),
}

# One line of code per exercise, shown only on request with code_hint(name).
register_code_hints({
    "post_ln_layer": (
        "x = layer.norm1(x + layer.self_attn(x)[0])\n"
        "# then the same pattern with layer.ff and layer.norm2"
    ),
    "pre_ln_layer": (
        "x = x + layer.self_attn(layer.norm1(x))[0]\n"
        "# then the same pattern with layer.norm2 and layer.ff"
    ),
    "bert_parameter_count": (
        "embeddings = (vocab_size + max_positions + type_vocab_size) * d_model + 2 * d_model\n"
        "attention = 4 * (d_model * d_model + d_model)  # Q, K, V, output: weight + bias"
    ),
})


def _by_hand(layer: EncoderLayer, x: torch.Tensor, norm_first: bool) -> torch.Tensor:
    """The layer's modules wired pre-LN (``norm_first``) or post-LN, written out."""
    if norm_first:
        h = x + layer.self_attn(layer.norm1(x))[0]
        return h + layer.ff(layer.norm2(h))
    h = layer.norm1(x + layer.self_attn(x)[0])
    return layer.norm2(h + layer.ff(h))


def _check_layer(name: str, function: Callable, norm_first: bool) -> None:
    """Compare ``function(layer, x)`` with the layer's modules wired by hand.

    Most layers are built the *other* way (so returning ``layer(x)`` gives the wrong wiring),
    and every LayerNorm gets its own random weight and bias (so using ``norm1`` where ``norm2``
    belongs shows). The package's ``EncoderLayer.forward`` is switched off while the student's
    function runs, so calling ``layer(x)`` fails.
    """
    cases = []
    shapes = [(8, 2, 3, not norm_first), (16, 4, 5, not norm_first), (32, 4, 1, norm_first)]
    for seed, (width, heads, length, built_norm_first) in enumerate(shapes):
        torch.manual_seed(seed)
        layer = EncoderLayer(width, heads, 2 * width, norm_first=built_norm_first).eval()
        with torch.no_grad():
            for norm in (layer.norm1, layer.norm2):
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)
        x = torch.randn(2, length, width, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            cases.append(Case((layer, x), _by_hand(layer, x, norm_first), hint=HINTS[name]))
    with torch.no_grad():
        run_checks(name, function, cases, same=tensors_match, explain=explain_tensors,
                   forbid=(EncoderLayer.forward,))


def check_post_ln_layer(function: Callable) -> None:
    """Taught in notebook 03, section 1.
    ``function(layer, x)`` should compute a post-LN encoder layer with ``layer``'s modules."""
    _check_layer("post_ln_layer", function, norm_first=False)


def check_pre_ln_layer(function: Callable) -> None:
    """Taught in notebook 03, section 1.
    ``function(layer, x)`` should compute a pre-LN encoder layer with ``layer``'s modules."""
    _check_layer("pre_ln_layer", function, norm_first=True)


def check_bert_parameter_count(function: Callable) -> None:
    """Taught in notebook 03, section 4.
    ``function(vocab_size, max_positions, type_vocab_size, d_model, num_layers, d_ff)``
    should count the parameters of a BERT encoder with its pooler."""
    from course_utils.models import (BertModel, build_model, count_parameters, create_model,
                                     get_config)

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
        cases.append(Case(tuple(shape.values()), count_parameters(model),
                          hint=HINTS["bert_parameter_count"]))
    # The expected counts are built above; building or counting a model is then switched off.
    run_checks("bert_parameter_count", function, cases,
               forbid=(count_parameters, create_model, build_model, get_config, BertModel))

"""Which heads a fine-tuned model needs: Michel et al. (2019), "Are Sixteen Heads Really Better
than One?", in miniature.

Each head's output is multiplied by a gate ``xi_h`` (1 by default) before the heads are mixed by
the attention's output projection. The importance of a head is how much the loss moves when its
gate moves, averaged over examples:

    I_h = E_x | dL(x) / d xi_h |

(normalised by its layer's L2 norm, as in the paper). Setting a gate to 0 removes the head;
``pruning_curve`` removes heads in a given order and measures accuracy after each removal.

>>> import torch
>>> from course_utils.models import BertForSequenceClassification, ModelConfig
>>> config = ModelConfig(arch="encoder", vocab_size=20, max_positions=8, d_model=8, num_layers=2, num_heads=2, d_ff=16)
>>> model = BertForSequenceClassification(config, num_labels=2)
>>> ids = torch.randint(0, 20, (1, 5))
>>> with head_gates(model) as gates:
...     gates.shape, bool(gates.requires_grad)
(torch.Size([2, 2]), True)
>>> with head_gates(model, removed=[(0, 1)]) as gates:
...     gates.tolist()
[[1.0, 0.0], [1.0, 1.0]]
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn


def _attention_layers(model: nn.Module) -> list[nn.Module]:
    body = getattr(model, "bert", model)
    encoder = getattr(body, "encoder", None)
    if encoder is None or not hasattr(encoder, "layers"):
        raise ValueError(f"{type(model).__name__} has no encoder layers: pass a BERT or a model with .bert")
    return [layer.self_attn for layer in encoder.layers]


@contextmanager
def head_gates(model: nn.Module, removed: Iterable[tuple[int, int]] = ()) -> Iterator[Tensor]:
    """Taught in notebook 08, section 5. Within the block, head ``h`` of layer ``l`` has its
    output multiplied by ``gates[l, h]``: a ``(layers, heads)`` tensor of ones that records
    gradients, with 0 at the ``removed`` ``(layer, head)`` pairs. The hooks go when the block ends."""
    attentions = _attention_layers(model)
    num_heads = attentions[0].num_heads
    gates = torch.ones(len(attentions), num_heads)
    for layer, head in removed:
        if not (0 <= layer < len(attentions) and 0 <= head < num_heads):
            raise ValueError(f"no head ({layer}, {head}): layers 0..{len(attentions) - 1}, heads 0..{num_heads - 1}")
        gates[layer, head] = 0.0
    gates.requires_grad_(True)
    handles = []
    for index, attention in enumerate(attentions):
        def gate_heads(module: nn.Module, args: tuple, index: int = index) -> tuple:
            (merged,) = args  # (B, L, H * head_dim): the heads side by side, before out_proj mixes them
            b, length, width = merged.shape
            per_head = merged.view(b, length, num_heads, width // num_heads)  # (B, L, H, head_dim)
            gated = per_head * gates[index].to(merged.dtype).view(1, 1, num_heads, 1)
            return (gated.view(b, length, width),)

        handles.append(attention.out_proj.register_forward_pre_hook(gate_heads))
    try:
        yield gates
    finally:
        for handle in handles:
            handle.remove()


def head_importance(model: nn.Module, examples, loss_fn: Callable[[nn.Module, object], Tensor],
                    normalize: bool = True) -> np.ndarray:
    """Taught in notebook 08, section 5. ``(layers, heads)`` importance scores: the mean over
    ``examples`` (an iterable of one-example batches for ``loss_fn(model, batch)``) of
    ``|dL/d gate|``; each layer divided by its L2 norm when ``normalize``. The model's own
    parameters get no gradient."""
    was_training = model.training
    model.eval()
    wanted = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    total, count = None, 0
    try:
        with head_gates(model) as gates:
            for batch in examples:
                loss = loss_fn(model, batch)
                (gradient,) = torch.autograd.grad(loss, gates)
                total = gradient.abs() if total is None else total + gradient.abs()
                count += 1
    finally:
        for parameter, flag in zip(model.parameters(), wanted):
            parameter.requires_grad_(flag)
        model.train(was_training)
    if count == 0:
        raise ValueError("no examples given")
    scores = total / count
    if normalize:
        scores = scores / scores.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return scores.numpy()


def pruning_order(scores: np.ndarray, rule: str = "least important first", seed: int = 0) -> list[tuple[int, int]]:
    """Taught in notebook 08, section 5. Every ``(layer, head)`` in the order ``rule`` removes
    them: ``"least important first"`` (the paper's), ``"most important first"``, or ``"random"``
    (the control, drawn from ``seed``)."""
    heads = [tuple(int(i) for i in np.unravel_index(k, scores.shape)) for k in range(scores.size)]
    if rule == "least important first":
        return [heads[k] for k in np.argsort(scores.ravel(), kind="stable")]
    if rule == "most important first":
        return [heads[k] for k in np.argsort(-scores.ravel(), kind="stable")]
    if rule == "random":
        return [heads[k] for k in np.random.default_rng(seed).permutation(scores.size)]
    raise ValueError(f"unknown rule {rule!r}; allowed: 'least important first', 'most important first', 'random'")


def pruning_curve(model: nn.Module, order: Sequence[tuple[int, int]],
                  accuracy: Callable[[nn.Module], float]) -> list[float]:
    """Taught in notebook 08, section 5. ``accuracy(model)`` with the first ``k`` heads of
    ``order`` removed, for ``k = 0, 1, ..., len(order)``."""
    scores = []
    for k in range(len(order) + 1):
        with head_gates(model, removed=order[:k]), torch.no_grad():
            scores.append(float(accuracy(model)))
    return scores

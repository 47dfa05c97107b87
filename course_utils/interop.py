"""Converting the course's modules to the industry implementations they are tested against."""

from __future__ import annotations

import torch

from course_utils.attention import MultiHeadAttention


def to_torch_multihead_attention(ours: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    """A ``torch.nn.MultiheadAttention`` (batch first) holding the same weights as ``ours``.

    torch packs the query, key and value projections into one ``in_proj_weight``.
    """
    if ours.num_kv_heads != ours.num_heads:
        raise ValueError(
            f"torch.nn.MultiheadAttention has no grouped-query attention; this module has "
            f"{ours.num_kv_heads} key/value heads for {ours.num_heads} query heads"
        )
    if ours.q_proj.bias is None:
        raise ValueError("only modules with biases (bias=True) can be converted")
    theirs = torch.nn.MultiheadAttention(ours.d_model, ours.num_heads, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(
            torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight])
        )
        theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return theirs.to(ours.q_proj.weight.device)

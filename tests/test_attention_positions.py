"""Positional encodings: the sinusoidal formula and its shift-as-rotation
property, learned embeddings, Shaw et al.'s relative positions (against a
hand-written loop and Hugging Face's relative_key attention), and RoPE's
relative-position property."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

from course_utils.attention import (
    LearnedPositionalEmbedding,
    RelativePositionAttention,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    apply_rotary,
    causal_mask,
    positions,
    relative_attention,
    relative_distances,
    scaled_dot_product_attention,
    sinusoidal_positions,
)

TOL = {"atol": 1e-5, "rtol": 0.0}


def test_docstring_examples():
    result = doctest.testmod(positions)
    assert result.attempted > 0 and result.failed == 0


# --- sinusoidal ---------------------------------------------------------------


def test_sinusoidal_values_follow_the_formula():
    d_model = 16
    table = sinusoidal_positions(100, d_model)
    assert table.shape == (100, d_model) and table.dtype == torch.float32
    for pos in (0, 1, 7, 99):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_sinusoidal_base_and_odd_width():
    table = sinusoidal_positions(5, 7, base=100.0)
    assert table.shape == (5, 7)
    assert table[3, 6].item() == pytest.approx(math.sin(3 / 100 ** (6 / 7)), abs=1e-6)
    assert table[3, 5].item() == pytest.approx(math.cos(3 / 100 ** (4 / 7)), abs=1e-6)


def test_a_shift_is_a_rotation_of_each_frequency_pair():
    """PE(pos + k) = M_k PE(pos) with M_k block-diagonal 2x2 rotations, the same for every pos."""
    d_model, shift = 16, 5
    table = sinusoidal_positions(64, d_model).double()
    blocks = []
    for i in range(d_model // 2):
        b = shift / 10000 ** (2 * i / d_model)
        # (sin(a + b), cos(a + b)) = (sin a cos b + cos a sin b, cos a cos b - sin a sin b)
        blocks.append(torch.tensor([[math.cos(b), math.sin(b)], [-math.sin(b), math.cos(b)]]))
    rotation = torch.block_diag(*blocks).double()
    torch.testing.assert_close(table[:-shift] @ rotation.T, table[shift:], **TOL)
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(d_model, dtype=torch.float64))

    # The same blocks, fitted by least squares from the table alone, pair by pair.
    for i, block in enumerate(blocks):
        pair = table[:, 2 * i : 2 * i + 2]
        fitted = torch.linalg.lstsq(pair[:-shift], pair[shift:]).solution.T
        torch.testing.assert_close(fitted, block.double(), atol=1e-4, rtol=0)


def test_sinusoidal_module_adds_the_table_and_has_no_parameters():
    module = SinusoidalPositionalEncoding(d_model=8, max_positions=32)
    assert list(module.parameters()) == [] and module.state_dict() == {}
    x = torch.randn(2, 10, 8)
    torch.testing.assert_close(module(x), x + sinusoidal_positions(10, 8), atol=0, rtol=0)
    positions_ = torch.tensor([3, 4, 5])
    torch.testing.assert_close(module(x[:, :3], positions_), x[:, :3] + module.pe[3:6], **TOL)


def test_sinusoidal_module_errors():
    module = SinusoidalPositionalEncoding(d_model=8, max_positions=4)
    with pytest.raises(ValueError, match="length 5 is longer than max_positions=4"):
        module(torch.randn(1, 5, 8))
    with pytest.raises(ValueError, match=r"\[0, 4\); got values from 0 to 4"):
        module(torch.randn(1, 2, 8), torch.tensor([0, 4]))


# --- learned -------------------------------------------------------------------------


def test_learned_embedding_adds_its_rows_and_learns_only_those():
    module = LearnedPositionalEmbedding(max_positions=16, d_model=8)
    assert module.weight.shape == (16, 8) and module.weight.requires_grad
    assert 0.01 < module.weight.std().item() < 0.03
    x = torch.randn(2, 5, 8)
    out = module(x)
    torch.testing.assert_close(out, x + module.weight[:5], atol=0, rtol=0)
    out.sum().backward()
    assert module.weight.grad[:5].abs().min() > 0 and module.weight.grad[5:].abs().max() == 0

    batch_positions = torch.tensor([[2, 3], [7, 8]])
    torch.testing.assert_close(
        module(x[:, :2], batch_positions), x[:, :2] + module.weight[batch_positions], **TOL
    )
    with pytest.raises(ValueError, match="length 17 is longer than max_positions=16"):
        module(torch.randn(1, 17, 8))


# --- relative (Shaw et al. 2018) ---------------------------------------------------------


def test_distance_table_is_clipped_j_minus_i():
    assert relative_distances(4, 6, max_distance=2).tolist() == [
        [0, 1, 2, 2, 2, 2],
        [-1, 0, 1, 2, 2, 2],
        [-2, -1, 0, 1, 2, 2],
        [-2, -2, -1, 0, 1, 2],
    ]
    assert relative_distances(3, 3, max_distance=0).abs().max() == 0  # k = 0: no position at all
    assert relative_distances(0, 4, max_distance=1).shape == (0, 4)


def shaw_by_loops(q, k, v, a_k, a_v, scale):
    """The paper's three equations for one (L, d) sequence, one pair (i, j) at a time."""
    L, S = q.shape[0], k.shape[0]
    e = torch.empty(L, S, dtype=q.dtype)
    for i in range(L):
        for j in range(S):
            e[i, j] = q[i] @ (k[j] + a_k[i, j]) * scale
    alpha = e.softmax(-1)
    z = torch.stack([sum(alpha[i, j] * (v[j] + a_v[i, j]) for j in range(S)) for i in range(L)])
    return z, alpha


def test_relative_attention_follows_the_three_equations():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    rel = RelativePositionAttention(head_dim=4, max_distance=2).double()
    with torch.no_grad():  # larger than the init, so that a wrong index would show
        rel.key_table.weight.normal_(generator=g)
        rel.value_table.weight.normal_(generator=g)
    out, weights = rel(q, k, v)
    a_k, a_v = rel.tables(5, 5)
    assert a_k.shape == (5, 5, 4)
    torch.testing.assert_close(a_k[0, 4], rel.key_table.weight[4])  # distance +2 -> row 2 + k
    torch.testing.assert_close(a_k[4, 0], rel.key_table.weight[0])  # distance -4 -> clipped to -2
    for b in range(2):
        for h in range(3):
            z, alpha = shaw_by_loops(q[b, h], k[b, h], v[b, h], a_k, a_v, scale=0.5)
            torch.testing.assert_close(out[b, h], z, atol=1e-12, rtol=0)
            torch.testing.assert_close(weights[b, h], alpha, atol=1e-12, rtol=0)


def test_zero_tables_give_plain_attention_and_keys_only_skips_values():
    q, k, v = torch.randn(2, 6, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 3)
    zeros = torch.zeros(6, 6, 8)
    torch.testing.assert_close(relative_attention(q, k, v, zeros), scaled_dot_product_attention(q, k, v))
    keys_only = RelativePositionAttention(head_dim=8, max_distance=3, values=False)
    assert keys_only.value_table is None and sum(p.numel() for p in keys_only.parameters()) == 7 * 8
    out, weights = keys_only(q, k, v)  # values of another width are fine without a^V
    torch.testing.assert_close(out, weights @ v, **TOL)


def test_a_pattern_depends_only_on_relative_offsets():
    """Shift the same tokens to positions s..s+L-1 of a longer sequence (the rest masked out):
    relative attention gives the same weights and outputs; absolute positions do not."""
    g = torch.Generator().manual_seed(1)
    length, shift, total, d = 6, 5, 16, 8
    rel = RelativePositionAttention(head_dim=d, max_distance=3)
    with torch.no_grad():
        rel.key_table.weight.normal_(generator=g)
        rel.value_table.weight.normal_(generator=g)
    x = torch.randn(1, 1, length, d, generator=g)
    long = torch.randn(1, 1, total, d, generator=g)  # other tokens around them...
    long[..., shift : shift + length, :] = x
    window = torch.zeros(total, dtype=torch.bool)
    window[shift : shift + length] = True  # ...which the mask hides
    out, weights = rel(x, x, x)
    long_out, long_weights = rel(long, long, long, mask=window)
    inside = slice(shift, shift + length)
    torch.testing.assert_close(long_out[..., inside, :], out, **TOL)
    torch.testing.assert_close(long_weights[..., inside, inside], weights, **TOL)

    # The control: learned absolute positions added to the input see the shift.
    absolute = LearnedPositionalEmbedding(total, d)
    with torch.no_grad():
        absolute.weight.normal_(generator=g)
    _, abs_weights = scaled_dot_product_attention(absolute(x[0]), absolute(x[0]), x[0])
    shifted = absolute(long[0])
    _, abs_long = scaled_dot_product_attention(shifted, shifted, long[0], window)
    assert (abs_long[..., inside, inside] - abs_weights).abs().max() > 0.05


def test_each_distance_moves_only_its_own_pairs():
    rel = RelativePositionAttention(head_dim=4, max_distance=2, values=False)
    q, k = torch.randn(1, 1, 7, 4), torch.randn(1, 1, 7, 4)
    rel(q, k, k)[0].sum().backward()
    assert rel.key_table.weight.grad.abs().min() > 0  # all five distances occur at length 7
    short = RelativePositionAttention(head_dim=4, max_distance=2, values=False)
    short(q[..., :2, :], k[..., :2, :], k[..., :2, :])[0].sum().backward()
    used = short.key_table.weight.grad.abs().sum(-1) > 0
    assert used.tolist() == [False, True, True, True, False]  # length 2: distances -1, 0, 1 only


def test_relative_attention_masks():
    rel = RelativePositionAttention(head_dim=8, max_distance=2)
    x = torch.randn(2, 2, 5, 8, requires_grad=True)
    out, weights = rel(x, x, x, mask=causal_mask(5))
    assert weights.triu(1).abs().max() == 0
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 5), **TOL)
    bias = torch.zeros(5, 5).masked_fill(~causal_mask(5), float("-inf"))
    torch.testing.assert_close(rel(x, x, x, mask=bias)[0], out, **TOL)

    # A query that may attend to nothing gets zero weights and a zero output (no a^V either).
    mask = torch.ones(5, 5, dtype=torch.bool)
    mask[2] = False
    out, weights = rel(x, x, x, mask=mask)
    assert weights[..., 2, :].abs().max() == 0 and out[..., 2, :].abs().max() == 0
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(rel.value_table.weight.grad).all()


def test_relative_attention_errors():
    with pytest.raises(ValueError, match="max_distance >= 0; got 8 and -1"):
        RelativePositionAttention(head_dim=8, max_distance=-1)
    rel = RelativePositionAttention(head_dim=8, max_distance=2)
    with pytest.raises(ValueError, match="expected head_dim=8"):
        rel(torch.randn(1, 1, 3, 6), torch.randn(1, 1, 3, 6), torch.randn(1, 1, 3, 6))
    with pytest.raises(ValueError, match="use values=False"):
        rel(torch.randn(1, 3, 8), torch.randn(1, 3, 8), torch.randn(1, 3, 5))
    q = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"rel_keys must have shape \(L, S, d\) = \(3, 3, 4\)"):
        relative_attention(q, q, q, torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"rel_values must have shape \(L, S, dv\)"):
        relative_attention(q, q, q, torch.zeros(3, 3, 4), torch.zeros(3, 3, 2))
    with pytest.raises(ValueError, match="need num_queries"):
        relative_distances(-1, 3, 2)


def test_relative_keys_match_hugging_face():
    """Hugging Face's ``relative_key`` self-attention (in transformers 5.x it lives in Wav2Vec2-BERT;
    BERT's own option was removed) is Shaw et al.'s key term with clip(j - i, -left, right)."""
    w2v = pytest.importorskip("transformers.models.wav2vec2_bert.modeling_wav2vec2_bert")
    from transformers import Wav2Vec2BertConfig

    d_model, heads, k = 16, 2, 3
    config = Wav2Vec2BertConfig(
        hidden_size=d_model, num_attention_heads=heads, position_embeddings_type="relative_key",
        left_max_position_embeddings=k, right_max_position_embeddings=k, attention_dropout=0.0,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    theirs = w2v.Wav2Vec2BertSelfAttention(config).eval()
    ours = RelativePositionAttention(head_dim=d_model // heads, max_distance=k, values=False)
    with torch.no_grad():
        ours.key_table.weight.copy_(theirs.distance_embedding.weight)  # row 0: distance -k

    x = torch.randn(2, 9, d_model)
    pad = torch.tensor([[1] * 9, [1] * 6 + [0] * 3], dtype=torch.bool)  # sequence 2: 3 pads
    hf_mask = torch.zeros(2, 1, 1, 9).masked_fill(~pad[:, None, None, :], float("-inf"))
    hf_out, hf_weights = theirs(x, attention_mask=hf_mask, output_attentions=True)

    def split(linear):
        return linear(x).view(2, 9, heads, -1).transpose(1, 2)  # (B, H, L, Dh)

    out, weights = ours(split(theirs.linear_q), split(theirs.linear_k), split(theirs.linear_v),
                        mask=pad[:, None, None, :])
    out = theirs.linear_out(out.transpose(1, 2).reshape(2, 9, d_model))
    torch.testing.assert_close(weights, hf_weights, atol=1e-6, rtol=0)
    torch.testing.assert_close(out, hf_out, atol=1e-6, rtol=0)

    # And the gradients of the distance table.
    (hf_out * torch.linspace(-1, 1, d_model)).sum().backward()
    (out * torch.linspace(-1, 1, d_model)).sum().backward()
    torch.testing.assert_close(ours.key_table.weight.grad, theirs.distance_embedding.weight.grad,
                               atol=1e-5, rtol=0)


# --- rotary --------------------------------------------------------------------------


def rotate(rope, vector, position):
    """RoPE of one vector (Dh,) at one position."""
    return rope(vector.view(1, 1, 1, -1), torch.tensor([position]))[0, 0, 0]


def test_rope_score_depends_only_on_the_offset():
    rope = RotaryEmbedding(head_dim=16, max_positions=256)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)
    score = lambda m, n: rotate(rope, q, m) @ rotate(rope, k, n)  # noqa: E731
    for offset in (-7, 0, 3, 40):
        pairs = [(m, m - offset) for m in (50, 61, 100, 200)]
        scores = torch.stack([score(m, n) for m, n in pairs])
        torch.testing.assert_close(scores, scores[:1].expand(4), atol=1e-4, rtol=0)
    by_offset = torch.stack([score(100, 100 - offset) for offset in (-7, 0, 3, 40)])
    assert (by_offset[:, None] - by_offset[None, :]).abs().add(torch.eye(4)).min() > 1e-3


def test_rope_preserves_norms_and_position_zero_is_identity():
    rope = RotaryEmbedding(head_dim=8, max_positions=64)
    x = torch.randn(2, 3, 64, 8)
    rotated = rope(x)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1), **TOL)
    torch.testing.assert_close(rotated[:, :, 0], x[:, :, 0], atol=0, rtol=0)
    assert not torch.allclose(rotated[:, :, 1:], x[:, :, 1:])
    assert list(rope.parameters()) == [] and rope.state_dict() == {}


def test_rope_rotate_half_layout_as_complex_numbers():
    """Pair i is the complex number x_i + j x_{i + Dh/2}; RoPE multiplies it by e^(j m theta_i)."""
    head_dim, length = 8, 10
    rope = RotaryEmbedding(head_dim, max_positions=length, base=100.0)
    x = torch.randn(2, 3, length, head_dim, dtype=torch.float64)
    theta = 100.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * theta  # (L, Dh/2)
    z = torch.complex(x[..., : head_dim // 2], x[..., head_dim // 2 :]) * torch.polar(
        torch.ones_like(angles), angles
    )
    expected = torch.cat([z.real, z.imag], dim=-1)
    torch.testing.assert_close(rope(x.float()).double(), expected, **TOL)


def test_rope_positions_argument():
    rope = RotaryEmbedding(head_dim=8, max_positions=32)
    x = torch.randn(2, 4, 6, 8)
    torch.testing.assert_close(rope(x, torch.arange(6)), rope(x), atol=0, rtol=0)
    shifted = torch.arange(6)[None, :] + torch.tensor([[0], [10]])  # (B, L): batch 1 starts at 10
    out = rope(x, shifted)
    torch.testing.assert_close(out[0], rope(x)[0], atol=0, rtol=0)
    torch.testing.assert_close(out[1], rope(x[1:], torch.arange(10, 16))[0], atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"\[0, 32\); got values from 10 to 32"):
        rope(x, torch.arange(10, 16).clone().index_fill_(0, torch.tensor(5), 32))


def test_rope_matches_hugging_face_llama():
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    head_dim, length = 16, 12
    rope = RotaryEmbedding(head_dim, max_positions=length)
    q, k = torch.randn(2, 4, length, head_dim), torch.randn(2, 2, length, head_dim)
    cos, sin = rope.cos[None], rope.sin[None]  # (1, L, Dh), as Hugging Face passes them
    hf_q, hf_k = llama.apply_rotary_pos_emb(q, k, cos, sin)
    torch.testing.assert_close(rope(q), hf_q, atol=0, rtol=0)
    torch.testing.assert_close(rope(k), hf_k, atol=0, rtol=0)


def test_rotary_errors():
    with pytest.raises(ValueError, match="head_dim must be even; got 7"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match="expected head_dim=8"):
        RotaryEmbedding(8)(torch.randn(1, 1, 3, 6))
    with pytest.raises(ValueError, match="length 9 is longer than max_positions=8"):
        RotaryEmbedding(8, max_positions=8)(torch.randn(1, 1, 9, 8))
    with pytest.raises(ValueError, match=r"x \(2, 6\), cos \(2, 8\)"):
        apply_rotary(torch.randn(2, 6), torch.ones(2, 8), torch.zeros(2, 8))


def test_rope_passes_gradients():
    rope = RotaryEmbedding(head_dim=8, max_positions=16)
    x = torch.randn(1, 2, 5, 8, requires_grad=True)
    rope(x).square().sum().backward()  # a rotation preserves the norm, so grad = 2x
    torch.testing.assert_close(x.grad, 2 * x.detach(), **TOL)

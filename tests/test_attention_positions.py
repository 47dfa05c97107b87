"""Positional encodings: the sinusoidal formula and its shift-as-rotation
property, learned embeddings, and RoPE's relative-position property."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

from course_utils.attention import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    apply_rotary,
    positions,
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

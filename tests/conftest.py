"""Fixtures shared by several test files: the world tokenizer, tiny BERT and GPT configs,
and a way to fill a module's parameters with random values."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from course_utils.models import ModelConfig


@pytest.fixture(scope="session")
def tok():
    """The small world's WordPiece tokenizer, built once per test session (read it only)."""
    from course_utils.data.world.vocabulary import world_tokenizer

    return world_tokenizer()


@pytest.fixture(scope="session")
def bert_config() -> ModelConfig:
    """A tiny BERT that Hugging Face's BertForPreTraining can also express: 2 layers of
    width 32 with 4 heads, a 100-token vocabulary, segment embeddings and the pooler."""
    return ModelConfig(
        arch="encoder", vocab_size=100, max_positions=64, d_model=32, num_layers=2,
        num_heads=4, d_ff=64, type_vocab_size=2, pooler=True, layer_norm_eps=1e-12,
    )  # fmt: skip


@pytest.fixture(scope="session")
def gpt_config() -> ModelConfig:
    """A tiny GPT-2 that Hugging Face's GPT2LMHeadModel can also express: 2 pre-LN layers
    of width 32 with 4 heads, a 100-token vocabulary, 64 positions, tied embeddings."""
    return ModelConfig(
        arch="decoder", vocab_size=100, max_positions=64, d_model=32, num_layers=2,
        num_heads=4, d_ff=64, norm_first=True, activation="gelu_tanh", tie_embeddings=True,
        final_norm=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def randomize() -> Callable[..., nn.Module]:
    """``randomize(module, seed=0, std=0.1)`` fills every parameter (LayerNorms and biases
    included) with N(0, std**2) values, in place, and returns the module: parity tests then
    see non-trivial norms and biases, not the initialization's ones and zeros."""

    def randomize_(module: nn.Module, seed: int = 0, std: float = 0.1) -> nn.Module:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * std)
        return module

    return randomize_

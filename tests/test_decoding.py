"""Decoding for GPT: top-k and top-p filters, greedy and sampled generation, the key/value
cache (same tokens, same logits) and the argument checks."""

from __future__ import annotations

import itertools

import pytest
import torch

from course_utils.decoding import generate, next_token, top_k_filter, top_p_filter
from course_utils.models import GPTModel, KVCache

VOCAB = 100
NEG_INF = float("-inf")


@pytest.fixture
def model(gpt_config, randomize) -> GPTModel:
    """A tiny GPT with random parameters, std 0.3 so that its next-token distributions are
    far from uniform (sampling then has something to find)."""
    return randomize(GPTModel(gpt_config), seed=0, std=0.3).eval()


def prompts(batch: int = 3, length: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- the filters --------------------------------------------------------------


def test_top_k_filter():
    logits = torch.tensor([[0.5, 3.0, -1.0, 2.0], [1.0, 1.0, 1.0, 0.0]])
    assert top_k_filter(logits, 2).tolist() == [
        [NEG_INF, 3.0, NEG_INF, 2.0],
        [1.0, 1.0, 1.0, NEG_INF],  # ties with the k-th largest stay
    ]
    assert top_k_filter(logits, 1)[0].tolist() == [NEG_INF, 3.0, NEG_INF, NEG_INF]
    assert torch.equal(top_k_filter(logits, 4), logits)
    assert torch.equal(top_k_filter(logits, 9), logits)


def brute_force_nucleus(probs: list[float], p: float) -> set[int]:
    """The smallest set of tokens whose probability reaches p, by trying every set size
    (ties broken towards the lower index, as a stable sort does)."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    for size in range(1, len(probs) + 1):
        if sum(probs[i] for i in order[:size]) >= p:
            return set(order[:size])
    return set(order)


def test_top_p_filter_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([0.5, 0.1, 0.3, 0.05, 0.05]))

    def kept(p: float) -> list[int]:
        return torch.isfinite(top_p_filter(logits, p)).nonzero().flatten().tolist()

    assert kept(0.2) == [0]  # the most likely token alone already reaches p
    assert kept(0.5) == [0]  # exactly p is enough
    assert kept(0.7) == [0, 2]
    assert kept(0.85) == [0, 1, 2]
    assert kept(1.0) == [0, 1, 2, 3, 4]
    assert torch.equal(top_p_filter(logits, 0.7)[[0, 2]], logits[[0, 2]])  # kept scores unchanged
    gen = seeded(3)
    for p in (0.05, 0.3, 0.6, 0.9, 0.99):
        rows = torch.randn(4, 12, generator=gen) * 2
        filtered = top_p_filter(rows, p)
        for row, out in zip(rows, filtered):
            probs = row.softmax(-1).tolist()
            kept = set(torch.isfinite(out).nonzero().flatten().tolist())
            assert kept == brute_force_nucleus(probs, p)


def test_top_p_filter_keeps_one_token_even_for_a_tiny_p():
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    assert torch.isfinite(top_p_filter(logits, 1e-9)).sum(-1).tolist() == [1, 1]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: top_k_filter(x, 0), "top_k must be an int >= 1"),
        (lambda x: top_k_filter(x, 2.0), "top_k must be an int >= 1"),
        (lambda x: top_p_filter(x, 0.0), r"top_p must be in \(0, 1\]"),
        (lambda x: top_p_filter(x, 1.5), r"top_p must be in \(0, 1\]"),
    ],
)
def test_filter_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(torch.zeros(1, 3))


# --- picking one token ----------------------------------------------------------


def test_next_token_greedy_and_sampling():
    logits = torch.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
    assert next_token(logits).tolist() == [1, 0]
    assert next_token(logits, do_sample=True, top_k=1, generator=seeded()).tolist() == [1, 0]
    assert next_token(logits, do_sample=True, top_p=1e-6, generator=seeded()).tolist() == [1, 0]
    # Sampling follows softmax(logits / temperature): frequencies over many draws.
    draws = next_token(logits[:1].expand(20_000, 3), do_sample=True, temperature=2.0,
                       generator=seeded())  # fmt: skip
    frequencies = torch.bincount(draws, minlength=3) / 20_000
    torch.testing.assert_close(frequencies, (logits[0] / 2).softmax(-1), atol=0.015, rtol=0)
    # A filtered-out token is never drawn.
    draws = next_token(logits[:1].expand(2_000, 3), do_sample=True, top_k=2, generator=seeded())
    assert set(draws.tolist()) == {1, 2}


# --- generation: with and without the cache ------------------------------------

SETTINGS = {
    "greedy": {},
    "sampling": {"do_sample": True},
    "temperature": {"do_sample": True, "temperature": 0.7},
    "top-k": {"do_sample": True, "top_k": 5},
    "top-p": {"do_sample": True, "top_p": 0.8},
    "all three": {"do_sample": True, "temperature": 1.3, "top_k": 20, "top_p": 0.9},
}


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
def test_cached_and_uncached_generation_give_the_same_tokens(model, settings):
    ids = prompts()
    cached = generate(model, ids, 20, generator=seeded(), **settings)
    uncached = generate(model, ids, 20, generator=seeded(), use_cache=False, **settings)
    assert cached.shape == (3, 24)
    assert torch.equal(cached[:, :4], ids)  # the prompt comes first
    assert torch.equal(cached, uncached)
    if settings:  # the seed decides the draws
        assert torch.equal(cached, generate(model, ids, 20, generator=seeded(), **settings))
        assert not torch.equal(cached, generate(model, ids, 20, generator=seeded(1), **settings))


def test_cached_steps_give_the_logits_of_the_whole_sequence(model):
    tokens = generate(model, prompts(), 12)
    full = model(tokens).logits  # (B, 16, V)
    cache = KVCache()
    step_logits = [model(tokens[:, :4], cache=cache).logits]
    for t in range(4, 16):
        step_logits.append(model(tokens[:, t : t + 1], cache=cache).logits)
    torch.testing.assert_close(torch.cat(step_logits, dim=1), full, atol=1e-5, rtol=0)
    # Greedy: each new token is the argmax after the tokens before it.
    assert torch.equal(tokens[:, 4:], full[:, 3:-1].argmax(-1))


def test_cache_feeds_one_new_position_per_step(model, monkeypatch):
    """With the cache each step feeds the model one new position; without it, all of them."""
    lengths = {True: [], False: []}
    forward = GPTModel.forward

    def spy(self, input_ids, *args, **kwargs):
        lengths[kwargs.get("cache") is not None].append(input_ids.shape[1])
        return forward(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(GPTModel, "forward", spy)
    generate(model, prompts(length=4), 5)
    generate(model, prompts(length=4), 5, use_cache=False)
    assert lengths[True] == [4, 1, 1, 1, 1]
    assert lengths[False] == [4, 5, 6, 7, 8]


def test_left_padded_prompts(model):
    ids = prompts(2, 5)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    cached = generate(model, ids, 8, attention_mask=mask, do_sample=True, generator=seeded())
    uncached = generate(model, ids, 8, attention_mask=mask, do_sample=True, generator=seeded(),
                        use_cache=False)  # fmt: skip
    assert torch.equal(cached, uncached)
    # The padding tokens themselves do not matter.
    scrambled = torch.where(mask.bool(), ids, (ids + 1) % VOCAB)
    again = generate(model, scrambled, 8, attention_mask=mask, do_sample=True, generator=seeded())
    assert torch.equal(again[:, 5:], cached[:, 5:])


def test_eos_stops_and_fills(model):
    ids = prompts(3, 4)
    free = generate(model, ids, 10)
    eos = int(free[0, 6])  # the third token the first sequence generates
    out = generate(model, ids, 10, eos_id=eos)
    for row, free_row in zip(out.tolist(), free.tolist()):
        generated = row[4:]
        if eos in generated:
            first = generated.index(eos)
            assert generated[: first + 1] == free_row[4 : 4 + first + 1]
            assert all(token == eos for token in generated[first:])
        else:
            assert generated == free_row[4 : 4 + len(generated)]
    # Stops early once every sequence is done.
    first_only = generate(model, ids[:1], 10, eos_id=eos)
    assert first_only.shape == (1, 7) and first_only[0, -1] == eos


def test_generate_restores_the_training_mode_and_needs_no_grad(model):
    model.train()
    out = generate(model, prompts(), 3)
    assert model.training and not out.requires_grad
    assert generate(model, prompts(), 0).shape == (3, 4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"do_sample": True, "temperature": 0.0}, "temperature must be > 0 when sampling"),
        ({"do_sample": True, "temperature": -1.0}, "temperature must be > 0 when sampling"),
        ({"do_sample": True, "top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"do_sample": True, "top_p": 1.01}, r"top_p must be in \(0, 1\]"),
        ({"do_sample": True, "top_k": 0}, "top_k must be an int >= 1"),
        ({"temperature": 0.5}, "temperature=0.5 only change sampling; pass do_sample=True"),
        ({"top_k": 3, "top_p": 0.5}, "top_k=3, top_p=0.5 only change sampling"),
        ({"max_new_tokens": 61},
         "4 tokens plus max_new_tokens=61 is 65 positions.*max_positions=64"),
        ({"max_new_tokens": -1}, "max_new_tokens must be an int >= 0"),
        ({"attention_mask": torch.ones(3, 3)}, "attention_mask must have the shape of input_ids"),
        ({"attention_mask": torch.tensor([[1, 1, 1, 0]] * 3)}, "left-padded prompts"),
    ],
)
def test_generate_errors(model, kwargs, message):
    kwargs = {"max_new_tokens": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, prompts(), **kwargs)


@pytest.mark.parametrize("ids", [torch.tensor([1, 2, 3]), torch.zeros(2, 0, dtype=torch.long),
                                 torch.ones(1, 3)], ids=["1-d", "empty", "float"])  # fmt: skip
def test_generate_rejects_bad_prompts(model, ids):
    with pytest.raises(ValueError, match=r"input_ids must be integer token ids of shape \(batch"):
        generate(model, ids, 3)


def test_all_settings_run_on_every_small_batch_shape(model):
    for batch, length in itertools.product((1, 2), (1, 3)):
        for settings in SETTINGS.values():
            out = generate(model, prompts(batch, length), 2, generator=seeded(), **settings)
            assert out.shape == (batch, length + 2)

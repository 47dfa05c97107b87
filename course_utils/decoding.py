"""Generating output token by token: greedy decoding, sampling with a temperature,
top-k and top-p (nucleus) filtering, and a key/value cache.

Taught in notebook 03 (greedy decoding with an encoder-decoder) and notebook 06 (GPT).

A language model gives, after each prefix, scores (logits) for every possible next token.
Generating means: pick a token from them, append it, repeat. Greedy decoding picks the
most likely token; sampling draws from ``softmax(logits / temperature)``, after
``top_k_filter`` (keep the k most likely tokens) and ``top_p_filter`` (keep the fewest
most likely tokens whose probabilities add up to p) have removed the unlikely tail.

>>> logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
>>> top_k_filter(logits, 2)
tensor([[2., 1., -inf, -inf]])
>>> torch.softmax(logits, -1).round(decimals=2)
tensor([[0.6400, 0.2400, 0.0900, 0.0300]])
>>> top_p_filter(logits, 0.8)                       # 0.64 < 0.8 <= 0.64 + 0.24
tensor([[2., 1., -inf, -inf]])

``generate`` runs a GPT-style model (``course_utils.models.GPTModel``):

>>> from course_utils.models import create_model
>>> model = create_model("gpt-tiny", vocab_size=50)
>>> prompt = torch.tensor([[1, 2, 3]])
>>> out = generate(model, prompt, max_new_tokens=5)            # greedy, with the cache
>>> out.shape                                                  # the prompt, then 5 new tokens
torch.Size([1, 8])
>>> torch.equal(out, generate(model, prompt, max_new_tokens=5, use_cache=False))
True
>>> sampled = generate(model, prompt, 5, do_sample=True, temperature=0.8, top_p=0.9,
...                    generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from course_utils.models.gpt import KVCache


@torch.no_grad()
def greedy_decode(
    model: torch.nn.Module,
    src: torch.Tensor,
    src_mask: torch.Tensor | None,
    max_length: int,
    bos: int,
    eos: int,
    prefix: torch.Tensor | None = None,
) -> torch.Tensor:
    """Taught in notebook 03, section 3.
    Greedy decoding with an encoder-decoder: always append the most likely next token.

    ``model`` needs ``encode(src, src_mask)`` and ``decode(tgt, memory, memory_mask)`` (as
    ``course_utils.models.EncoderDecoderModel``). Decoding starts from ``prefix`` (default: just
    ``bos``) and stops when every sequence has produced ``eos`` or after ``max_length`` new tokens.
    Returns the generated tokens after the starting ``bos`` (the prefix's other tokens included),
    shape (batch, at most max_length + prefix length - 1); positions after an ``eos`` hold ``eos``.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    model.eval()
    memory = model.encode(src, src_mask)
    if prefix is None:
        prefix = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
    tokens = prefix.to(src.device)
    finished = (tokens[:, 1:] == eos).any(dim=1)
    for _ in range(max_length):
        if finished.all():
            break
        logits = model.decode(tokens, memory, memory_mask=src_mask)
        next_token = logits[:, -1].argmax(dim=-1)
        next_token = torch.where(finished, torch.full_like(next_token, eos), next_token)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= next_token == eos
    return tokens[:, 1:]


# --- decoder-only language models (GPT) -------------------------------------


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Taught in notebook 06 (decoding). ``logits (..., V)`` with every score below the
    ``k``-th largest set to ``-inf``, so sampling only ever picks one of the ``k`` most
    likely tokens (ties with the ``k``-th are kept). ``k >= V`` keeps everything."""
    _check_top_k(k)
    if k >= logits.shape[-1]:
        return logits
    kth_largest = logits.topk(k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Taught in notebook 06 (decoding). Nucleus filtering (Holtzman et al. 2020):
    ``logits (..., V)`` with every token outside the nucleus set to ``-inf``.

    The nucleus is the smallest set of most likely tokens whose probabilities add up to
    at least ``p``; it always holds the most likely token. ``p = 1`` keeps everything.
    """
    _check_top_p(p)
    if p == 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (..., V), most likely first
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the more likely tokens
    outside_sorted = mass_before >= p  # the tokens before already reach p: not needed
    outside = outside_sorted.scatter(-1, order, outside_sorted)  # back to vocabulary order
    return logits.masked_fill(outside, float("-inf"))


def next_token(
    logits: Tensor,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Taught in notebook 06 (decoding). Pick the next token from ``logits (B, V)``: the
    most likely one (greedy), or with ``do_sample`` a draw from
    ``softmax(logits / temperature)`` after ``top_k_filter`` and ``top_p_filter``.
    Returns ``(B,)`` token ids."""
    _check_sampling(do_sample, temperature, top_k, top_p)
    if not do_sample:
        return logits.argmax(dim=-1)  # (B,)
    logits = logits / temperature  # < 1 sharpens the distribution, > 1 flattens it
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits.float(), dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]  # (B,)


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    input_ids: Tensor,
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    attention_mask: Tensor | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Taught in notebook 06 (decoding). Continue the prompts ``input_ids (B, L)`` by up to
    ``max_new_tokens`` tokens; returns ``(B, L + new)``, the prompts and then the new tokens.

    Each step picks a token with ``next_token`` (greedy unless ``do_sample``; see there
    for ``temperature``, ``top_k`` and ``top_p``) and appends it. Generation stops early
    once every sequence has produced ``eos_id``; after its ``eos_id`` a sequence is
    filled with ``eos_id``. Pass a seeded ``generator`` to make sampling reproducible.

    ``use_cache=True`` keeps a ``KVCache``: the prompt is run once, then each step feeds
    only the newest token, whose keys and values are added to the cache, so a step
    costs one position's work instead of the whole sequence's. ``use_cache=False`` runs
    the whole sequence at every step; both give the same tokens. ``model`` is called
    as ``model(ids, attention_mask=..., cache=...)`` and returns ``.logits (B, L, V)``,
    as ``GPTModel`` does (``cache`` only with ``use_cache``).

    Prompts of different lengths are left-padded, with ``attention_mask (B, L)`` (1 =
    real token, 0 = padding): the new tokens then follow each prompt directly. The model
    is run in eval mode (no dropout) and put back in its mode afterwards.
    """
    _check_generate_inputs(model, input_ids, max_new_tokens, attention_mask)
    _check_sampling(do_sample, temperature, top_k, top_p)
    cache = KVCache() if use_cache else None
    tokens = input_ids  # (B, L), grows by one column per step
    step_input = input_ids  # with the cache: only what the model has not seen yet
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    with _eval_mode(model):
        for _ in range(max_new_tokens):
            if cache is not None:
                logits = model(step_input, attention_mask=attention_mask, cache=cache).logits
            else:
                logits = model(tokens, attention_mask=attention_mask).logits  # (B, L, V)
            new = next_token(  # (B,), from the scores after the last token
                logits[:, -1], do_sample, temperature, top_k, top_p, generator
            )
            if eos_id is not None:
                new = torch.where(finished, torch.full_like(new, eos_id), new)
                finished |= new == eos_id
            tokens = torch.cat([tokens, new[:, None]], dim=1)  # (B, L + 1)
            step_input = new[:, None]  # (B, 1)
            if attention_mask is not None:  # the new token is a real one
                real = attention_mask.new_ones(len(new), 1)
                attention_mask = torch.cat([attention_mask, real], dim=1)  # (B, L + 1)
            if finished.all():
                break
    return tokens


# --- helpers and argument checks, out of the way of the ideas above -----------


@contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Run ``model`` in eval mode (no dropout), then put it back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)



def _check_top_k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be an int >= 1 (or None for no top-k filter); got {k!r}")


def _check_top_p(p: object) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (or None for no top-p filter); got {p!r}")


def _check_sampling(
    do_sample: bool, temperature: float, top_k: int | None, top_p: float | None
) -> None:
    """Raise a ValueError for a sampling argument that is out of range or has no effect."""
    if not do_sample:
        ignored = [
            text
            for given, text in (
                (temperature != 1.0, f"temperature={temperature!r}"),
                (top_k is not None, f"top_k={top_k!r}"),
                (top_p is not None, f"top_p={top_p!r}"),
            )
            if given
        ]
        if ignored:
            raise ValueError(
                f"{', '.join(ignored)} only change sampling; pass do_sample=True to sample "
                f"(greedy decoding always takes the most likely token)"
            )
        return
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
        temperature > 0
    ):
        raise ValueError(
            f"temperature must be > 0 when sampling; got {temperature!r} (the limit "
            f"temperature -> 0 is greedy decoding: do_sample=False)"
        )
    if top_k is not None:
        _check_top_k(top_k)
    if top_p is not None:
        _check_top_p(top_p)


def _check_generate_inputs(
    model: torch.nn.Module, input_ids: Tensor, max_new_tokens: int, attention_mask: Tensor | None
) -> None:
    """Raise a ValueError if the prompts, their mask or the length do not fit the model."""
    if input_ids.dim() != 2 or input_ids.shape[1] == 0 or input_ids.is_floating_point():
        raise ValueError(
            f"input_ids must be integer token ids of shape (batch, length) with length >= 1; "
            f"got {input_ids.dtype} of shape {tuple(input_ids.shape)} (one prompt: ids[None])"
        )
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or (
        max_new_tokens < 0
    ):
        raise ValueError(f"max_new_tokens must be an int >= 0; got {max_new_tokens!r}")
    config = getattr(model, "config", None)
    max_positions = getattr(config, "max_positions", None)
    total = input_ids.shape[1] + max_new_tokens
    if max_positions is not None and total > max_positions:
        raise ValueError(
            f"a prompt of {input_ids.shape[1]} tokens plus max_new_tokens={max_new_tokens} "
            f"is {total} positions, more than the model's max_positions={max_positions}; "
            f"shorten the prompt or ask for fewer tokens"
        )
    if attention_mask is not None:
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}; "
                f"got {tuple(attention_mask.shape)}"
            )
        if not (attention_mask[:, -1] == 1).all():
            raise ValueError(
                "generate needs left-padded prompts (padding first, attention_mask[:, -1] == 1) "
                "so that the new tokens follow each prompt directly"
            )

"""Generating output token by token: greedy decoding, sampling with a temperature,
top-k and top-p (nucleus) filtering, a key/value cache, and beam search.

Taught in notebook 03 (greedy decoding with an encoder-decoder), notebook 06 (GPT) and
notebook 07 (T5 and BART: ``seq2seq_generate`` and ``beam_search``).

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

``seq2seq_generate`` and ``beam_search`` run an encoder-decoder
(``course_utils.models.EncoderDecoderModel``: the T5 and BART flavours, or notebook
03's Transformer). The decoder starts from ``start_id`` (T5: its pad token; BART: its
eos token) and the output keeps it, as Hugging Face's ``generate`` does:

>>> t5 = create_model("t5-tiny", vocab_size=50)
>>> source = torch.tensor([[5, 6, 7, 1]])
>>> seq2seq_generate(t5, source, max_new_tokens=4, start_id=0).shape
torch.Size([1, 5])
>>> best = beam_search(t5, source, num_beams=3, max_new_tokens=4, start_id=0, eos_id=1)
>>> best.sequences.shape[1] <= 5, best.scores.shape
(True, torch.Size([1]))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

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


def repeated_ngram_fraction(ids: Sequence[int], n: int = 4) -> float:
    """Taught in notebook 06 (exposure bias). The fraction of a sequence's ``n``-grams that
    already occurred earlier in the same sequence: 0 for text that never repeats itself,
    close to 1 for a decoder caught in a loop. NaN when there is no ``n``-gram at all.

    >>> repeated_ngram_fraction([1, 2, 3, 1, 2, 3, 1, 2], n=2)  # 7 bigrams, 4 seen before
    0.5714285714285714
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    ids = [int(i) for i in ids]
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    if not grams:
        return float("nan")
    seen: set[tuple[int, ...]] = set()
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams)


# --- encoder-decoder models (T5, BART) ----------------------------------------


@torch.no_grad()
def seq2seq_generate(
    model: torch.nn.Module,
    src_ids: Tensor,
    max_new_tokens: int,
    start_id: int,
    eos_id: int | None = None,
    src_mask: Tensor | None = None,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    pad_id: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Taught in notebook 07. Write a target for each source ``src_ids (B, S)`` with an
    encoder-decoder: encode once, then pick one token after another with ``next_token``
    (greedy unless ``do_sample``; see there for ``temperature``, ``top_k``, ``top_p``).

    Returns ``(B, 1 + new)``: ``start_id``, then up to ``max_new_tokens`` tokens. It
    stops early once every target has produced ``eos_id``; after it, a target is filled
    with ``pad_id`` (default ``eos_id``). ``src_mask (B, S)``: 1 = real token, 0 =
    padding. ``use_cache`` keeps the decoder's keys and values (a ``KVCache``), so
    each step feeds only the newest token; both give the same tokens. ``model`` needs
    ``encode(src_ids, src_mask)`` and ``decode(tgt_ids, memory, memory_mask, cache=...)``,
    as ``EncoderDecoderModel`` has. Greedy decoding with ``eos_id`` and ``pad_id`` is
    Hugging Face's ``generate(num_beams=1, do_sample=False)`` with the same ids.
    """
    _check_seq2seq_inputs(model, src_ids, src_mask, max_new_tokens)
    _check_sampling(do_sample, temperature, top_k, top_p)
    fill = eos_id if pad_id is None else pad_id
    batch = src_ids.shape[0]
    tokens = torch.full((batch, 1), start_id, dtype=torch.long, device=src_ids.device)  # (B, 1)
    finished = torch.zeros(batch, dtype=torch.bool, device=src_ids.device)
    with _eval_mode(model):
        memory = model.encode(src_ids, src_mask)  # (B, S, D), once
        step = _Seq2SeqStep(model, memory, src_mask, use_cache)
        for _ in range(max_new_tokens):
            logits = step(tokens)  # (B, V): the scores after the last token
            new = next_token(logits, do_sample, temperature, top_k, top_p, generator)  # (B,)
            if eos_id is not None:
                new = torch.where(finished, torch.full_like(new, fill), new)
                finished |= new == eos_id
            tokens = torch.cat([tokens, new[:, None]], dim=1)  # (B, t + 1)
            if finished.all():
                break
    return tokens


class BeamSearchOutput(NamedTuple):
    """What ``beam_search`` returns: the best target per source, ``sequences (B, 1 + L)``
    (``start_id`` first, padded after ``eos_id`` with ``pad_id``), and ``scores (B,)``, its
    summed log-probability divided by ``length ** length_penalty``."""

    sequences: Tensor
    scores: Tensor


@torch.no_grad()
def beam_search(
    model: torch.nn.Module,
    src_ids: Tensor,
    num_beams: int,
    max_new_tokens: int,
    start_id: int,
    eos_id: int,
    src_mask: Tensor | None = None,
    length_penalty: float = 1.0,
    early_stopping: bool = True,
    pad_id: int | None = None,
    use_cache: bool = True,
) -> BeamSearchOutput:
    """Taught in notebook 07. Beam search: keep the ``num_beams`` most likely partial
    targets (by summed log-probability), extend each by every token, keep the best
    ``num_beams`` again; a beam that produces ``eos_id`` becomes a finished hypothesis,
    scored ``sum log p / length ** length_penalty`` (``length``: its tokens after
    ``start_id``, eos included; ``length_penalty > 0`` favours longer targets, 0
    ranks by probability alone). Returns the best finished hypothesis per source.

    The rules are those of Hugging Face's ``generate(num_beams=..., length_penalty=...,
    max_new_tokens=..., early_stopping=True or False)`` (its beam search as rewritten
    in transformers 4.50), whose results this reproduces:

    - each step ranks the ``2 * num_beams`` best continuations of all beams; one that
      ends in ``eos_id`` is kept as finished only if it is among the best
      ``num_beams``, and the best ``num_beams`` that do not end continue;
    - at most ``num_beams`` finished hypotheses are kept, the best scored;
    - at ``max_new_tokens`` every continuation among the best ``num_beams`` counts as
      finished, eos or not;
    - ``early_stopping=True`` stops a source once it has ``num_beams`` finished
      hypotheses; ``False`` stops it once moreover its best running beam, scored at its
      current length, cannot beat the worst finished one.
    """
    _check_seq2seq_inputs(model, src_ids, src_mask, max_new_tokens)
    _check_beam_arguments(num_beams, length_penalty, early_stopping)
    fill = eos_id if pad_id is None else pad_id
    batch, beams, device = src_ids.shape[0], num_beams, src_ids.device
    total_length = 1 + max_new_tokens
    # Running beams: (B, K, t) tokens and their summed log-probabilities. All start as the
    # same start token; -inf on all but one keeps the first step from picking it K times.
    running = torch.full((batch, beams, 1), start_id, dtype=torch.long, device=device)
    running_scores = torch.zeros(batch, beams, device=device)
    running_scores[:, 1:] = float("-inf")
    # Finished hypotheses: up to K per source (score -inf: none yet), padded with fill.
    finished = torch.full((batch, beams, total_length), fill, dtype=torch.long, device=device)
    finished_scores = torch.full((batch, beams), float("-inf"), device=device)
    lengths = torch.zeros(batch, beams, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)  # sources that take no more
    best_k = torch.arange(2 * beams, device=device) < beams  # (2K,): the first K of 2K
    first_row = beams * torch.arange(batch, device=device)[:, None]  # (B, 1): b's first beam
    with _eval_mode(model):
        memory = model.encode(src_ids, src_mask).repeat_interleave(beams, dim=0)  # (B*K, S, D)
        mask = src_mask.repeat_interleave(beams, dim=0) if src_mask is not None else None
        step = _Seq2SeqStep(model, memory, mask, use_cache)
        for t in range(1, max_new_tokens + 1):  # t: tokens after start_id, this one included
            log_probs = step(running.flatten(0, 1)).float().log_softmax(dim=-1)  # (B*K, V)
            vocab = log_probs.shape[-1]
            totals = running_scores[..., None] + log_probs.view(batch, beams, vocab)  # (B, K, V)
            top_scores, top = totals.view(batch, -1).topk(2 * beams, dim=-1)  # (B, 2K), best first
            origin, token = top // vocab, top % vocab  # which beam it extends, by which token
            grown = running.gather(1, origin[..., None].expand(-1, -1, t))  # (B, 2K, t)
            candidates = torch.cat([grown, token[..., None]], dim=-1)  # (B, 2K, t + 1)
            ends = (token == eos_id) | (t == max_new_tokens)  # (B, 2K)

            # 1. Finished: the continuations that end, among the best K, of open sources.
            admitted = ends & best_k & ~done[:, None]
            scores = (top_scores / t**length_penalty).masked_fill(~admitted, float("-inf"))
            padded = torch.full_like(finished[:, :1], fill).expand(-1, 2 * beams, -1).clone()
            padded[..., : t + 1] = candidates  # (B, 2K, 1 + max_new_tokens)
            finished_scores, keep = torch.cat([finished_scores, scores], dim=1).topk(beams)
            finished = torch.cat([finished, padded], dim=1).gather(
                1, keep[..., None].expand(-1, -1, total_length)
            )  # (B, K, 1 + max_new_tokens)
            lengths = torch.cat([lengths, torch.full_like(token, t)], dim=1).gather(1, keep)

            # 2. Running: the best K continuations that do not end.
            running_scores, pick = top_scores.masked_fill(ends, float("-inf")).topk(beams)
            running = candidates.gather(1, pick[..., None].expand(-1, -1, t + 1))  # (B, K, t + 1)
            step.reorder((first_row + origin.gather(1, pick)).flatten())  # rows of the cache

            # 3. Done: sources whose finished hypotheses can no longer change.
            full = (finished_scores > float("-inf")).all(dim=-1)  # (B,): K finished
            if early_stopping:
                done |= full
            else:  # ... and the best running beam, at its length now, is not better
                best_running = running_scores[:, 0] / t**length_penalty
                done |= full & (best_running <= finished_scores.min(dim=-1).values)
            if done.all():
                break
    best_length = int(lengths[:, 0].max())
    return BeamSearchOutput(finished[:, 0, : 1 + best_length], finished_scores[:, 0])


class _Seq2SeqStep:
    """One decoding step of an encoder-decoder: ``step(tokens (N, t))`` -> the logits
    after the last token, ``(N, V)``. With a cache only the tokens it has not seen are
    fed; ``reorder(rows)`` makes row ``i`` continue from old row ``rows[i]`` (beam search)."""

    def __init__(
        self, model: torch.nn.Module, memory: Tensor, memory_mask: Tensor | None, use_cache: bool
    ) -> None:
        self.model, self.memory, self.memory_mask = model, memory, memory_mask
        self.cache = KVCache() if use_cache else None

    def __call__(self, tokens: Tensor) -> Tensor:
        if self.cache is None:
            return self.model.decode(tokens, self.memory, memory_mask=self.memory_mask)[:, -1]
        new = tokens[:, len(self.cache) :]  # (N, 1) after the first step
        logits = self.model.decode(new, self.memory, memory_mask=self.memory_mask,
                                   cache=self.cache)  # fmt: skip
        return logits[:, -1]  # (N, V)

    def reorder(self, rows: Tensor) -> None:
        if self.cache is None:
            return
        for layer in self.cache.layers:
            if layer.keys is not None and layer.values is not None:
                layer.keys, layer.values = layer.keys[rows], layer.values[rows]


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


def _check_seq2seq_inputs(
    model: torch.nn.Module, src_ids: Tensor, src_mask: Tensor | None, max_new_tokens: int
) -> None:
    """Raise a ValueError if the sources, their mask or the length do not fit the model."""
    if src_ids.dim() != 2 or src_ids.shape[1] == 0 or src_ids.is_floating_point():
        raise ValueError(
            f"src_ids must be integer token ids of shape (batch, length) with length >= 1; "
            f"got {src_ids.dtype} of shape {tuple(src_ids.shape)} (one source: ids[None])"
        )
    if src_mask is not None and src_mask.shape != src_ids.shape:
        raise ValueError(
            f"src_mask must have the shape of src_ids {tuple(src_ids.shape)}; "
            f"got {tuple(src_mask.shape)}"
        )
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or (
        max_new_tokens < 1
    ):
        raise ValueError(f"max_new_tokens must be an int >= 1; got {max_new_tokens!r}")
    config = getattr(model, "config", None)
    if getattr(config, "positions", None) == "t5_relative":
        return  # relative positions: no longest target
    max_positions = getattr(config, "max_positions", None)
    if max_positions is not None and 1 + max_new_tokens > max_positions:
        raise ValueError(
            f"the start token plus max_new_tokens={max_new_tokens} is more than the decoder's "
            f"max_positions={max_positions}; ask for fewer tokens"
        )


def _check_beam_arguments(num_beams: int, length_penalty: float, early_stopping: bool) -> None:
    """Raise a ValueError for a beam search argument of the wrong type or range."""
    if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be an int >= 1; got {num_beams!r}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)):
        raise ValueError(f"length_penalty must be a number; got {length_penalty!r}")
    if not isinstance(early_stopping, bool):
        raise ValueError(
            f"early_stopping must be True or False; got {early_stopping!r} (Hugging Face's "
            f"'never' is not supported)"
        )


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

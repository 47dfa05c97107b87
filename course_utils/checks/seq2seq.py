"""Checkers for the exercises of notebook 07 (T5 and BART): T5's span corruption, BART's text
infilling, and beam search.

The student's signatures (called positionally, so the names may differ):

- ``span_corruption(tokens, sentinel_ids, eos_id, rng) -> (inputs, targets)``;
- ``text_infilling(tokens, mask_id, rng) -> list of ids``;
- ``beam_search(step_log_probs, start_id, eos_id, num_beams, max_new_tokens,
  length_penalty=1.0) -> (tokens, score)``.

The two noising functions are random: each output is read back (which tokens were kept,
which spans became a sentinel or a mask), its form is checked exactly, and the spans are
checked by their statistics over a few hundred texts. Beam search runs on a toy scorer whose
log-probabilities are known; the expected answers come from ``course_utils.decoding.beam_search``
(the cases are chosen so that the textbook rule and Hugging Face's rule agree on them).
The package's reference functions refuse to run while the student's function runs.
"""

from __future__ import annotations

import inspect
import math
import random
from fractions import Fraction
from typing import Any, Callable, Sequence

import torch
from torch import nn

from course_utils import decoding, noising, seq2seq
from course_utils.checks.core import Case, NotYourOwnWork, _refuse_package_function, checker, fail, own_work, \
    register_code_hints, run_checks, within

# The package's reference functions each exercise rebuilds: disabled while the student's runs.
SPAN_CORRUPTION_PARTS = (noising.span_corruption, noising.corrupt_spans, noising.random_noise_spans,
                         noising.random_span_lengths, noising.random_segmentation,
                         noising.num_noise_tokens, noising.num_noise_spans, seq2seq.noised_pair)
TEXT_INFILLING_PARTS = (noising.text_infilling, noising.poisson_span_lengths, noising.infill_spans,
                        noising.insert_masks, seq2seq.noised_pair)
# beam_search is wrapped by torch.no_grad: own_work disables the function inside the wrapper.
BEAM_SEARCH_PARTS = (inspect.unwrap(decoding.beam_search),)

register_code_hints({
    "span_corruption": (
        "noise = min(max(round(0.15 * len(tokens)), 1), len(tokens) - 1); num_spans = max(1, round(noise / 3))\n"
        "cuts = sorted(rng.sample(range(1, noise), num_spans - 1))  # noise lengths: differences of [0, *cuts, noise]"
    ),
    "text_infilling": (
        "length, p, u = 0, math.exp(-3), rng.random(); total = p  # one Poisson(3) draw, by inversion:\n"
        "while u > total: length += 1; p *= 3 / length; total += p\n"
        "starts = rng.sample(range(len(tokens)), num_spans)  # a start becomes mask_id, the rest of its span goes"
    ),
    "beam_search": (
        "totals = torch.tensor(scores)[:, None] + step_log_probs(torch.tensor(beams))  # (K, V)\n"
        "best = totals.flatten().topk(k); origin, token = best.indices // V, best.indices % V"
    ),
})


def _call(name: str, function: Callable, call: str, *args: Any) -> Any:
    """``function(*args)``; a crash becomes a message that shows the call."""
    try:
        return function(*args)
    except NotImplementedError:
        fail(f"{name} is not written yet: replace `raise NotImplementedError()` with your code.")
    except NotYourOwnWork:
        raise
    except Exception as error:  # the student's code crashed: show where
        raise AssertionError(f"{call} raised {type(error).__name__}: {error}") from error


def _in_band(what: str, value: float, low: float, high: float, hint: str) -> None:
    if not low <= value <= high:
        fail(f"{what}: {value:.3f}, expected between {low} and {high}", hint)


def _ids(value: Any) -> list[int] | None:
    """A list, tuple or 1-D tensor of ints as a list; None for anything else."""
    if isinstance(value, torch.Tensor):
        return value.tolist() if value.dim() == 1 and not value.is_floating_point() else None
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def _text(length: int) -> list[int]:
    """A text whose token ids say where they stand: the token at position i has id 100 + i."""
    return [100 + i for i in range(length)]


def _shown(tokens: Sequence[int]) -> str:
    return repr(list(tokens)) if len(tokens) <= 12 else f"[100, 101, ..., {tokens[-1]}] ({len(tokens)} tokens)"


def _runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted positions as maximal runs ``(start, end)``, end excluded: [2, 3, 7] -> [(2, 4), (7, 8)]."""
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][1] == p:
            runs[-1] = (runs[-1][0], p + 1)
        else:
            runs.append((p, p + 1))
    return runs


# --- exercise 1: T5's span corruption ------------------------------------------

_EOS = 1
_SENTINELS = noising.t5_sentinel_ids(32100)  # <extra_id_0> = 32099, <extra_id_1> = 32098, ...


def _noise_counts(length: int) -> list[int]:
    """T5's number of noise tokens, round(0.15 * L) in [1, L - 1]; both roundings at an exact tie."""
    exact = Fraction(3, 20) * length
    counts = {math.floor(exact), math.ceil(exact)} if exact.denominator == 2 else {round(exact)}
    return sorted({min(max(n, 1), length - 1) for n in counts})


def _count_text(length: int, counts: list[int]) -> str:
    if len(counts) == 1:
        return f"round(0.15 * {length}) = {counts[0]}" if counts[0] == round(0.15 * length) else \
            f"{counts[0]} (round(0.15 * {length}), kept between 1 and {length - 1})"
    return f"{counts[0]} or {counts[1]} (0.15 * {length} is a tie: either rounding is accepted)"


def _read_corruption(call: str, tokens: list[int], got: Any) -> list[tuple[int, int]]:
    """Check the form of one ``(inputs, targets)``; return its noise spans ``(start, end)``."""
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        fail(f"{call} should return a pair (inputs, targets); got {got!r:.200}")
    inputs, targets = _ids(got[0]), _ids(got[1])
    if inputs is None or targets is None:
        fail(f"{call}: inputs and targets should be lists of token ids; got {got!r:.200}")
    if inputs[-1:] != [_EOS] or targets[-1:] != [_EOS]:
        fail(f"{call} returned\n  inputs:  {inputs}\n  targets: {targets}",
             "both the input and the target end with eos_id (added after the corruption)")
    position = {t: i for i, t in enumerate(tokens)}
    strangers = [t for t in inputs[:-1] if t not in position and t not in _SENTINELS]
    if strangers:
        fail(f"{call}: the input holds {strangers[0]}, neither a token of the text nor a sentinel",
             "the input is the text with each noise span replaced by one sentinel")
    kept = [position[t] for t in inputs if t in position]
    if kept != sorted(set(kept)):
        fail(f"{call}: the input's tokens {kept and [tokens[k] for k in kept][:20]} are not the text's "
             f"tokens in order", "keep the tokens that are not noise where they are, each once")
    if len(kept) == len(tokens):
        fail(f"{call}: the input still holds every token of the text (inputs: {inputs})",
             "the noise tokens leave the input: each noise span is replaced by one sentinel, and the "
             "target holds the span")
    return _runs(sorted(set(range(len(tokens))) - set(kept)))


def _check_layout(call: str, tokens: list[int], spans: list[tuple[int, int]]) -> None:
    """The counts and the layout of T5's random spans, exactly."""
    length, noise = len(tokens), sum(end - start for start, end in spans)
    counts = _noise_counts(length)
    if noise not in counts:
        fail(f"{call} turned {noise} of the {length} tokens into noise; T5 takes "
             f"{_count_text(length, counts)}",
             "the number of noise tokens is fixed by the length: 15 % of it, rounded, at least 1 and at "
             "most all but one; only where they go is random")
    num_spans = max(1, round(noise / 3))
    if len(spans) != num_spans:
        fail(f"{call}: the {noise} noise tokens form {len(spans)} span(s) {spans}; T5 cuts them into "
             f"max(1, round({noise} / 3)) = {num_spans}",
             "cut the noise tokens into that many non-empty spans and the kept tokens into as many "
             "non-empty spans (an empty piece would merge two spans), then alternate them")
    if spans[0][0] == 0:
        fail(f"{call}: the text starts with a noise span {spans[0]}",
             "lay the spans out kept, noise, kept, noise, ...: a kept span comes first")
    if spans[-1][1] != length:
        fail(f"{call}: the text ends with kept tokens after the last noise span {spans[-1]}",
             "there are as many kept spans as noise spans, kept first, so the text ends with a noise span")


def _check_corruption_form(call: str, tokens: list[int], spans: list[tuple[int, int]], got: Any) -> None:
    """Given the spans read back, inputs and targets must be exactly T5's."""
    inputs, targets = _ids(got[0]), _ids(got[1])
    expected_inputs, expected_targets = noising.corrupt_spans(tokens, spans, sentinel_ids=_SENTINELS,
                                                              eos_id=_EOS)
    shown = f"{call}\n  returned inputs:  {inputs}\n           targets: {targets}"
    shown += f"\n  expected inputs:  {expected_inputs}\n           targets: {expected_targets}"
    if inputs != expected_inputs:
        sentinels = sum(t in _SENTINELS for t in inputs)
        noise = sum(end - start for start, end in spans)
        if sentinels == noise and noise > len(spans):
            fail(shown, "each noise span becomes ONE sentinel in the input, however long it is")
        fail(shown, "in the input, the first noise span becomes the first of the sentinel ids, the "
                    "second span the second sentinel, and so on; the kept tokens stay as they are")
    if targets != expected_targets:
        fail(shown, "the target is, span after span, its sentinel followed by the span's tokens, "
                    "and eos_id at the end")


def _composition_share(total: int, parts: int, predicate: Callable[[int], bool]) -> float:
    """For ``total`` items cut uniformly at random into ``parts`` non-empty segments: the probability
    that one segment's length satisfies ``predicate`` (P(length = j) = C(total - j - 1, parts - 2)
    / C(total - 1, parts - 1), the same for every segment)."""
    ways = math.comb(total - 1, parts - 1)
    return sum(math.comb(total - j - 1, parts - 2) for j in range(1, total - parts + 2) if predicate(j)) / ways


@checker("span_corruption")
def check_span_corruption(function: Callable) -> None:
    """Taught in notebook 07.
    ``function(tokens, sentinel_ids, eos_id, rng)`` -> ``(inputs, targets)``, lists of ids:
    T5's span corruption of ``tokens`` (a list of ids without eos), drawing only from ``rng`` (a
    ``random.Random``). round(0.15 L) noise tokens (at least 1, at most L - 1) in
    max(1, round(noise / 3)) spans; noise and kept tokens each cut into that many non-empty
    spans uniformly at random, laid out kept first; span k becomes ``sentinel_ids[k]`` in the
    input; the target is each sentinel followed by its span; both end with ``eos_id``.
    Checked: the form exactly (for the spans read back), the counts exactly at every length
    from 2 to 40 and a few longer ones, and the spans' lengths by their statistics."""
    name = "span_corruption"

    def run(tokens: list[int], seed: int) -> tuple[str, Any]:
        call = f"{name}({_shown(tokens)}, sentinel_ids, eos_id={_EOS}, random.Random({seed}))"
        sentinels = list(_SENTINELS)
        with own_work(function, *SPAN_CORRUPTION_PARTS):
            got = _call(name, function, call, tokens, sentinels, _EOS, random.Random(seed))
        if tokens != _text(len(tokens)) or sentinels != list(_SENTINELS):
            fail(f"{call} changed its arguments in place",
                 "build the input and the target as new lists; leave tokens and sentinel_ids as they were")
        return call, got

    for length in [*range(2, 41), 50, 64, 90, 137, 200]:
        for seed in range(2):
            tokens = _text(length)
            call, got = run(tokens, seed)
            spans = _read_corruption(call, tokens, got)
            _check_layout(call, tokens, spans)
            _check_corruption_form(call, tokens, spans, got)
    call, first = run(_text(60), 7)  # 9 noise tokens in 3 spans: something to draw
    if run(_text(60), 7)[1] != first:
        fail(f"{call} gave two different answers for the same seed",
             "draw every random number from the rng you are given, not from the random module")

    noise_lengths, kept_lengths = [], []  # 100 tokens: 15 noise tokens in 5 spans, 85 kept in 5
    for seed in range(400):
        tokens = _text(100)
        call, got = run(tokens, 1000 + seed)
        spans = _read_corruption(call, tokens, got)
        _check_layout(call, tokens, spans)
        ends = [0, *[end for _, end in spans]]
        noise_lengths += [end - start for start, end in spans]
        kept_lengths += [start - end for (start, _), end in zip(spans, ends)]
    hint = ("cut the noise tokens (and, separately, the kept tokens) into the spans uniformly at random: "
            "choose the cut points among the gaps between tokens, all at once, without repeats")
    within("share of noise spans 1 token long, in texts of 100 tokens (15 noise tokens in 5 spans)",
           noise_lengths.count(1) / len(noise_lengths), _composition_share(15, 5, lambda j: j == 1),
           len(noise_lengths), hint)
    within("share of kept spans shorter than 17 tokens, in texts of 100 tokens (85 kept in 5 spans)",
           sum(k < 17 for k in kept_lengths) / len(kept_lengths),
           _composition_share(85, 5, lambda j: j < 17), len(kept_lengths), hint)
    print(f"✅ {name}: the form, the counts and the layout right at {len(range(2, 41)) + 5} lengths; "
          f"span lengths as T5's over 400 texts.")


# --- exercise 2: BART's text infilling -----------------------------------------

_MASK = 4
# Bands for texts of 100 tokens. The package's text_infilling gives about 0.268 of the tokens
# removed (30 % lie in spans, overlapping spans merge), 0.33 masks per removed token, 5 % of
# the masks inserted where nothing is missing, 17 % of the removed runs 1 token long; the bands
# also accept spans placed without overlaps (0.30, 0.35, 4 %, 19 %).
_REMOVED_BAND = (0.23, 0.31)
_MASKS_PER_REMOVED_BAND = (0.25, 0.45)
_LONE_MASK_BAND = (0.02, 0.10)
_SHORT_RUN_BAND = (0.10, 0.26)


def _read_infilling(call: str, tokens: list[int], got: Any, mask_id: int) -> tuple[int, int, int, list[int]]:
    """Check the form of one infilled text; return (removed tokens, masks, masks where nothing is
    missing, lengths of the removed runs)."""
    out = _ids(got)
    if out is None:
        fail(f"{call} should return a list of token ids; got {got!r:.200}")
    position = {t: i for i, t in enumerate(tokens)}
    strangers = [t for t in out if t != mask_id and t not in position]
    if strangers:
        fail(f"{call} returned {out}: {strangers[0]} is neither a token of the text nor mask_id={mask_id}",
             "the output is the text with spans replaced by mask_id (and a few masks inserted)")
    kept = [position[t] for t in out if t != mask_id]
    if kept != sorted(set(kept)):
        fail(f"{call} returned {out}: the text's tokens are not in their order, or repeated",
             "text infilling only removes spans and puts masks in; the other tokens stay in order")
    removed, masks, lone, runs = len(tokens) - len(kept), len(out) - len(kept), 0, []
    previous, masks_here = -1, 0  # the last kept position, the masks since it
    for t in [*out, None]:
        if t == mask_id:
            masks_here += 1
            continue
        here = len(tokens) if t is None else position[t]
        gap = here - previous - 1  # tokens removed between two kept ones
        if gap and not masks_here:
            fail(f"{call} returned {out}: tokens {tokens[previous + 1:here]} vanished without a mask",
                 "each span is replaced by ONE mask_id: its first token becomes the mask, the rest is deleted")
        if gap:
            runs.append(gap)
        else:
            lone += masks_here
        previous, masks_here = here, 0
    budget = math.ceil(0.3 * len(tokens))
    if tokens and not 1 <= removed <= budget:
        fail(f"{call} removed {removed} of the {len(tokens)} tokens; the spans cover "
             f"ceil(0.3 * {len(tokens)}) = {budget} token{'s' * (budget != 1)} at most (fewer where they overlap)",
             "draw span lengths (Poisson with mean 3) until they add up to 30 % of the tokens, rounded "
             "up, and shorten the last one so that they add up exactly")
    return removed, masks, lone, runs


@checker("text_infilling")
def check_text_infilling(function: Callable) -> None:
    """Taught in notebook 07.
    ``function(tokens, mask_id, rng)`` -> a new list of ids: BART's text infilling of ``tokens``,
    drawing only from ``rng`` (a ``random.Random``). Span lengths are drawn from Poisson(3) until
    they add up to ceil(0.3 n) (the last one shortened to fit); each span of length >= 1 starts
    at its own random token and becomes ONE ``mask_id`` (overlapping spans merge); each span of
    length 0 inserts a ``mask_id`` at a random place. Checked: the form exactly (the kept tokens
    in order, a mask wherever tokens vanished, at most ceil(0.3 n) removed), and over 500 texts
    of 100 tokens the share removed (about 27 %), masks per removed token (about 1/3), inserted
    masks (about 5 %) and 1-token runs (about 17 %), within bands that allow small variations."""
    name = "text_infilling"

    def run(tokens: list[int], mask_id: int, seed: int) -> tuple[str, Any]:
        call = f"{name}({_shown(tokens)}, mask_id={mask_id}, random.Random({seed}))"
        with own_work(function, *TEXT_INFILLING_PARTS):
            got = _call(name, function, call, tokens, mask_id, random.Random(seed))
        if tokens != _text(len(tokens)):
            fail(f"{call} changed its argument tokens in place",
                 "build the infilled text as a new list; leave tokens as it was")
        return call, got

    for length in [*range(1, 41), 64, 137]:
        for seed, mask_id in ((0, _MASK), (1, 7)):
            tokens = _text(length)
            call, got = run(tokens, mask_id, seed)
            _read_infilling(call, tokens, got, mask_id)
    call, first = run(_text(60), _MASK, 7)
    if run(_text(60), _MASK, 7)[1] != first:
        fail(f"{call} gave two different answers for the same seed",
             "draw every random number from the rng you are given, not from the random module")

    removed = masks = lone = 0
    runs: list[int] = []
    for seed in range(500):
        tokens = _text(100)
        call, got = run(tokens, _MASK, 1000 + seed)
        r, m, single, lengths = _read_infilling(call, tokens, got, _MASK)
        removed, masks, lone, runs = removed + r, masks + m, lone + single, runs + lengths
    where = "over 500 texts of 100 tokens"
    _in_band(f"share of the tokens removed, {where}", removed / 50_000, *_REMOVED_BAND,
             "the spans' lengths add up to 30 % of the tokens; overlapping spans merge, so a little "
             "fewer are removed")
    _in_band(f"masks per removed token, {where}", masks / removed, *_MASKS_PER_REMOVED_BAND,
             "a span of about 3 tokens (Poisson with mean 3) leaves ONE mask, not one per token")
    _in_band(f"share of the removed runs 1 token long, {where}", runs.count(1) / len(runs),
             *_SHORT_RUN_BAND, "draw each span's length from a Poisson distribution with mean 3 (1 token about "
             "15 % of the time), not a fixed length")
    _in_band(f"share of the masks standing where nothing was removed, {where}", lone / masks,
             *_LONE_MASK_BAND, "a span of length 0 (a Poisson draw with mean 3 is 0 about 5 % of the "
             "time) inserts a mask at a random place: keep those draws")
    print(f"✅ {name}: the form right at {len(range(1, 41)) + 2} lengths; over 500 texts "
          f"{removed / 50_000:.1%} removed, {masks / removed:.2f} masks per removed token.")


# --- exercise 3: beam search ----------------------------------------------------

_START, _END = 0, 1  # the toy vocabulary: 0 starts, 1 ends, 2, 3, ... are words


class _ToyScorer:
    """A deterministic "model": ``scorer(prefixes (B, t))`` -> ``(B, V)`` log-probabilities of the
    next token. ``table`` maps a prefix (the tokens after the start) to probabilities over the
    vocabulary; a prefix not in it gets ``default``, or, with ``seed``, a random distribution that
    depends only on the seed and the prefix."""

    def __init__(self, label: str, vocab_size: int, table: dict | None = None,
                 default: Sequence[float] | None = None, seed: int | None = None) -> None:
        self.label, self.vocab_size, self.seed = label, vocab_size, seed
        self.table = {k: self._log(v) for k, v in (table or {}).items()}
        self.default = self._log(default) if default is not None else None

    def _log(self, probs: Sequence[float]) -> torch.Tensor:
        p = torch.tensor(probs, dtype=torch.float64)
        return (p / p.sum()).log()

    def log_probs(self, prefix: tuple[int, ...]) -> torch.Tensor:
        """(V,) float64 log-probabilities of the token after ``start_id, *prefix``."""
        if prefix in self.table:
            return self.table[prefix]
        if self.seed is None:
            return self.default
        key = self.seed
        for token in prefix:
            key = key * 131 + token + 1
        g = torch.Generator().manual_seed(key)
        logits = 1.5 * torch.randn(self.vocab_size, generator=g, dtype=torch.float64)  # (V,)
        logits[_START] -= 4.0  # the start token is rarely written again
        return logits.log_softmax(-1)

    def __call__(self, prefixes: Any) -> torch.Tensor:
        if not isinstance(prefixes, torch.Tensor) or prefixes.dim() != 2 or prefixes.is_floating_point():
            raise ValueError("step_log_probs takes the prefixes as one integer tensor of shape (B, t), "
                             "one row per beam (one prefix: torch.tensor([prefix]))")
        if prefixes.shape[1] == 0 or not (prefixes[:, 0] == _START).all():
            raise ValueError(f"every prefix starts with start_id={_START}")
        rows = [self.log_probs(tuple(row[1:])) for row in prefixes.tolist()]
        return torch.stack(rows).float()  # (B, V)

    def __repr__(self) -> str:
        return f"<toy scorer: {self.label}>"


def _brute_force(scorer: _ToyScorer, max_new_tokens: int, length_penalty: float) -> tuple[list[int], float]:
    """The best of all sequences (ended by eos or by the length limit), by
    ``sum log p / length ** length_penalty``: what beam search tries to find."""
    best: tuple[list[int], float] = ([], float("-inf"))

    def grow(prefix: tuple[int, ...], total: float) -> None:
        nonlocal best
        for token, lp in enumerate(scorer.log_probs(prefix).tolist()):
            sequence, score = (*prefix, token), total + lp
            if token == _END or len(sequence) == max_new_tokens:
                normalized = score / len(sequence) ** length_penalty
                if normalized > best[1]:
                    best = ([_START, *sequence], normalized)
            else:
                grow(sequence, score)

    grow((), 0.0)
    return best


class _ScorerAsModel(nn.Module):
    """The toy scorer as an encoder-decoder, so that ``decoding.beam_search`` can run on it."""

    def __init__(self, scorer: _ToyScorer) -> None:
        super().__init__()
        self.scorer = scorer

    def encode(self, src_ids: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.zeros(src_ids.shape[0], 1, 1)  # (B, 1, 1): nothing to remember

    def decode(self, tgt_ids: torch.Tensor, memory: torch.Tensor, memory_mask: Any = None,
               cache: Any = None) -> torch.Tensor:
        return self.scorer(tgt_ids)[:, None, :]  # (N, 1, V): only the last position is read


def _package_beam_search(scorer: _ToyScorer, num_beams: int, max_new_tokens: int,
                         length_penalty: float) -> tuple[list[int], float]:
    out = decoding.beam_search(_ScorerAsModel(scorer), torch.zeros(1, 1, dtype=torch.long), num_beams,
                               max_new_tokens, start_id=_START, eos_id=_END,
                               length_penalty=length_penalty, use_cache=False)
    return out.sequences[0].tolist(), float(out.scores[0])


def _words(probs: dict[int, float], vocab_size: int = 4) -> list[float]:
    """Probabilities over the toy vocabulary; the start token gets a tiny one."""
    return [probs.get(i, 0.001) for i in range(vocab_size)]


A, B, C = 2, 3, 4  # the toy's words

# Greedy picks A (0.5), then the best after A is only 0.36; B (0.45) leads to eos with 0.9.
_GREEDY_TRAP = _ToyScorer("greedy trap", 4, table={
    (): _words({_END: 0.05, A: 0.5, B: 0.449}),
    (A,): _words({_END: 0.36, A: 0.33, B: 0.309}),
    (B,): _words({_END: 0.9, A: 0.06, B: 0.039}),
}, default=_words({_END: 0.6, A: 0.25, B: 0.149}))
# eos at once has the larger summed log-probability (0.4); A A eos the larger mean (0.55 * 0.85 * 0.8).
_SHORT_OR_LONG = _ToyScorer("short or long", 4, table={
    (): _words({_END: 0.4, A: 0.55, B: 0.049}),
    (A,): _words({_END: 0.05, A: 0.85, B: 0.099}),
    (A, A): _words({_END: 0.8, A: 0.1, B: 0.099}),
}, default=_words({_END: 0.3, A: 0.2, B: 0.499}))
# eos is never likely: every hypothesis runs to the length limit.
_NEVER_ENDS = _ToyScorer("eos never likely", 4, table={
    (): _words({_END: 0.01, A: 0.6, B: 0.389}),
    (A,): _words({_END: 0.01, A: 0.3, B: 0.689}),
    (B,): _words({_END: 0.01, A: 0.95, B: 0.039}),
}, default=_words({_END: 0.01, A: 0.5, B: 0.489}))

# (scorer, num_beams, max_new_tokens, length_penalty, hint)
_BEAM_CASES = [
    (_GREEDY_TRAP, 1, 4, 1.0, "with num_beams=1 beam search keeps one sequence: the most likely token "
                              "at every step (greedy decoding), until eos"),
    (_GREEDY_TRAP, 2, 4, 1.0, "keep the num_beams best extensions over all beams, ranked by their summed "
                              "log-probability (the prefix's plus the new token's), not by the last token alone"),
    (_SHORT_OR_LONG, 2, 4, 0.0, "with length_penalty=0 finished sequences are ranked by their summed "
                                "log-probability alone; a sequence that ends with eos is finished at once"),
    (_SHORT_OR_LONG, 2, 4, 1.0, "rank finished sequences by sum log p / length ** length_penalty, where the "
                                "length counts the tokens after start_id, eos included"),
    (_SHORT_OR_LONG, 1, 4, 0.0, "with one beam, beam search is greedy decoding: A, A, eos"),
    (_NEVER_ENDS, 2, 3, 1.0, "at max_new_tokens the search stops: the sequences still open count as "
                             "finished, without eos"),
    (_NEVER_ENDS, 3, 4, 2.0, "at max_new_tokens the sequences still open count as finished; their score "
                             "divides by max_new_tokens ** length_penalty"),
]
# Random scorers: seeds whose answers the textbook rule and Hugging Face's rule share.
_RANDOM_CASES = [(seed, beams, 4, penalty) for seed, beams, penalty in (
    (1, 2, 1.0), (2, 3, 1.0), (3, 3, 0.5), (4, 2, 2.0), (5, 3, 0.0), (6, 1, 1.0))]


def _beam_cases() -> list[tuple[_ToyScorer, int, int, float, str]]:
    random_hint = ("keep the num_beams best partial sequences by summed log-probability; one that ends "
                   "with eos is finished; return the finished one with the best sum log p / length ** "
                   "length_penalty")
    return [*_BEAM_CASES, *[(_ToyScorer(f"random, seed {seed}", 6, seed=seed), beams, steps, penalty, random_hint)
                            for seed, beams, steps, penalty in _RANDOM_CASES]]


def _same_beam(got: Any, expected: tuple[list[int], float]) -> bool:
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return False
    tokens, score = _ids(got[0]), got[1]
    if isinstance(score, torch.Tensor) and score.numel() == 1:
        score = score.item()
    return tokens == expected[0] and isinstance(score, (int, float)) and abs(score - expected[1]) < 1e-4


def _explain_beam(got: Any, expected: tuple[list[int], float]) -> str:
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return "return a pair (tokens, score)"
    tokens, score = _ids(got[0]), got[1]
    if isinstance(score, torch.Tensor) and score.numel() == 1:
        score = score.item()
    if tokens is None:
        return "tokens should be a list of ids (or a 1-D integer tensor)"
    if tokens == expected[0][1:]:
        return "the tokens should begin with start_id"
    if tokens != expected[0]:
        return f"another sequence: {tokens}, expected {expected[0]}"
    if not isinstance(score, (int, float)):
        return f"the score should be a number (a float); got {type(score).__name__}"
    return (f"the right tokens, but the score {score:.5f} should be {expected[1]:.5f}: the summed "
            f"log-probability of the tokens after start_id divided by length ** length_penalty")


def check_beam_search(function: Callable) -> None:
    """Taught in notebook 07.
    ``function(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0)``
    -> ``(tokens, score)``. ``step_log_probs(prefixes)`` takes a ``(B, t)`` integer tensor of
    prefixes (each starting with ``start_id``) and returns the ``(B, V)`` log-probabilities of
    the next token. Keep the ``num_beams`` best partial sequences by summed log-probability:
    extend each by every token and keep the ``num_beams`` best extensions of them all; an
    extension ending with ``eos_id`` is finished, and at ``max_new_tokens`` every open one is.
    A finished sequence scores ``sum log p / length ** length_penalty`` (``length``: its tokens
    after ``start_id``, eos included). Return the best finished one: ``tokens`` a list of ids
    from ``start_id`` to its last token, ``score`` a float.

    The textbook rule (a finished extension leaves the beam, which shrinks) and Hugging Face's
    (the beam is refilled with the next best open extensions) give the same answers on these
    cases; the answers are those of ``course_utils.decoding.beam_search``."""
    if not callable(function):
        raise AssertionError(f"beam_search should be a function, but it is {type(function).__name__}.")
    _refuse_package_function("beam_search", inspect.unwrap(function))  # under torch.no_grad too
    cases = [Case((scorer, _START, _END, beams, steps, penalty),
                  _package_beam_search(scorer, beams, steps, penalty), hint=hint)
             for scorer, beams, steps, penalty, hint in _beam_cases()]
    _check_beam_scores(function, cases)
    run_checks("beam_search", function, cases, same=_same_beam, explain=_explain_beam,
               forbid=BEAM_SEARCH_PARTS)


def _check_beam_scores(function: Callable, cases: list[Case]) -> None:
    """Where the student's tokens are right, the score must be too: said first, with its own hint
    (the cases' hints are about finding the tokens)."""
    with own_work(function, *BEAM_SEARCH_PARTS):
        for case in cases:
            call = case.call_text("beam_search")
            got = _call("beam_search", function, call, *case.args)
            if not (isinstance(got, (tuple, list)) and len(got) == 2 and _ids(got[0]) == case.expected[0]):
                continue  # run_checks explains the tokens
            if not _same_beam(got, case.expected):
                fail(f"{call}: the right tokens {case.expected[0]}, but the score {got[1]!r} should be "
                     f"{case.expected[1]:.5f}",
                     "the score is the summed log-probability of the tokens after start_id (eos included) "
                     "divided by length ** length_penalty, where length counts those tokens (not start_id); "
                     "return it as a float\n  still stuck? code_hint('beam_search') shows a line of code")

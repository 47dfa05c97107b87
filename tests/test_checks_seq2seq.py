"""The notebook 07 checkers pass correct solutions and fail wrong ones with a useful message."""

from __future__ import annotations

import math
import random
import re

import pytest
import torch

from course_utils import decoding, noising
from course_utils.checks import code_hint
from course_utils.checks import seq2seq as checks
from course_utils.checks.seq2seq import check_beam_search, check_span_corruption, check_text_infilling

CODE = re.compile(r"\w\(|\w\[|[=<>!]=|\s=\s|\w\.\w|\(\s*['\"]|`")  # tests/test_checks.py's pattern


def assert_hints_in_words(message):
    """Hints say the idea in words; code comes only from code_hint."""
    for line in str(message).splitlines():
        if line.strip().startswith("hint:"):
            assert not CODE.search(line), f"the hint gives code: {line}"


# --- span corruption ---------------------------------------------------------------


def cut(n, parts, rng):
    """n items cut uniformly at random into `parts` non-empty segments: their lengths."""
    edges = [0, *sorted(rng.sample(range(1, n), parts - 1)), n]
    return [b - a for a, b in zip(edges, edges[1:])]


def t5_counts(length):
    noise = min(max(round(0.15 * length), 1), length - 1)
    return noise, max(1, round(noise / 3))


def corrupt(tokens, noise_lengths, kept_lengths, sentinel_ids, eos_id):
    inputs, targets, position = [], [], 0
    for k, (kept, noise) in enumerate(zip(kept_lengths, noise_lengths)):
        inputs += [*tokens[position:position + kept], sentinel_ids[k]]
        targets += [sentinel_ids[k], *tokens[position + kept:position + kept + noise]]
        position += kept + noise
    return [*inputs, eos_id], [*targets, eos_id]


def own_span_corruption(tokens, sentinel_ids, eos_id, rng):
    noise, spans = t5_counts(len(tokens))
    noise_lengths = cut(noise, spans, rng)
    kept_lengths = cut(len(tokens) - noise, spans, rng)
    return corrupt(tokens, noise_lengths, kept_lengths, sentinel_ids, eos_id)


def bernoulli_noise(tokens, sentinel_ids, eos_id, rng):  # each token noise with p = 0.15
    noise = [i for i in range(len(tokens)) if rng.random() < 0.15] or [len(tokens) - 1]
    spans = checks._runs(noise)
    return _by_spans(tokens, spans, sentinel_ids, eos_id)


def _by_spans(tokens, spans, sentinel_ids, eos_id):
    inputs, targets, position = [], [], 0
    for k, (start, end) in enumerate(spans):
        inputs += [*tokens[position:start], sentinel_ids[k]]
        targets += [sentinel_ids[k], *tokens[start:end]]
        position = end
    inputs += tokens[position:]
    if position < len(tokens):
        targets.append(sentinel_ids[len(spans)])
    return [*inputs, eos_id], [*targets, eos_id]


def sentinel_per_token(tokens, sentinel_ids, eos_id, rng):
    inputs, targets = own_span_corruption(tokens, sentinel_ids, eos_id, rng)
    spans = checks._runs([i for i, t in enumerate(tokens) if t not in inputs])
    out = [t for t in tokens]
    for start, end in spans:
        for i in range(start, end):
            out[i] = sentinel_ids[0]
    return [*out, eos_id], targets


def noise_first(tokens, sentinel_ids, eos_id, rng):
    noise, spans = t5_counts(len(tokens))
    noise_lengths, kept_lengths = cut(noise, spans, rng), cut(len(tokens) - noise, spans, rng)
    starts, position = [], 0
    for noise_length, kept in zip(noise_lengths, kept_lengths):  # noise first
        starts.append((position, position + noise_length))
        position += noise_length + kept
    return _by_spans(tokens, starts, sentinel_ids, eos_id)


def evenly_spaced(tokens, sentinel_ids, eos_id, rng):  # no randomness in the segmentation
    noise, spans = t5_counts(len(tokens))

    def even(n, k):
        return [n // k + (i < n % k) for i in range(k)]

    return corrupt(tokens, even(noise, spans), even(len(tokens) - noise, spans), sentinel_ids, eos_id)


def one_sentinel_for_all(tokens, sentinel_ids, eos_id, rng):
    return own_span_corruption(tokens, [sentinel_ids[0]] * len(sentinel_ids), eos_id, rng)


def target_without_sentinels(tokens, sentinel_ids, eos_id, rng):
    inputs, targets = own_span_corruption(tokens, sentinel_ids, eos_id, rng)
    return inputs, [t for t in targets if t not in sentinel_ids]


def appends_eos_in_place(tokens, sentinel_ids, eos_id, rng):
    inputs, targets = own_span_corruption(tokens, sentinel_ids, eos_id, rng)
    tokens.append(eos_id)
    return inputs, targets


def global_random(tokens, sentinel_ids, eos_id, rng):
    return own_span_corruption(tokens, sentinel_ids, eos_id, random)


def span_corruption_through_the_package(tokens, sentinel_ids, eos_id, rng):
    return noising.span_corruption(tokens, sentinel_ids=sentinel_ids, eos_id=eos_id, rng=rng)


def shuffled_cuts(n, parts, rng):
    """T5's way: shuffle parts - 1 ones among the n - 1 gaps (the same distribution as `cut`)."""
    marks = [1] * (parts - 1) + [0] * (n - parts)
    rng.shuffle(marks)
    edges = [0, *[i + 1 for i, mark in enumerate(marks) if mark], n]
    return [b - a for a, b in zip(edges, edges[1:])]


def t5_style_span_corruption(tokens, sentinel_ids, eos_id, rng):
    noise, spans = t5_counts(len(tokens))
    return corrupt(tokens, shuffled_cuts(noise, spans, rng), shuffled_cuts(len(tokens) - noise, spans, rng),
                   sentinel_ids, eos_id)


@pytest.mark.parametrize("solution", [own_span_corruption, t5_style_span_corruption])
def test_span_corruption_passes(solution, capsys):
    check_span_corruption(solution)
    assert "✅ span_corruption" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (bernoulli_noise, "noise"),
    (sentinel_per_token, "ONE sentinel"),
    (noise_first, "starts with a noise span"),
    (evenly_spaced, "uniformly at random"),
    (one_sentinel_for_all, "the second sentinel"),
    (target_without_sentinels, "its sentinel followed by"),
    (appends_eos_in_place, "in place"),
    (global_random, "same seed"),
], ids=lambda x: getattr(x, "__name__", "words"))
def test_wrong_span_corruptions_get_a_hint(wrong, words):
    with pytest.raises(AssertionError, match=words) as failure:
        check_span_corruption(wrong)
    assert "code_hint('span_corruption')" in str(failure.value)
    assert_hints_in_words(failure.value)


# --- text infilling -----------------------------------------------------------------


def poisson3(rng):
    length, p, u = 0, math.exp(-3), rng.random()
    total = p
    while u > total and length < 127:
        length += 1
        p *= 3 / length
        total += p
    return length


def draw_lengths(n, rng, ratio=0.3):
    budget, lengths = math.ceil(ratio * n), []
    while sum(lengths) < budget:
        lengths.append(min(poisson3(rng), budget - sum(lengths)))
    return lengths


def infill(tokens, lengths, mask_id, rng, one_mask=True, inserts=True):
    spans = [length for length in lengths if length > 0]
    starts = rng.sample(range(len(tokens)), len(spans))
    deleted = {i for s, length in zip(starts, spans) for i in range(s + 1, min(s + length, len(tokens)))}
    if not one_mask:  # every token of a span becomes a mask
        masked = deleted | set(starts)
        out = [mask_id if i in masked else t for i, t in enumerate(tokens)]
    else:
        out = [mask_id if i in starts else t for i, t in enumerate(tokens) if i not in deleted]
    if inserts:
        zeros = len(lengths) - len(spans)
        places = set(rng.sample(range(len(out) + zeros), zeros))
        rest = iter(out)
        out = [mask_id if i in places else next(rest) for i in range(len(out) + zeros)]
    return out


def own_text_infilling(tokens, mask_id, rng):
    return infill(tokens, draw_lengths(len(tokens), rng), mask_id, rng)


def mask_per_token(tokens, mask_id, rng):
    return infill(tokens, draw_lengths(len(tokens), rng), mask_id, rng, one_mask=False)


def without_inserts(tokens, mask_id, rng):
    return infill(tokens, draw_lengths(len(tokens), rng), mask_id, rng, inserts=False)


def fixed_length_spans(tokens, mask_id, rng):
    budget, lengths = math.ceil(0.3 * len(tokens)), []
    while sum(lengths) < budget:
        lengths.append(min(3, budget - sum(lengths)))
    return infill(tokens, lengths, mask_id, rng)


def deletes_without_mask(tokens, mask_id, rng):
    out = own_text_infilling(tokens, mask_id, rng)
    return [t for t in out if t != mask_id]


def half_masked(tokens, mask_id, rng):
    return infill(tokens, draw_lengths(len(tokens), rng, ratio=0.5), mask_id, rng)


def infill_in_place(tokens, mask_id, rng):
    out = own_text_infilling(tokens, mask_id, rng)
    tokens[:] = out
    return out


def infilling_through_the_package(tokens, mask_id, rng):
    return noising.text_infilling(tokens, mask_id=mask_id, rng=rng)


def non_overlapping_infilling(tokens, mask_id, rng):
    """Spans laid side by side without overlaps: exactly 30 % removed. A variation the bands allow."""
    lengths = draw_lengths(len(tokens), rng)
    spans = [length for length in lengths if length > 0]
    free, k = len(tokens) - sum(spans), len(spans)
    bars = sorted(rng.sample(range(free + k), k))  # k bars among the free kept tokens: the gaps
    gaps = [b - a - 1 for a, b in zip([-1, *bars], [*bars, free + k])]
    out, position = [], 0
    for gap, span in zip(gaps, spans):
        out += [*tokens[position:position + gap], mask_id]
        position += gap + span
    out += tokens[position:]
    zeros = len(lengths) - k
    places = set(rng.sample(range(len(out) + zeros), zeros))
    rest = iter(out)
    return [mask_id if i in places else next(rest) for i in range(len(out) + zeros)]


@pytest.mark.parametrize("solution", [own_text_infilling, non_overlapping_infilling])
def test_text_infilling_passes(solution, capsys):
    check_text_infilling(solution)
    assert "✅ text_infilling" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (mask_per_token, "masks per removed token"),
    (without_inserts, "nothing was removed"),
    (fixed_length_spans, "1 token long"),
    (deletes_without_mask, "without a mask"),
    (half_masked, r"ceil\(0.3"),
    (infill_in_place, "in place"),
], ids=lambda x: getattr(x, "__name__", "words"))
def test_wrong_infillings_get_a_hint(wrong, words):
    with pytest.raises(AssertionError, match=words) as failure:
        check_text_infilling(wrong)
    assert "code_hint('text_infilling')" in str(failure.value)
    assert_hints_in_words(failure.value)


def test_the_package_infilling_sits_in_the_bands():
    """The bands are centred on what the package's text_infilling does."""
    rng, removed, masks = random.Random(0), 0, 0
    for _ in range(300):
        out = noising.text_infilling(checks._text(100), mask_id=4, rng=rng)
        removed += 100 - sum(t != 4 for t in out)
        masks += out.count(4)
    low, high = checks._REMOVED_BAND
    assert low + 0.02 < removed / 30_000 < high - 0.02
    assert checks._MASKS_PER_REMOVED_BAND[0] < masks / removed < checks._MASKS_PER_REMOVED_BAND[1]


# --- beam search ----------------------------------------------------------------------


def textbook_beam_search(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0):
    """A finished extension leaves the beam, which shrinks (Jurafsky & Martin's rule)."""
    beams, finished = [([start_id], 0.0)], []
    for t in range(1, max_new_tokens + 1):
        log_probs = step_log_probs(torch.tensor([seq for seq, _ in beams]))  # (K, V)
        totals = torch.tensor([s for _, s in beams])[:, None] + log_probs
        slots = num_beams if t == 1 else len(beams)
        best = totals.flatten().topk(min(slots, totals.numel()))
        vocab = log_probs.shape[1]
        beams_next = []
        for score, index in zip(best.values.tolist(), best.indices.tolist()):
            seq = [*beams[index // vocab][0], index % vocab]
            if index % vocab == eos_id or t == max_new_tokens:
                finished.append((seq, score / t ** length_penalty))
            else:
                beams_next.append((seq, score))
        beams = beams_next
        if not beams:
            break
    return max(finished, key=lambda f: f[1])


def refilled_beam_search(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0):
    """Hugging Face's rule: 2K candidates, eos among the best K finishes, the K best open ones go on."""
    beams, finished = [([start_id], 0.0)], []
    for t in range(1, max_new_tokens + 1):
        log_probs = step_log_probs(torch.tensor([seq for seq, _ in beams]))
        vocab = log_probs.shape[1]
        totals = torch.tensor([s for _, s in beams])[:, None] + log_probs
        best = totals.flatten().topk(min(2 * num_beams, totals.numel()))
        open_ = []
        for rank, (score, index) in enumerate(zip(best.values.tolist(), best.indices.tolist())):
            seq = [*beams[index // vocab][0], index % vocab]
            if index % vocab == eos_id or t == max_new_tokens:
                if rank < num_beams:
                    finished.append((seq, score / t ** length_penalty))
            elif len(open_) < num_beams:
                open_.append((seq, score))
        finished = sorted(finished, key=lambda f: -f[1])[:num_beams]
        beams = open_
        if len(finished) == num_beams or not beams:
            break
    return finished[0]


def greedy_only(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0):
    return textbook_beam_search(step_log_probs, start_id, eos_id, 1, max_new_tokens, length_penalty)


def last_token_ranking(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0):
    beams, finished = [([start_id], 0.0)], []
    for t in range(1, max_new_tokens + 1):
        log_probs = step_log_probs(torch.tensor([seq for seq, _ in beams]))
        vocab = log_probs.shape[1]
        best = log_probs.flatten().topk(num_beams if t == 1 else len(beams))  # forgets the prefix's score
        nxt = []
        for index in best.indices.tolist():
            seq, score = beams[index // vocab]
            item = ([*seq, index % vocab], score + float(log_probs.flatten()[index]))
            (finished if index % vocab == eos_id or t == max_new_tokens else nxt).append(item)
        beams = nxt
        if not beams:
            break
    return max(((s, v / (len(s) - 1) ** length_penalty) for s, v in finished), key=lambda f: f[1])


def exhaustive(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0):
    return checks._brute_force(step_log_probs, max_new_tokens, length_penalty)


def no_length_penalty(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0):
    return textbook_beam_search(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, 0.0)


def length_with_the_start(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0):
    tokens, score = textbook_beam_search(step_log_probs, start_id, eos_id, num_beams, max_new_tokens,
                                         length_penalty)
    n = len(tokens) - 1
    return tokens, score * n ** length_penalty / (n + 1) ** length_penalty


class _Wrapped(torch.nn.Module):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def encode(self, src, mask=None):
        return torch.zeros(src.shape[0], 1, 1)

    def decode(self, tgt, memory, memory_mask=None, cache=None):
        return self.step(tgt)[:, None]


def beam_search_through_the_package(step_log_probs, start_id, eos_id, num_beams, max_new_tokens,
                                    length_penalty=1.0):
    out = decoding.beam_search(_Wrapped(step_log_probs), torch.zeros(1, 1, dtype=torch.long), num_beams,
                               max_new_tokens, start_id=start_id, eos_id=eos_id,
                               length_penalty=length_penalty, use_cache=False)
    return out.sequences[0].tolist(), out.scores[0].item()


@pytest.mark.parametrize("solution", [textbook_beam_search, refilled_beam_search])
def test_both_beam_rules_pass(solution, capsys):
    check_beam_search(solution)
    assert "✅ beam_search" in capsys.readouterr().out


def test_the_beam_hints_are_words():
    for *_, hint in checks._beam_cases():
        assert not CODE.search(hint), hint


def test_the_cases_agree_with_brute_force_and_greedy():
    """With enough beams the search finds the best of all sequences; with one it is greedy."""
    for scorer, beams, steps, penalty, _ in checks._beam_cases():
        expected = checks._package_beam_search(scorer, beams, steps, penalty)
        assert textbook_beam_search(scorer, 0, 1, beams, steps, penalty)[0] == expected[0]
        if beams == 1:
            assert expected[0] == textbook_beam_search(scorer, 0, 1, 1, steps, penalty)[0]
    trap = checks._GREEDY_TRAP
    best = checks._brute_force(trap, 4, 1.0)
    assert checks._package_beam_search(trap, 2, 4, 1.0)[0] == best[0] != \
        checks._package_beam_search(trap, 1, 4, 1.0)[0]
    short = checks._SHORT_OR_LONG
    assert checks._brute_force(short, 4, 0.0)[0] == [0, 1]
    assert checks._brute_force(short, 4, 1.0)[0] == [0, 2, 2, 1]


@pytest.mark.parametrize("wrong, words", [
    (greedy_only, "num_beams"),
    (last_token_ranking, "summed"),
    (exhaustive, "greedy"),
    (no_length_penalty, "length_penalty"),
    (length_with_the_start, "after start_id"),
], ids=lambda x: getattr(x, "__name__", "words"))
def test_wrong_beam_searches_get_a_hint(wrong, words):
    with pytest.raises(AssertionError, match=words) as failure:
        check_beam_search(wrong)
    assert "code_hint('beam_search')" in str(failure.value)
    assert_hints_in_words(failure.value)


def test_the_scorer_explains_its_input():
    def lists_not_tensors(step_log_probs, start_id, eos_id, num_beams, max_new_tokens, length_penalty=1.0):
        step_log_probs([[start_id]])

    with pytest.raises(AssertionError, match=r"shape \(B, t\)"):
        check_beam_search(lists_not_tensors)


# --- shared behaviour ------------------------------------------------------------------


@pytest.mark.parametrize("check, package", [
    (check_span_corruption, noising.span_corruption),
    (check_text_infilling, noising.text_infilling),
    (check_beam_search, decoding.beam_search),
])
def test_the_package_functions_are_refused(check, package):
    with pytest.raises(AssertionError, match="package's own"):
        check(package)


@pytest.mark.parametrize("check, wrapper", [
    (check_span_corruption, span_corruption_through_the_package),
    (check_text_infilling, infilling_through_the_package),
    (check_beam_search, beam_search_through_the_package),
])
def test_a_wrapper_around_the_package_fails(check, wrapper):
    with pytest.raises(AssertionError, match="write it yourself"):
        check(wrapper)


@pytest.mark.parametrize("check", [check_span_corruption, check_text_infilling, check_beam_search])
def test_unwritten_exercise_says_so(check):
    def unwritten(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not written yet"):
        check(unwritten)


@pytest.mark.parametrize("name", ["span_corruption", "text_infilling", "beam_search"])
def test_code_hints_exist(name, capsys):
    code_hint(name)
    assert capsys.readouterr().out.strip()

"""T5 span corruption and BART noising (course_utils.noising, notebook 07).

Hand-made examples (the lecture's sentence), T5's counting formulas over many
lengths and seeds, and statistical tests of the rates and span lengths with
fixed seeds.
"""

import math
import random
import statistics
from collections import Counter

import numpy as np
import pytest

from course_utils.noising import (
    MASK_RATIO,
    corrupt_spans,
    corrupt_words,
    document_rotation,
    infill_spans,
    insert_masks,
    num_noise_spans,
    num_noise_tokens,
    permute_sentences,
    poisson_span_lengths,
    random_noise_spans,
    random_segmentation,
    random_span_lengths,
    sentence_permutation,
    span_corruption,
    split_sentences,
    t5_sentinel_ids,
    text_infilling,
    token_deletion,
    token_masking,
)

LECTURE = "Thank you for inviting me to your party last week ."
LECTURE_SPANS = [(2, 4), (8, 9)]  # "for inviting", "last"
SENTINELS = t5_sentinel_ids(32100)  # <extra_id_0> = 32099, <extra_id_1> = 32098, ...
EOS = 1


def t5_counts(length, density=0.15, mean=3.0):
    """T5's formulas, written out again: (noise tokens, noise spans), computed in float32."""
    length = max(length, 2)
    noise = int(np.round(np.float32(length) * np.float32(density)))
    noise = min(max(noise, 1), length - 1)
    spans = max(1, int(np.round(np.float32(noise) / np.float32(mean))))
    return noise, spans


# --- T5 span corruption: hand-made examples -----------------------------------


def test_lecture_example_on_words_matches_the_slide():
    inputs, targets = corrupt_words(
        LECTURE, LECTURE_SPANS, sentinels=["<X>", "<Y>", "<Z>"], eos=None
    )
    assert inputs == "Thank you <X> me to your party <Y> week ."
    assert targets == "<X> for inviting <Y> last <Z>"


def test_lecture_example_with_t5_sentinels_and_eos():
    inputs, targets = corrupt_words(LECTURE.split(), LECTURE_SPANS)
    assert inputs == "Thank you <extra_id_0> me to your party <extra_id_1> week . </s>"
    assert targets == "<extra_id_0> for inviting <extra_id_1> last <extra_id_2> </s>"


def test_lecture_example_on_ids():
    vocab = {word: 100 + i for i, word in enumerate(LECTURE.split())}
    tokens = [vocab[w] for w in LECTURE.split()]
    inputs, targets = corrupt_spans(tokens, LECTURE_SPANS, sentinel_ids=SENTINELS, eos_id=EOS)
    x, y, z = SENTINELS[:3]
    ids = [vocab[w] for w in "Thank you".split()]
    assert inputs == [*ids, x, *[vocab[w] for w in "me to your party".split()], y,
                      vocab["week"], vocab["."], EOS]
    assert targets == [x, vocab["for"], vocab["inviting"], y, vocab["last"], z, EOS]


def test_text_ending_with_noise_has_no_extra_sentinel():
    inputs, targets = corrupt_spans([5, 6, 7, 8], [(1, 2), (3, 4)], sentinel_ids=[90, 91, 92],
                                    eos_id=EOS)
    assert inputs == [5, 90, 7, 91, EOS]
    assert targets == [90, 6, 91, 8, EOS]


def test_no_spans_and_short_texts_follow_t5():
    # T5 counts a 1-token text as 2 tokens, so its only noise falls off the end: nothing is noised.
    assert random_noise_spans(1, rng=random.Random(0)) == []
    assert random_noise_spans(0, rng=random.Random(0)) == []
    assert span_corruption([7], sentinel_ids=[90], eos_id=EOS, rng=random.Random(0)) == (
        [7, EOS], [90, EOS]
    )
    assert random_noise_spans(2, rng=random.Random(0)) == [(1, 2)]


def test_known_float32_tie():
    # 190 * 0.15 = 28.5 in float64 rounds (half to even) to 28; T5 multiplies in float32: 29.
    assert num_noise_tokens(190) == 29
    assert (num_noise_tokens(100), num_noise_tokens(10), num_noise_spans(15)) == (15, 2, 5)


# --- T5 span corruption: counts and structure over many lengths and seeds ------


@pytest.mark.parametrize("density,mean", [(0.15, 3.0), (0.3, 2.0), (0.5, 5.0)])
def test_counts_and_structure_for_many_lengths_and_seeds(density, mean):
    for length in range(1, 201):
        noise, num_spans = t5_counts(length, density, mean)
        assert (num_noise_tokens(length, density), num_noise_spans(noise, mean)) == (
            noise, num_spans
        )
        for seed in range(5):
            rng = random.Random(1000 * length + seed)
            lengths = random_span_lengths(length, rng=rng, noise_density=density,
                                          mean_span_length=mean)
            kept, noised = lengths[0::2], lengths[1::2]  # alternating, kept span first
            assert len(kept) == len(noised) == num_spans
            assert min(lengths) >= 1
            assert sum(noised) == noise
            assert sum(lengths) == max(length, 2)
            if length >= 2:
                spans = random_noise_spans(length, rng=random.Random(1000 * length + seed),
                                           noise_density=density, mean_span_length=mean)
                assert [end - start for start, end in spans] == noised
                assert spans[0][0] == kept[0] >= 1  # starts with a kept span
                assert spans[-1][1] == length  # ends with a noise span


def test_span_corruption_round_trip_and_sentinels_in_order():
    for length in range(1, 201):
        for seed in range(3):
            tokens = list(range(10, 10 + length))
            inputs, targets = span_corruption(tokens, sentinel_ids=SENTINELS, eos_id=EOS,
                                              rng=random.Random(seed))
            assert inputs[-1] == targets[-1] == EOS
            sentinels_in = [t for t in inputs if t in SENTINELS]
            sentinels_out = [t for t in targets if t in SENTINELS]
            spans = random_noise_spans(length, rng=random.Random(seed))
            assert sentinels_in == SENTINELS[: len(spans)]  # unique, in order
            assert sentinels_out[: len(spans)] == sentinels_in
            assert len(inputs) - 1 == length - sum(e - s for s, e in spans) + len(spans)
            # put every span back in place of its sentinel: the original text
            pieces = _split_at(targets[:-1], set(SENTINELS))
            restored = []
            for token in inputs[:-1]:
                restored += pieces[token] if token in SENTINELS else [token]
            assert restored == tokens


def _split_at(target, sentinels):
    """{sentinel: the tokens after it, up to the next sentinel} of a target."""
    pieces, current = {}, None
    for token in target:
        if token in sentinels:
            current = pieces.setdefault(token, [])
        else:
            current.append(token)
    return pieces


def test_random_segmentation_is_uniform_over_compositions():
    # 5 items in 3 non-empty segments: C(4, 2) = 6 compositions, each equally likely.
    rng = random.Random(0)
    counts = Counter(tuple(random_segmentation(5, 3, rng)) for _ in range(12_000))
    assert len(counts) == 6
    for c in counts.values():  # 2000 expected, standard error about 41
        assert abs(c - 2000) < 200


def test_span_corruption_noise_fraction_and_mean_span_length():
    rng = random.Random(0)
    noise_lengths = []
    for _ in range(500):
        noise_lengths += random_span_lengths(512, rng=rng)[1::2]
    assert sum(noise_lengths) == 500 * round(0.15 * 512)  # 77 per text
    assert statistics.mean(noise_lengths) == pytest.approx(77 / 26, rel=1e-9)  # 26 spans per text


def test_span_corruption_checks():
    with pytest.raises(ValueError, match="sentinel ids"):
        corrupt_spans([5, 6, 7], [(1, 2)], sentinel_ids=[90], eos_id=EOS)  # needs 2
    with pytest.raises(ValueError, match="separated"):
        corrupt_spans([5, 6, 7, 8], [(1, 2), (2, 3)], sentinel_ids=SENTINELS, eos_id=EOS)
    with pytest.raises(ValueError, match="start < end"):
        corrupt_spans([5, 6, 7], [(1, 5)], sentinel_ids=SENTINELS, eos_id=EOS)
    with pytest.raises(ValueError, match="distinct"):
        corrupt_spans([5, 6, 7], [(1, 2)], sentinel_ids=[90, 90], eos_id=EOS)
    with pytest.raises(ValueError, match="corrupt_words"):
        span_corruption("a text", sentinel_ids=SENTINELS, eos_id=EOS, rng=random.Random(0))
    with pytest.raises(ValueError, match="noise_density"):
        random_span_lengths(10, rng=random.Random(0), noise_density=1.5)
    with pytest.raises(ValueError, match="lower noise_density"):
        random_span_lengths(10, rng=random.Random(0), noise_density=0.9, mean_span_length=1)


# --- BART noising: hand-made examples ------------------------------------------

BOS, BART_EOS, MASK, STOP = 0, 2, 4, 3


def test_infill_spans_by_hand():
    tokens = [10, 11, 12, 13, 14, 15]
    assert infill_spans(tokens, [(1, 2), (4, 1)], MASK) == [10, MASK, 13, MASK, 15]
    assert infill_spans(tokens, [(4, 10)], MASK) == [10, 11, 12, 13, MASK]  # cut at the end
    assert infill_spans(tokens, [(1, 3), (2, 4)], MASK) == [10, MASK]  # overlapping spans merge
    assert infill_spans(tokens, [(1, 1), (2, 1)], MASK) == [10, MASK, MASK, 13, 14, 15]
    with pytest.raises(ValueError, match="length >= 1"):
        infill_spans(tokens, [(1, 0)], MASK)


def test_insert_masks_keeps_the_tokens_in_order():
    for seed in range(50):
        out = insert_masks([10, 11, 12], 2, MASK, random.Random(seed))
        assert len(out) == 5 and out.count(MASK) == 2
        assert [t for t in out if t != MASK] == [10, 11, 12]


def test_special_tokens_stay_in_place():
    doc = [BOS, 10, 11, STOP, 12, 13, 14, STOP, 15, STOP, BART_EOS]
    for seed in range(20):
        rng = random.Random(seed)
        outputs = [
            token_masking(doc, mask_id=MASK, p=0.9, bos_id=BOS, eos_id=BART_EOS, rng=rng),
            token_deletion(doc, p=0.9, bos_id=BOS, eos_id=BART_EOS, rng=rng),
            text_infilling(doc, mask_id=MASK, mask_ratio=0.9, bos_id=BOS, eos_id=BART_EOS,
                           rng=rng),
            sentence_permutation(doc, full_stop_ids=[STOP], bos_id=BOS, eos_id=BART_EOS, rng=rng),
            document_rotation(doc, bos_id=BOS, eos_id=BART_EOS, rng=rng),
        ]
        for out in outputs:
            assert out[0] == BOS and out[-1] == BART_EOS
            assert BOS not in out[1:-1] and BART_EOS not in out[1:-1]
    assert token_deletion([BOS, BART_EOS], p=1.0, bos_id=BOS, eos_id=BART_EOS,
                          rng=random.Random(0)) == [BOS, BART_EOS]
    assert token_masking([10, 11], mask_id=MASK, p=1.0, rng=random.Random(0)) == [MASK, MASK]


def test_split_sentences_by_hand():
    assert split_sentences([5, 6, STOP, 7, STOP, STOP, 8], [STOP]) == [[5, 6, STOP],
                                                                       [7, STOP, STOP], [8]]
    assert split_sentences([], [STOP]) == []
    with pytest.raises(ValueError, match="full_stop_ids"):
        split_sentences([5, 6], [])


def test_text_infilling_zero_length_spans_insert_masks():
    # lambda 0.1: most lengths are 0, each inserting a mask; the one span of length 1
    # (budget ceil(0.05 * 20) = 1) replaces one token by a mask.
    lengths = poisson_span_lengths(1, rng=random.Random(0), poisson_lambda=0.1)
    assert lengths.count(0) >= 1 and lengths[-1] == 1 and sum(lengths) == 1
    out = text_infilling(list(range(10, 30)), mask_id=MASK, mask_ratio=0.05, poisson_lambda=0.1,
                         rng=random.Random(0))
    kept = [t for t in out if t != MASK]
    assert len(kept) == 19 and kept == sorted(kept)
    assert out.count(MASK) == len(lengths)
    assert len(out) == 20 + lengths.count(0)


# --- BART noising: statistical tests with fixed seeds --------------------------

N = 100_000


@pytest.mark.parametrize("p", [0.15, 0.5])
def test_token_masking_rate(p):
    tokens = [10 + i % 1000 for i in range(N)]
    out = token_masking(tokens, mask_id=MASK, p=p, rng=random.Random(0))
    assert len(out) == N
    assert all(o in (t, MASK) for o, t in zip(out, tokens))
    rate = out.count(MASK) / N
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / N)


@pytest.mark.parametrize("p", [0.15, 0.5])
def test_token_deletion_rate(p):
    tokens = list(range(10, 10 + N))
    out = token_deletion(tokens, p=p, rng=random.Random(0))
    assert out == sorted(set(out)) and set(out) <= set(tokens)  # a subsequence
    rate = 1 - len(out) / N
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / N)


def test_poisson_span_lengths_distribution():
    lengths = poisson_span_lengths(300_000, rng=random.Random(0))
    assert sum(lengths) == 300_000
    n = len(lengths)  # about 100,000 spans
    mean = statistics.mean(lengths)
    assert abs(mean - 3.0) < 4 * math.sqrt(3.0 / n)  # Poisson: variance = mean = 3
    assert statistics.variance(lengths) == pytest.approx(3.0, rel=0.03)
    counts = Counter(lengths)
    for k in range(8):
        expected = math.exp(-3.0) * 3.0**k / math.factorial(k)
        assert abs(counts[k] / n - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def test_text_infilling_masks_about_30_percent():
    tokens = list(range(10, 10 + N))
    out = text_infilling(tokens, mask_id=MASK, rng=random.Random(0))
    kept = [t for t in out if t != MASK]
    assert kept == sorted(kept)  # the surviving tokens keep their order
    covered = 1 - len(kept) / N
    # The spans' lengths add up to exactly 30 %; overlapping spans merge, so a little less
    # is covered.
    assert sum(poisson_span_lengths(math.ceil(MASK_RATIO * N), rng=random.Random(0))) == 30_000
    assert 0.25 < covered <= 0.30
    # one mask per span: about 30 % / 3 masks per token (fewer where spans merged)
    assert 0.07 < out.count(MASK) / N <= 0.10


def test_sentence_permutation_keeps_the_sentences():
    rng = random.Random(0)
    sentences = [[10 + s] * (1 + s % 4) + [STOP] for s in range(8)]
    doc = [BOS] + [t for s in sentences for t in s] + [BART_EOS]
    orders = set()
    for _ in range(200):
        out = sentence_permutation(doc, full_stop_ids=[STOP], bos_id=BOS, eos_id=BART_EOS,
                                   rng=rng)
        shuffled = split_sentences(out[1:-1], [STOP])
        assert sorted(shuffled) == sorted(sentences)
        orders.add(tuple(s[0] for s in shuffled))
    assert len(orders) > 150  # 8! = 40320 orders: almost all draws differ
    listed = permute_sentences(sentences, rng=rng)
    assert sorted(listed) == sorted(sentences)


def test_document_rotation_keeps_cyclic_order_and_start_is_uniform():
    body = list(range(10, 20))
    rng = random.Random(0)
    starts = Counter()
    for _ in range(10_000):
        out = document_rotation([BOS, *body, BART_EOS], bos_id=BOS, eos_id=BART_EOS, rng=rng)
        rotated = out[1:-1]
        k = body.index(rotated[0])
        assert rotated == body[k:] + body[:k]
        starts[k] += 1
    assert len(starts) == 10
    for c in starts.values():  # 1000 expected, standard error 30
        assert abs(c - 1000) < 150


def test_bart_checks():
    with pytest.raises(ValueError, match="p must be in"):
        token_masking([5], mask_id=MASK, p=1.5, rng=random.Random(0))
    with pytest.raises(ValueError, match="mask_id"):
        text_infilling([5], mask_id="<mask>", rng=random.Random(0))
    with pytest.raises(ValueError, match="poisson_lambda"):
        text_infilling([5], mask_id=MASK, poisson_lambda=0, rng=random.Random(0))
    with pytest.raises(ValueError, match="list of token ids"):
        document_rotation("a text", rng=random.Random(0))

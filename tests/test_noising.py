"""BERT's pretraining noise: masked-LM corruption (unit and statistical tests)
and next-sentence-prediction pairs."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from course_utils.noising import (
    IGNORE_INDEX,
    IS_NEXT,
    NOT_NEXT,
    NSPExample,
    make_nsp_pair,
    make_packed_pair,
    mask_tokens,
    masked_lm_loss,
    nsp_pairs,
    pad_batch,
    truncate_pair,
)

# A small vocabulary, so that "a random token equals the original" (1 in 14)
# is frequent enough to matter in the statistics below.
VOCAB = 20
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
EXTRA_SPECIAL = 11  # a special id in the middle of the vocabulary
SPECIALS = [PAD, UNK, CLS, SEP, MASK, EXTRA_SPECIAL]
NON_SPECIALS = [i for i in range(VOCAB) if i not in SPECIALS]
K = len(NON_SPECIALS)  # 14
MASK_KW = {"mask_id": MASK, "vocab_size": VOCAB, "special_ids": SPECIALS}
MODES = ["bernoulli", "exact"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_batch(batch: int = 500, length: int = 256, seed: int = 0) -> torch.Tensor:
    """Rows ``[CLS] ... [SEP] ... [SEP] [PAD]...``, 3/4 to all of each row real tokens.

    About 4 % of the tokens are UNK or EXTRA_SPECIAL."""
    g = gen(seed)
    allowed = torch.tensor(NON_SPECIALS)
    ids = allowed[torch.randint(K, (batch, length), generator=g)]
    sprinkle = torch.rand(batch, length, generator=g)
    ids[sprinkle < 0.02] = UNK
    ids[(sprinkle >= 0.02) & (sprinkle < 0.04)] = EXTRA_SPECIAL
    lengths = torch.randint(length * 3 // 4, length + 1, (batch,), generator=g)
    rows = torch.arange(batch)
    ids[:, 0] = CLS
    ids[rows, lengths // 2] = SEP
    ids[rows, lengths - 1] = SEP
    ids[torch.arange(length)[None, :] >= lengths[:, None]] = PAD
    return ids


def candidates_of(ids: torch.Tensor) -> torch.Tensor:
    return ~torch.isin(ids, torch.tensor(SPECIALS))


def assert_within_3se(observed: float, expected: float, n: int) -> None:
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(observed - expected) <= 3 * se, (
        f"{observed:.5f} vs expected {expected:.5f} (3 SE = {3 * se:.5f})"
    )


def expected_count(num_candidates: int, rate: float = 0.15, cap: int | None = None) -> int:
    """The original BERT script's count, written out independently of the module."""
    if num_candidates == 0:
        return 0
    n = max(1, int(round(rate * num_candidates)))
    return n if cap is None else min(n, cap)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    ids = make_batch()
    assert candidates_of(ids).sum() >= 100_000
    return ids


# ---------------------------------------------------------------------------
# mask_tokens: unit tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_shapes_dtypes_and_labels(mode):
    ids = make_batch(8, 32, seed=1)
    noised, labels = mask_tokens(ids, **MASK_KW, mode=mode, generator=gen(0))
    assert noised.shape == labels.shape == ids.shape
    assert noised.dtype == labels.dtype == torch.int64
    selected = labels != IGNORE_INDEX
    assert selected.any()
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(noised[~selected], ids[~selected])


@pytest.mark.parametrize("mode", MODES)
def test_unbatched_input_gives_unbatched_output(mode):
    ids = make_batch(1, 40, seed=2)[0]
    noised, labels = mask_tokens(ids, **MASK_KW, mode=mode, generator=gen(0))
    assert noised.shape == labels.shape == (40,)
    batched = mask_tokens(ids[None], **MASK_KW, mode=mode, generator=gen(0))
    assert torch.equal(noised, batched[0][0]) and torch.equal(labels, batched[1][0])


@pytest.mark.parametrize("mode", MODES)
def test_input_is_not_modified(mode):
    ids = make_batch(4, 64, seed=3)
    before = ids.clone()
    noised, _ = mask_tokens(ids, **MASK_KW, mode=mode, rate=1.0, generator=gen(0))
    assert torch.equal(ids, before)
    assert not torch.equal(noised, before)


@pytest.mark.parametrize("mode", MODES)
def test_seeded_generator_reproduces_the_noise(mode):
    ids = make_batch(16, 64, seed=4)
    torch.manual_seed(0)  # the global RNG must not matter
    first = mask_tokens(ids, **MASK_KW, mode=mode, generator=gen(7))
    torch.manual_seed(1)
    second = mask_tokens(ids, **MASK_KW, mode=mode, generator=gen(7))
    other = mask_tokens(ids, **MASK_KW, mode=mode, generator=gen(8))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[1], other[1])


def test_rate_one_mask_only_masks_every_candidate():
    ids = torch.tensor([[CLS, 5, 6, EXTRA_SPECIAL, 7, SEP, PAD]])
    noised, labels = mask_tokens(ids, **MASK_KW, rate=1.0, mask_prob=1.0, random_prob=0.0)
    assert noised.tolist() == [[CLS, MASK, MASK, EXTRA_SPECIAL, MASK, SEP, PAD]]
    assert labels.tolist() == [[IGNORE_INDEX, 5, 6, IGNORE_INDEX, 7, IGNORE_INDEX, IGNORE_INDEX]]


def test_mask_id_is_special_even_if_not_listed():
    ids = torch.tensor([[MASK, 5, 6, MASK]])
    noised, labels = mask_tokens(
        ids,
        mask_id=MASK,
        vocab_size=VOCAB,
        special_ids=[PAD],
        rate=1.0,
        mask_prob=0.0,
        random_prob=1.0,
    )
    assert labels[0, [0, 3]].tolist() == [IGNORE_INDEX, IGNORE_INDEX]
    assert (noised[0, 1:3] != MASK).all()


def test_exact_mode_counts_on_small_rows():
    ids = torch.tensor(
        [
            [CLS, SEP, PAD, PAD, PAD, PAD],  # no candidate: nothing picked
            [CLS, 5, 6, SEP, PAD, PAD],  # round(0.3) = 0, but at least 1
            [CLS, 5, 6, 7, 8, SEP],  # round(0.6) = 1
        ]
    )
    _, labels = mask_tokens(ids, **MASK_KW, mode="exact", generator=gen(0))
    assert (labels != IGNORE_INDEX).sum(dim=1).tolist() == [0, 1, 1]


def test_exact_mode_respects_max_predictions(batch):
    _, labels = mask_tokens(batch, **MASK_KW, mode="exact", max_predictions=20, generator=gen(0))
    assert ((labels != IGNORE_INDEX).sum(dim=1) == 20).all()  # every row would want ~32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rate": 0.0}, r"rate must be in \(0, 1\]; got 0.0"),
        ({"rate": 1.5}, r"rate must be in \(0, 1\]; got 1.5"),
        ({"mode": "span"}, r"mode must be one of \('bernoulli', 'exact'\); got 'span'"),
        ({"mask_prob": 0.9, "random_prob": 0.2}, r"mask_prob \+ random_prob must be at most 1"),
        ({"random_prob": -0.1}, r"random_prob must be in \[0, 1\]"),
        (
            {"mode": "exact", "max_predictions": 0},
            r"max_predictions must be a positive int or None; got 0",
        ),
        ({"max_predictions": 5}, r"max_predictions applies only to mode='exact'"),
        (
            {"mask_id": VOCAB},
            r"mask_id must be an int in range\(vocab_size\) = range\(20\); got 20",
        ),
        ({"special_ids": [PAD, -1]}, r"special ids must be ints in range\(vocab_size\).*got -1"),
        ({"special_ids": range(VOCAB)}, r"no non-special id is left"),
        ({"vocab_size": 0}, r"vocab_size must be a positive int; got 0"),
    ],
)
def test_mask_tokens_rejects_bad_arguments(kwargs, match):
    ids = torch.tensor([[CLS, 5, 6, SEP]])
    with pytest.raises(ValueError, match=match):
        mask_tokens(ids, **{**MASK_KW, **kwargs})


@pytest.mark.parametrize(
    "ids, match",
    [
        (
            torch.tensor([[CLS, 5, VOCAB]]),
            r"input_ids must lie in range\(vocab_size\) = range\(20\)",
        ),
        (torch.tensor([[-1, 5]]), r"input_ids must lie in range"),
        (
            torch.tensor([[1.0, 5.0]]),
            r"input_ids must be an integer tensor; got a tensor of dtype torch.float32",
        ),
        (
            torch.zeros(2, 3, 4, dtype=torch.long),
            r"shape \(L,\) or \(B, L\); got shape \(2, 3, 4\)",
        ),
    ],
)
def test_mask_tokens_rejects_bad_input_ids(ids, match):
    with pytest.raises(ValueError, match=match):
        mask_tokens(ids, **MASK_KW)


# ---------------------------------------------------------------------------
# mask_tokens: statistics over > 100,000 candidate tokens
# ---------------------------------------------------------------------------


def test_bernoulli_selection_rate(batch):
    _, labels = mask_tokens(batch, **MASK_KW, mode="bernoulli", generator=gen(0))
    candidates = candidates_of(batch)
    selected = labels != IGNORE_INDEX
    n = int(candidates.sum())
    assert_within_3se(int(selected.sum()) / n, 0.15, n)


def test_exact_selection_counts_per_sequence(batch):
    _, labels = mask_tokens(batch, **MASK_KW, mode="exact", generator=gen(0))
    num_candidates = candidates_of(batch).sum(dim=1).tolist()
    counts = (labels != IGNORE_INDEX).sum(dim=1).tolist()
    assert counts == [expected_count(c) for c in num_candidates]
    # Rounding moves each row's count by at most 1/2 from 0.15 * candidates.
    assert abs(sum(counts) / sum(num_candidates) - 0.15) <= 0.5 * len(counts) / sum(num_candidates)


def test_exact_selection_is_uniform_over_positions(batch):
    """Early and late candidates are picked at the same rate (no bias to the start)."""
    _, labels = mask_tokens(batch, **MASK_KW, mode="exact", generator=gen(1))
    candidates = candidates_of(batch)
    selected = labels != IGNORE_INDEX
    overall = int(selected.sum()) / int(candidates.sum())
    for half in (slice(0, 100), slice(100, None)):
        n = int(candidates[:, half].sum())
        assert_within_3se(int(selected[:, half].sum()) / n, overall, n)


@pytest.mark.parametrize("mode", MODES)
def test_specials_are_never_picked_nor_inserted(batch, mode):
    noised, labels = mask_tokens(batch, **MASK_KW, mode=mode, generator=gen(2))
    specials = ~candidates_of(batch)
    assert (labels[specials] == IGNORE_INDEX).all()
    assert torch.equal(noised[specials], batch[specials])
    inserted = noised[candidates_of(batch)]
    assert not torch.isin(inserted, torch.tensor([PAD, UNK, CLS, SEP, EXTRA_SPECIAL])).any()


@pytest.mark.parametrize("mode", MODES)
def test_80_10_10_split(batch, mode):
    """Among picked tokens: 80 % [MASK]; 10 % random, of which 1/K happen to equal the original."""
    noised, labels = mask_tokens(batch, **MASK_KW, mode=mode, generator=gen(3))
    selected = labels != IGNORE_INDEX
    new, old = noised[selected], batch[selected]
    n = len(new)
    masked = new == MASK
    replaced = ~masked & (new != old)  # random and different from the original
    kept = new == old  # unchanged, or random that drew the original id
    assert int(masked.sum() + replaced.sum() + kept.sum()) == n
    assert_within_3se(masked.float().mean().item(), 0.8, n)
    assert_within_3se(replaced.float().mean().item(), 0.1 * (1 - 1 / K), n)
    assert_within_3se(kept.float().mean().item(), 0.1 + 0.1 / K, n)


def test_random_replacements_are_uniform_over_non_special_ids(batch):
    """With every candidate replaced at random, ids are uniform over the 14 non-special ids."""
    noised, _ = mask_tokens(
        batch, **MASK_KW, rate=1.0, mask_prob=0.0, random_prob=1.0, generator=gen(4)
    )
    drawn = noised[candidates_of(batch)]
    counts = torch.bincount(drawn, minlength=VOCAB).double()
    assert (counts[SPECIALS] == 0).all()
    observed = counts[NON_SPECIALS]
    assert (observed > 0).all()
    expected = len(drawn) / K
    chi_square = float(((observed - expected) ** 2 / expected).sum())
    assert chi_square < 34.53  # 99.9 % quantile of chi-square with K - 1 = 13 degrees of freedom


# ---------------------------------------------------------------------------
# masked_lm_loss
# ---------------------------------------------------------------------------


def test_masked_lm_loss_averages_over_labelled_positions_only():
    logits = torch.randn(2, 5, VOCAB, generator=gen(0))
    labels = torch.full((2, 5), IGNORE_INDEX)
    labels[0, 1], labels[1, 3], labels[1, 4] = 7, 9, 12
    expected = F.cross_entropy(logits[[0, 1, 1], [1, 3, 4]], torch.tensor([7, 9, 12]))
    torch.testing.assert_close(masked_lm_loss(logits, labels), expected)
    changed = logits.clone()
    changed[0, 0] += 100.0  # an unlabelled position: no effect
    torch.testing.assert_close(masked_lm_loss(changed, labels), expected)


def test_masked_lm_loss_without_labels_is_a_differentiable_zero():
    logits = torch.randn(2, 5, VOCAB, generator=gen(0), requires_grad=True)
    loss = masked_lm_loss(logits, torch.full((2, 5), IGNORE_INDEX))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and (logits.grad == 0).all()


def test_masked_lm_loss_rejects_mismatched_shapes():
    with pytest.raises(
        ValueError, match=r"labels.shape \+ \(V,\); got logits \(2, 5, 20\) and labels \(2, 4\)"
    ):
        masked_lm_loss(torch.zeros(2, 5, VOCAB), torch.zeros(2, 4, dtype=torch.long))


# ---------------------------------------------------------------------------
# Next-sentence prediction
# ---------------------------------------------------------------------------

NSP_CLS, NSP_SEP = 1, 2
SENTENCE_COUNTS = [1, 2, 3, 5, 8, 4, 6, 7, 2, 9, 3, 10]  # document 0 has no sentence pair


def sentence_id(doc: int, sentence: int) -> int:
    return 100 + 20 * doc + sentence


def decode(token: int) -> tuple[int, int]:
    return divmod(token - 100, 20)


def make_documents(max_sentence_length: int = 6) -> list[list[list[int]]]:
    """Every token of sentence ``s`` of document ``d`` is ``sentence_id(d, s)``; lengths vary."""
    return [
        [[sentence_id(d, s)] * (1 + (d + s) % max_sentence_length) for s in range(count)]
        for d, count in enumerate(SENTENCE_COUNTS)
    ]


def split_pair(example: NSPExample) -> tuple[list[int], list[int]]:
    """Check the ``[CLS] A [SEP] B [SEP]`` layout and token types; return ``(A, B)``."""
    ids, types = example.input_ids, example.token_type_ids
    seps = [i for i, t in enumerate(ids) if t == NSP_SEP]
    assert ids[0] == NSP_CLS and NSP_CLS not in ids[1:]
    assert len(seps) == 2 and seps[1] == len(ids) - 1
    assert types == [0] * (seps[0] + 1) + [1] * (len(ids) - seps[0] - 1)
    return ids[1 : seps[0]], ids[seps[0] + 1 : -1]


def segment_origin(segment: list[int]) -> tuple[int, int]:
    assert len(set(segment)) == 1, "a segment must come from a single sentence"
    return decode(segment[0])


@pytest.fixture(scope="module")
def pairs() -> list[NSPExample]:
    return nsp_pairs(
        make_documents(),
        10_000,
        max_length=16,
        cls_id=NSP_CLS,
        sep_id=NSP_SEP,
        rng=random.Random(0),
    )


def test_nsp_labels_are_balanced(pairs):
    assert {p.label for p in pairs} == {IS_NEXT, NOT_NEXT}
    assert_within_3se(sum(p.label for p in pairs) / len(pairs), 0.5, len(pairs))


def test_nsp_segments_come_from_the_right_sentences(pairs):
    other_docs_seen = set()
    for pair in pairs:
        a, b = split_pair(pair)
        (doc_a, sent_a), (doc_b, sent_b) = segment_origin(a), segment_origin(b)
        assert sent_a + 1 < SENTENCE_COUNTS[doc_a]
        if pair.label == IS_NEXT:
            assert (doc_b, sent_b) == (doc_a, sent_a + 1)
        else:
            assert doc_b != doc_a
            other_docs_seen.add(doc_b)
    assert other_docs_seen == set(range(len(SENTENCE_COUNTS)))


def test_nsp_positions_are_uniform_over_sentences_with_a_successor(pairs):
    positions = [count - 1 for count in SENTENCE_COUNTS]
    docs = [segment_origin(split_pair(p)[0])[0] for p in pairs]
    for doc, num_positions in enumerate(positions):
        share = docs.count(doc) / len(pairs)
        if num_positions == 0:
            assert share == 0
        else:
            assert_within_3se(share, num_positions / sum(positions), len(pairs))


def test_nsp_pairs_are_reproducible():
    docs = make_documents()
    kw = {"max_length": 16, "cls_id": NSP_CLS, "sep_id": NSP_SEP}
    assert nsp_pairs(docs, 50, **kw, rng=random.Random(3)) == nsp_pairs(
        docs, 50, **kw, rng=random.Random(3)
    )


def test_truncate_pair_drops_from_the_end_of_the_longer_segment():
    a, b = list(range(10)), list(range(100, 104))
    assert truncate_pair(a, b, 9) == (list(range(5)), list(range(100, 104)))
    assert truncate_pair(b, a, 9) == (list(range(100, 104)), list(range(5)))
    assert a == list(range(10))  # inputs untouched


def test_truncate_pair_ties_drop_from_b():
    # 5 + 5 -> tie, drop B -> 5 + 4 -> drop A -> 4 + 4 -> tie, drop B -> 4 + 3
    assert truncate_pair([1] * 5, [2] * 5, 7) == ([1] * 4, [2] * 3)


def test_truncate_pair_keeps_pairs_that_fit():
    assert truncate_pair([1, 2], [3], 3) == ([1, 2], [3])


@pytest.mark.parametrize("max_length", [5, 6, 9, 11])
def test_long_pairs_are_truncated_to_max_length(max_length):
    docs = [[[sentence_id(d, s)] * 20 for s in range(3)] for d in range(3)]
    budget = max_length - 3
    examples = nsp_pairs(
        docs, 200, max_length=max_length, cls_id=NSP_CLS, sep_id=NSP_SEP, rng=random.Random(1)
    )
    for example in examples:
        a, b = split_pair(example)
        assert len(example.input_ids) == max_length
        assert (len(a), len(b)) == ((budget + 1) // 2, budget // 2)  # equal, or A one longer


def test_make_nsp_pair_truncates_only_the_longer_segment():
    docs = [[[5] * 12, [6] * 3], [[7] * 3]]
    example = make_nsp_pair(
        docs, 0, 0, max_length=10, cls_id=NSP_CLS, sep_id=NSP_SEP, rng=random.Random(0)
    )
    a, b = split_pair(example)
    assert (a, len(b)) == ([5] * 4, 3)


def test_make_nsp_pair_can_give_both_labels_for_one_position():
    docs = make_documents()
    labels = {
        make_nsp_pair(
            docs, 4, 2, max_length=16, cls_id=NSP_CLS, sep_id=NSP_SEP, rng=random.Random(seed)
        ).label
        for seed in range(20)
    }
    assert labels == {IS_NEXT, NOT_NEXT}


@pytest.mark.parametrize(
    "docs, doc_index, sentence_index, max_length, match",
    [
        (
            make_documents(),
            3,
            4,
            16,
            r"sentence_index 4 of document 3 has no next sentence.*use 0..3",
        ),
        (make_documents(), 0, 0, 16, r"sentence_index 0 of document 0 has no next sentence"),
        (make_documents(), 12, 0, 16, r"doc_index 12 is out of range for 12 documents"),
        (make_documents()[3:4], 0, 0, 16, r"need at least 2 documents.*got 1"),
        (make_documents(), 3, 0, 4, r"max_length must be an int >= 5.*got 4"),
    ],
)
@pytest.mark.parametrize("make_pair", [make_nsp_pair, make_packed_pair])
def test_make_pair_rejects_bad_arguments(make_pair, docs, doc_index, sentence_index, max_length, match):
    with pytest.raises(ValueError, match=match):
        make_pair(
            docs,
            doc_index,
            sentence_index,
            max_length=max_length,
            cls_id=NSP_CLS,
            sep_id=NSP_SEP,
            rng=random.Random(0),
        )


@pytest.mark.parametrize(
    "docs, num_pairs, match",
    [
        ([[[5]], [[6]]], 3, r"no document has two sentences"),
        (make_documents(), -1, r"num_pairs must be a non-negative int; got -1"),
        ([[[5], [6]], []], 3, r"documents \[1\] have no sentences"),
    ],
)
def test_nsp_pairs_rejects_bad_arguments(docs, num_pairs, match):
    with pytest.raises(ValueError, match=match):
        nsp_pairs(
            docs, num_pairs, max_length=16, cls_id=NSP_CLS, sep_id=NSP_SEP, rng=random.Random(0)
        )


# ---------------------------------------------------------------------------
# pad_batch, and the pieces together
# ---------------------------------------------------------------------------


def test_pad_batch_right_pads_ids_and_token_types():
    ids, attention_mask = pad_batch([[1, 5, 6, 2], [1, 7, 2]], pad_id=9)
    assert ids.dtype == attention_mask.dtype == torch.int64
    assert ids.tolist() == [[1, 5, 6, 2], [1, 7, 2, 9]]
    assert attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    types, _ = pad_batch([[0, 0, 1], [0, 1]], pad_id=0)
    assert types.tolist() == [[0, 0, 1], [0, 1, 0]]


def test_pad_batch_of_nothing_is_empty():
    ids, attention_mask = pad_batch([], pad_id=0)
    assert ids.shape == attention_mask.shape == (0, 0)


def test_nsp_batch_then_masking_leaves_cls_sep_and_padding_alone():
    examples = nsp_pairs(
        make_documents(), 64, max_length=16, cls_id=NSP_CLS, sep_id=NSP_SEP, rng=random.Random(5)
    )
    ids, attention_mask = pad_batch([e.input_ids for e in examples], pad_id=0)
    types, _ = pad_batch([e.token_type_ids for e in examples], pad_id=0)
    assert ids.shape == types.shape == attention_mask.shape
    noised, labels = mask_tokens(
        ids,
        mask_id=3,
        vocab_size=400,
        special_ids=[0, NSP_CLS, NSP_SEP, 3],
        rate=0.5,
        generator=gen(0),
    )
    structural = torch.isin(ids, torch.tensor([0, NSP_CLS, NSP_SEP]))
    assert (labels[structural] == IGNORE_INDEX).all()
    assert torch.equal(noised[structural], ids[structural])
    assert (labels[~structural] != IGNORE_INDEX).any()


@pytest.mark.parametrize("next_probability", [0.0, 1.0])
def test_nsp_next_probability_extremes(next_probability):
    pairs = nsp_pairs(
        make_documents(), 200, max_length=16, cls_id=NSP_CLS, sep_id=NSP_SEP,
        rng=random.Random(0), next_probability=next_probability,
    )  # fmt: skip
    expected = IS_NEXT if next_probability == 1.0 else NOT_NEXT
    assert {p.label for p in pairs} == {expected}


def test_nsp_next_probability_out_of_range():
    with pytest.raises(ValueError, match=r"next_probability must be in \[0, 1\]"):
        make_nsp_pair(
            make_documents(), 0, 0, max_length=16, cls_id=NSP_CLS, sep_id=NSP_SEP,
            rng=random.Random(0), next_probability=1.5,
        )  # fmt: skip


# ---------------------------------------------------------------------------
# Packed pairs: several whole sentences per segment, as in BERT's data
# ---------------------------------------------------------------------------


def sentence_runs(segment: list[int]) -> list[tuple[tuple[int, int], int]]:
    """``[((doc, sentence), number of tokens), ...]`` for the sentences a segment is made of."""
    runs: list[tuple[tuple[int, int], int]] = []
    for token in segment:
        origin = decode(token)
        if runs and runs[-1][0] == origin:
            runs[-1] = (origin, runs[-1][1] + 1)
        else:
            runs.append((origin, 1))
    return runs


def sentence_length(doc: int, sentence: int) -> int:
    return len(make_documents()[doc][sentence])


@pytest.fixture(scope="module")
def packed_pairs() -> list[NSPExample]:
    return nsp_pairs(
        make_documents(), 10_000, max_length=16, cls_id=NSP_CLS, sep_id=NSP_SEP,
        rng=random.Random(0), packed=True,
    )  # fmt: skip


def test_packed_labels_are_balanced(packed_pairs):
    assert_within_3se(sum(p.label for p in packed_pairs) / len(packed_pairs), 0.5, len(packed_pairs))


def test_packed_segments_are_runs_of_consecutive_sentences(packed_pairs):
    """A is consecutive sentences of one document; B continues them (IS_NEXT) or is
    consecutive sentences of another document (NOT_NEXT). Only a NOT_NEXT pair may need
    truncating (a long A leaves little room for B), and then only at the segments' ends."""
    several = 0
    for pair in packed_pairs:
        a, b = map(sentence_runs, split_pair(pair))
        assert len(pair.input_ids) <= 16
        for runs in (a, b):
            docs = {doc for (doc, _), _ in runs}
            sentences = [sentence for (_, sentence), _ in runs]
            assert len(docs) == 1 and sentences == list(range(sentences[0], sentences[0] + len(runs)))
            whole = runs[:-1] if pair.label == NOT_NEXT else runs
            assert all(n == sentence_length(*origin) for origin, n in whole)
        (doc_a, last_a), (doc_b, first_b) = a[-1][0], b[0][0]
        if pair.label == IS_NEXT:
            assert (doc_b, first_b) == (doc_a, last_a + 1)
        else:
            assert doc_b != doc_a
        several += len(a) + len(b) > 2
    assert several > len(packed_pairs) / 4  # packing really happens


def test_packed_true_pairs_fill_the_length(packed_pairs):
    """The text of a true pair stops only where the document ends or the next sentence would not fit."""
    docs = make_documents()
    for pair in packed_pairs:
        if pair.label == IS_NEXT:
            a, b = map(sentence_runs, split_pair(pair))
            (doc, last), _ = b[-1]
            used = len(pair.input_ids) - 3
            assert last == len(docs[doc]) - 1 or used + sentence_length(doc, last + 1) > 13


def test_packed_pair_length_does_not_give_the_label_away(packed_pairs):
    lengths = {label: [len(p.input_ids) for p in packed_pairs if p.label == label]
               for label in (IS_NEXT, NOT_NEXT)}  # fmt: skip
    means = {label: sum(v) / len(v) for label, v in lengths.items()}
    assert abs(means[IS_NEXT] - means[NOT_NEXT]) < 0.5, means


def test_packed_pair_truncates_a_long_first_pair():
    docs = [[[5] * 12, [6] * 12, [7]], [[8] * 3]]
    example = make_packed_pair(
        docs, 0, 0, max_length=10, cls_id=NSP_CLS, sep_id=NSP_SEP, rng=random.Random(2),
        next_probability=1.0,
    )  # fmt: skip
    assert split_pair(example) == ([5] * 4, [6] * 3)


def test_packed_pairs_are_reproducible():
    kw = {"max_length": 16, "cls_id": NSP_CLS, "sep_id": NSP_SEP, "packed": True}
    docs = make_documents()
    assert nsp_pairs(docs, 50, **kw, rng=random.Random(3)) == nsp_pairs(docs, 50, **kw, rng=random.Random(3))

"""course_utils.analysis.heads: every statistic on hand-made attention whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils.analysis import heads as H
from course_utils.data.world.grammar import Sentence


def sample_from(rows, tokens, words=None, heads=(), rels=()):
    """One layer, one head, attention given row by row."""
    attention = torch.tensor(rows, dtype=torch.float32)[None, None]  # (1, 1, L, L)
    if words is None:
        words = [-1 if t in ("[CLS]", "[SEP]") else None for t in tokens]
        counter = iter(range(len(tokens)))
        words = [-1 if w == -1 else next(counter) for w in words]
    return H.AttentionSample(list(tokens), attention, list(words), list(heads), list(rels))


def attends_to(targets, length):
    """Each row i puts all its weight on targets[i]."""
    return [[1.0 if j == targets[i] else 0.0 for j in range(length)] for i in range(length)]


def test_special_token_attention_averages_over_every_attending_token():
    tokens = ["[CLS]", "cats", ".", "[SEP]"]
    rows = [[0.5, 0.0, 0.0, 0.5], [0.2, 0.2, 0.6, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]
    shares = H.special_token_attention([sample_from(rows, tokens)])
    assert shares["[CLS]"][0, 0] == pytest.approx((0.5 + 0.2 + 0.0 + 1.0) / 4)
    assert shares["[SEP]"][0, 0] == pytest.approx((0.5 + 0.0 + 1.0 + 0.0) / 4)
    assert shares["punctuation"][0, 0] == pytest.approx(0.6 / 4)


def test_offset_attention_reads_the_diagonals_and_skips_missing_neighbours():
    rows = attends_to([1, 2, 3, 2], 4)  # the first three look at the next token, the last at the previous
    offsets = H.offset_attention([sample_from(rows, ["a", "b", "c", "d"])], offsets=(-1, 0, 1, 5))
    assert offsets[0, 0].tolist() == pytest.approx([1 / 3, 0.0, 1.0, 0.0])  # -1: 3 rows have one; +5: none


def test_attention_entropy_is_zero_when_focused_and_log_length_when_uniform():
    focused = sample_from(attends_to([0, 0, 0], 3), ["a", "b", "c"])
    uniform = sample_from([[1 / 3] * 3] * 3, ["a", "b", "c"])
    entropy, baseline = H.attention_entropy([focused])
    assert entropy[0, 0] == pytest.approx(0.0, abs=1e-6) and baseline == pytest.approx(math.log(3))
    entropy, _ = H.attention_entropy([uniform])
    assert entropy[0, 0] == pytest.approx(math.log(3), abs=1e-6)
    mixed_entropy, mixed_baseline = H.attention_entropy([uniform, sample_from([[0.5, 0.5]] * 2, ["a", "b"])])
    assert mixed_baseline == pytest.approx((3 * math.log(3) + 2 * math.log(2)) / 5)  # a mean over rows


def test_word_attention_sums_to_a_split_word_and_averages_from_it():
    # [CLS] new ##town is [SEP]: word 0 is split in two pieces
    tokens, words = ["[CLS]", "new", "##town", "is", "[SEP]"], [-1, 0, 0, 1, -1]
    rows = [[0.2, 0.2, 0.2, 0.2, 0.2],
            [0.0, 0.1, 0.1, 0.8, 0.0],
            [0.0, 0.3, 0.3, 0.2, 0.2],
            [0.1, 0.3, 0.5, 0.0, 0.1],
            [0.2, 0.2, 0.2, 0.2, 0.2]]
    weights = H.word_attention(sample_from(rows, tokens, words))[0, 0]
    expected = torch.tensor([[(0.2 + 0.6) / 2, (0.8 + 0.2) / 2], [0.8, 0.0]])
    torch.testing.assert_close(weights, expected)


def test_dependency_accuracy_in_both_directions():
    # "the cat sleeps": the -> cat (det), cat -> sleeps (nsubj), sleeps is the root
    tokens = ["[CLS]", "the", "cat", "sleeps", "[SEP]"]
    words, gold, rels = [-1, 0, 1, 2, -1], [1, 2, -1], ["det", "nsubj", "root"]
    # every word attends to its head; the root to the first word; specials to themselves
    rows = attends_to([0, 2, 3, 1, 4], 5)
    sample = sample_from(rows, tokens, words, gold, rels)
    accuracy, arcs = H.dependency_accuracy([sample])
    assert arcs == 2 and accuracy[0, 0] == pytest.approx(1.0)  # the root is never scored
    accuracy, _ = H.dependency_accuracy([sample], "det", direction="head -> dependent")
    assert accuracy[0, 0] == pytest.approx(0.0)  # cat attends to sleeps, not to the
    with pytest.raises(ValueError, match="unknown direction"):
        H.dependency_accuracy([sample], direction="sideways")


def test_dependency_accuracy_never_predicts_the_word_itself_or_a_special_token():
    tokens, words = ["[CLS]", "the", "cat", "[SEP]"], [-1, 0, 1, -1]
    rows = [[1, 0, 0, 0], [0.0, 0.7, 0.2, 0.1], [0.9, 0.0, 0.1, 0.0], [1, 0, 0, 0]]  # "the" mostly attends to itself
    sample = sample_from(rows, tokens, words, [1, -1], ["det", "root"])
    accuracy, _ = H.dependency_accuracy([sample], "det")
    assert accuracy[0, 0] == 1.0  # itself and [CLS]/[SEP] excluded: "cat" is its choice


def test_offset_baseline_finds_the_offset_that_explains_the_arcs():
    tokens = ["[CLS]", "a", "b", "c", "d", "[SEP]"]
    sample = sample_from(attends_to(range(6), 6), tokens, heads=[1, 2, 3, -1], rels=["x", "x", "y", "root"])
    assert H.offset_baseline([sample], "x") == (1, 1.0)
    assert H.offset_baseline([sample]) == (1, 1.0)


def planted(seed: int, n: int = 30, layers: int = 2, heads: int = 3) -> list[H.AttentionSample]:
    """Random attention, except head (layer 1, head 2) whose words attend to their gold heads."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n):
        length = int(rng.integers(4, 8))
        gold = [int(h) for h in rng.integers(0, length, size=length)]
        gold = [h if h != i else -1 for i, h in enumerate(gold)]
        tokens = ["[CLS]"] + [f"w{i}" for i in range(length)] + ["[SEP]"]
        words = [-1] + list(range(length)) + [-1]
        attention = torch.softmax(torch.tensor(rng.normal(size=(layers, heads, length + 2, length + 2)),
                                               dtype=torch.float32), -1)
        for i, h in enumerate(gold):
            if h >= 0:
                attention[0, 1, i + 1] = 0.0
                attention[0, 1, i + 1, h + 1] = 1.0
        samples.append(H.AttentionSample(tokens, attention, words, gold, ["r"] * length))
    return samples


def test_relation_table_names_the_planted_head_and_scores_it_on_held_out_samples():
    table = H.relation_table(planted(0), planted(1), ["r"], min_arcs=5)
    assert table.loc["r", "head"] == "1-2"  # counted from 1, as in the paper
    assert table.loc["r", "direction"] == "dependent -> head"
    assert table.loc["r", "accuracy"] == pytest.approx(1.0)
    assert table.loc["r", "arcs"] == sum(h >= 0 for s in planted(1) for h in s.heads)
    assert table.loc["r", "baseline"] < 0.5
    assert "rare" not in H.relation_table(planted(0), planted(1), ["r", "rare"], min_arcs=5).index


def test_attention_sample_checks_its_shapes():
    with pytest.raises(ValueError, match="layers, heads, L, L"):
        H.AttentionSample(["a"], torch.ones(1, 1, 1), [0])
    with pytest.raises(ValueError, match="must agree"):
        H.AttentionSample(["a", "b"], torch.ones(1, 1, 3, 3), [0, 1])
    with pytest.raises(ValueError, match="no samples"):
        H.special_token_attention([])


def test_collect_attention_on_a_tiny_bert_matches_the_models_own_weights(tok):
    from course_utils.config import get_scale
    from course_utils.pretraining import BertForPreTraining, tiny_bert_config

    torch.manual_seed(0)
    model = BertForPreTraining(tiny_bert_config(tok, get_scale("smoke")))
    first = Sentence(("The", "cat", "sleeps", "."), (1, 2, -1, 2), ("det", "nsubj", "root", "punct"))
    second = Sentence(("It", "snores", "."), (1, -1, 1), ("nsubj", "root", "punct"))
    [sample] = H.collect_attention(model, tok, [(first, second)])
    ids, types, words = H.encode_pair(tok, first.words, second.words)
    assert sample.tokens[0] == "[CLS]" and sample.tokens.count("[SEP]") == 2
    assert sample.heads == [1, 2, -1, 2, 5, -1, 5]  # the second sentence's heads shifted by 4
    with torch.no_grad():
        out = model.bert(torch.tensor([ids]), torch.tensor([types]), need_weights=True)
    torch.testing.assert_close(sample.attention, torch.stack([a[0] for a in out.attentions]))
    torch.testing.assert_close(sample.attention.sum(-1), torch.ones(sample.attention.shape[:-1]))
    with pytest.raises(ValueError, match="max_length=3"):
        H.collect_attention(model, tok, [(first, second)], max_length=3)


def test_nearest_form_baseline_finds_the_nearest_word_of_the_heads_forms():
    # "to a barn": case(to <- barn); the noun attends to its preposition (head -> dependent)
    words = ["[CLS]", "go", "to", "a", "barn", "[SEP]", "in", "the", "park", "[SEP]"]
    ids = [-1, 0, 1, 2, 3, -1, 4, 5, 6, -1]
    heads, rels = [-1, 3, 3, 0, 6, 6, -1], ["root", "case", "det", "obl", "case", "det", "root"]
    sample = H.AttentionSample(words, torch.full((1, 1, 10, 10), 0.1), ids, heads, rels)
    assert H.nearest_form_baseline([sample], [sample], "case", "head -> dependent") == 1.0  # barn -> to, park -> in
    assert H.nearest_form_baseline([sample], [sample], "case", "dependent -> head") == 1.0  # the forms barn, park
    # "the" must be ignored: it is not among the heads' forms of "det"'s arcs seen in selection
    assert H.nearest_form_baseline([sample], [sample], "det") == 1.0
    with pytest.raises(ValueError, match="unknown direction"):
        H.nearest_form_baseline([sample], [sample], "case", "up")


def test_nearest_form_baseline_looks_on_the_usual_side_first():
    # y's head is the x to its right; the x to its left is as near, and wrong
    sample = H.AttentionSample(["[CLS]", "x", "y", "x", "[SEP]"], torch.full((1, 1, 5, 5), 0.2), [-1, 0, 1, 2, -1],
                               [-1, 2, 0], ["root", "r", "other"])
    assert H.nearest_form_baseline([sample], [sample], "r") == 1.0


def test_paired_interval_covers_the_difference_and_shrinks_with_more_samples():
    rng = np.random.default_rng(0)
    arcs = rng.integers(3, 8, size=400)
    better = rng.binomial(arcs, 0.8)
    worse = rng.binomial(arcs, 0.6)
    low, high = H.paired_interval(better, worse, arcs)
    difference = (better.sum() - worse.sum()) / arcs.sum()
    assert low < difference < high and low > 0.1
    low_small, high_small = H.paired_interval(better[:40], worse[:40], arcs[:40])
    assert high_small - low_small > high - low
    same_low, same_high = H.paired_interval(better, better, arcs)
    assert same_low == same_high == 0.0


def test_relation_table_bounds_the_planted_heads_lead():
    table = H.relation_table(planted(0), planted(1), ["r"], min_arcs=5)
    assert 0 < table.loc["r", "low"] < table.loc["r", "accuracy"] - table.loc["r", "baseline"] < table.loc["r", "high"]
    accuracy = H.head_right_per_sample(planted(1), "r", "dependent -> head", 0, 1).sum() / H.arcs_per_sample(
        planted(1), "r").sum()
    assert accuracy == pytest.approx(table.loc["r", "accuracy"])

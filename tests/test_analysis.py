"""Word guessing, probe scoring, contextual vectors and the masking playground."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_utils.analysis import (
    fill_mask,
    masked_log_probs,
    nearest_occurrences,
    occurrence_vectors,
    probe_table,
    score_probes,
    unigram_choices,
)
from course_utils.data.world import all_probes
from course_utils.data.world.vocabulary import world_tokenizer
from course_utils.models import BertForPreTraining, BertModel, get_config
from course_utils.models.heads import PreTrainingOutput
from course_utils.viz import guess_words, masking_playground


@pytest.fixture(scope="module")
def tok():
    return world_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    return BertForPreTraining(get_config("bert-tiny", vocab_size=len(tok.vocab))).eval()


class Oracle(nn.Module):
    """A stand-in masked LM that always guesses ``word`` with probability ~1."""

    def __init__(self, vocab_size: int, word_id: int) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.vocab_size, self.word_id = vocab_size, word_id

    def forward(self, ids, token_type_ids=None, attention_mask=None, masked_positions=None):
        n = int(masked_positions.sum())
        logits = torch.zeros(n, self.vocab_size)
        logits[:, self.word_id] = 20.0
        return PreTrainingOutput(logits, torch.zeros(ids.shape[0], 2), torch.zeros(1))


def test_fill_mask_lists_probabilities_in_order(model, tok):
    table = fill_mask(model, tok, "The [MASK] is [MASK].", k=4)
    assert list(table["mask"]) == [1] * 4 + [2] * 4
    for _, part in table.groupby("mask"):
        assert list(part["probability"]) == sorted(part["probability"], reverse=True)


def test_fill_mask_without_a_mask(model, tok):
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        fill_mask(model, tok, "No mask here.")


def test_masked_log_probs_are_distributions(model, tok):
    texts = ["[MASK] is the capital of France.", "The cats [MASK] hungry.", "The [MASK] [MASK] ."]
    results = masked_log_probs(model, tok, texts, batch_size=2)
    assert [r.shape[0] for r in results] == [1, 1, 2]
    torch.testing.assert_close(results[2].exp().sum(-1), torch.ones(2))


def test_score_probes_and_table(tok):
    probes = all_probes(10, seed=0)
    oracle = Oracle(len(tok.vocab), tok.token_to_id["are"])
    scored = score_probes(oracle, tok, probes)
    syntax = scored[scored.phenomenon == "syntax"]
    assert (syntax["choice"] == "are").all()
    assert (syntax["chose_right"] == (syntax["answer"] == "are")).all()
    other = scored[scored.phenomenon == "knowledge"]
    assert not other["top1_right"].any()
    table = probe_table(scored, {"are": 10, "is": 5})
    assert table.loc["syntax", "model"] == pytest.approx((syntax["answer"] == "are").mean())
    assert table.loc["syntax", "chance"] == pytest.approx(0.5)
    assert table.loc["knowledge", "chance"] == pytest.approx(0.25)


def test_unigram_baseline_picks_the_most_frequent_candidate():
    probes = pd.DataFrame({"answer": ["are", "He"], "distractors": [("is",), ("She",)]})
    assert list(unigram_choices(probes, {"is": 3, "are": 1, "she": 2})) == ["is", "she"]


def test_occurrence_vectors_follow_the_context(tok):
    torch.manual_seed(0)
    bert = BertModel(get_config("bert-tiny", vocab_size=len(tok.vocab))).eval()
    sentences = ["Ann gave her a coin.", "She broke her phone.", "Her dog sleeps.", "No match."]
    vectors, where = occurrence_vectors(bert, tok, sentences, "her")
    assert where == [(0, 2), (1, 2), (2, 0)]
    assert not torch.allclose(vectors[0], vectors[1])  # same word, different vectors
    table = nearest_occurrences(vectors[0], vectors, sentences[:3], k=2)
    assert len(table) == 2 and sentences[0] not in set(table["context"])
    with pytest.raises(ValueError, match="not one token"):
        occurrence_vectors(bert, tok, sentences, "zanzibar")


def test_guess_words_and_widget(model, tok):
    words = tok.basic_tokenize("The cats near the dog are hungry.")
    table = guess_words(model, tok, words, hidden=[5, 1], k=3)
    assert list(table["hidden word"]) == ["cats", "are"]
    assert all(len(g.split(", ")) == 3 for g in table["guesses"])
    assert len(guess_words(model, tok, words, hidden=[])) == 0
    with pytest.raises(ValueError, match="out of range"):
        guess_words(model, tok, words, hidden=[99])
    widget = masking_playground(model, tok, "The dog sleeps.")
    box, buttons, output = widget.children
    buttons.children[1].value = True  # hide "dog"
    assert "dog" in output.value and "<table" in output.value
    box.value = "Ann is a cook."
    assert [b.description for b in buttons.children] == ["ann", "is", "a", "cook", "."]


def test_verbatim_in_corpus_matches_whole_sentences():
    from course_utils.analysis import corpus_windows, filled_probes, verbatim_in_corpus

    docs = [["Ann is a cook.", "She sings.", "It rains."], ["The dog sleeps."]]
    texts = ["Ann is a cook. She sings.", "she sings. it rains.", "The dog", "It rains. The dog sleeps."]
    assert verbatim_in_corpus(texts, docs) == [True, True, False, False]
    assert len(corpus_windows(docs, 2)) == 3 + 2 + 1
    probes = pd.DataFrame({"text": ["[MASK] is a cook."], "answer": ["Ann"]})
    assert filled_probes(probes) == ["Ann is a cook."]
    with pytest.raises(ValueError, match="max_sentences"):
        corpus_windows(docs, 0)


def test_probe_table_with_corpus_overlap(tok):
    probes = all_probes(4, seed=0)
    oracle = Oracle(len(tok.vocab), tok.token_to_id["are"])
    scored = score_probes(oracle, tok, probes)
    in_corpus = [i % 2 == 0 for i in range(len(probes))]
    table = probe_table(scored, {}, in_corpus)
    assert "model (unseen items)" not in table.columns
    assert table["in corpus"].tolist() == [0.5] * len(table)
    fresh = scored[[not x for x in in_corpus]].groupby("phenomenon", sort=False)["chose_right"].mean()
    assert table["model (items not in corpus)"].tolist() == pytest.approx(fresh.round(3).tolist())
    with pytest.raises(ValueError, match="one value per probe"):
        probe_table(scored, {}, in_corpus[:-1])


def test_two_antecedent_probes_have_one_right_pronoun(tok):
    from course_utils.analysis import two_antecedent_probes
    from course_utils.data.world.knowledge import default_world

    gender = {p.name: p.gender for p in default_world().lexicon.people}
    probes = two_antecedent_probes(30, seed=0)
    assert len(probes) == 30 and probes["text"].is_unique
    for row in probes.itertuples():
        first, second = row.tokens[0], row.tokens[4]
        assert gender[first] != gender[second]
        assert row.answer == ("her" if gender[first] == "f" else "his")
        assert row.distractors == ("his" if row.answer == "her" else "her",)
        assert row.tokens[row.mask_index] == row.answer and row.text.count("[MASK]") == 1
    assert all(w in tok.token_to_id for w in ("her", "his", "happy", "invited", "friends"))


def test_same_use_rate_can_exclude_shared_neighbours():
    from course_utils.analysis import same_use_chance, same_use_rate

    vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    uses = ["a", "a", "b", "b", "a"]
    assert same_use_rate(vectors, uses) == pytest.approx(4 / 5)  # 4 looks like a "b"
    assert same_use_chance(uses) == pytest.approx((2 / 4 + 2 / 4 + 1 / 4 + 1 / 4 + 2 / 4) / 5)
    # 0 and 1 share their previous word; 2 and 3 their next word
    contexts = [("x", "p"), ("x", "q"), ("y", "r"), ("z", "r"), ("w", "s")]
    # 2 and 3 have no allowed neighbour of their own use, so they are not counted;
    # nearest: 0 -> 4 (a, right); 1 -> 4 (right); 4 -> 3 (b, wrong)
    assert same_use_rate(vectors, uses, contexts) == pytest.approx(2 / 3)
    assert same_use_chance(uses, contexts) == pytest.approx((1 / 3 + 1 / 3 + 2 / 4) / 3)
    # a query whose own use has no allowed neighbour is not counted
    assert np.isnan(same_use_rate(vectors[:2], uses[:2], contexts[:2]))
    with pytest.raises(ValueError, match="one use"):
        same_use_rate(vectors, uses[:3])


def test_same_use_queries_count_the_testable_occurrences():
    from course_utils.analysis import same_use_queries

    uses = ["a", "a", "b", "b", "a"]
    contexts = [("x", "p"), ("x", "q"), ("y", "r"), ("z", "r"), ("w", "s")]
    assert same_use_queries(uses) == {"a": 3, "b": 2}
    assert same_use_queries(uses, contexts) == {"a": 3, "b": 0}  # as in the test above


def test_position_heuristics_follow_word_order():
    from course_utils.analysis import position_heuristics, two_antecedent_probes

    probes = pd.DataFrame([
        {"text": "The cow near the lions [MASK] old.", "answer": "is", "distractors": ("are",),
         "phenomenon": "syntax", "tokens": ("The", "cow", "near", "the", "lions", "is", "old", "."),
         "mask_index": 5},
        {"text": "Dodoma is the capital of [MASK].", "answer": "Tanzania", "distractors": ("Peru",),
         "phenomenon": "knowledge", "tokens": ("Dodoma", "is", "the", "capital", "of", "Tanzania", "."),
         "mask_index": 5},
    ])  # fmt: skip
    rules = position_heuristics(probes)
    assert rules.loc[0, "first noun or name"] is True and rules.loc[0, "nearest noun or name"] is False
    assert rules.loc[1].isna().all()  # no word-order rule for knowledge
    two = position_heuristics(two_antecedent_probes(20, seed=0))
    assert two["first noun or name"].all() and not two["nearest noun or name"].any()


def test_position_heuristics_need_two_names_for_coreference():
    """With one name, "the pronoun of the name" is the probe's own question, not a heuristic."""
    from course_utils.analysis import position_heuristics
    from course_utils.data.world import all_probes

    probes = all_probes(20, seed=0)
    coreference = probes[probes["phenomenon"] == "coreference"]
    assert len(coreference) and position_heuristics(coreference).isna().all().all()

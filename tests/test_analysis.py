"""Word guessing, probe scoring, contextual vectors and the masking playground."""

from __future__ import annotations

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

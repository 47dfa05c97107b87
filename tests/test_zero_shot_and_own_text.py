"""Notebook 06's zero-shot heuristics, the own-text corpus, the GPT checkpoint key and the
decoding table: checked on tiny models whose answers are known."""

from __future__ import annotations

import dataclasses
import math
import types

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_utils import lm
from course_utils.config import get_scale
from course_utils.viz import decoding_summary, decoding_table
from course_utils.zero_shot import continuation_log_probs, zero_shot_choice, zero_shot_sentiment


@pytest.fixture(scope="module")
def tok():
    return lm.gpt_tokenizer()


class Scripted(nn.Module):
    """A fake language model: the next token is `favourite[previous token]` with probability ~1."""

    def __init__(self, vocab_size: int, favourite: dict[int, int], strength: float = 20.0,
                 prior: dict[int, float] | None = None):
        super().__init__()
        self.vocab_size, self.favourite, self.strength = vocab_size, favourite, strength
        self.prior = prior or {}  # a preference whatever came before
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, ids, attention_mask=None):
        logits = torch.zeros(*ids.shape, self.vocab_size)
        for token, bias in self.prior.items():
            logits[..., token] += bias
        for previous, following in self.favourite.items():
            logits[..., following] += self.strength * (ids == previous).float()
        return types.SimpleNamespace(logits=logits)


def test_continuation_log_probs_sums_only_the_continuation(tok):
    uniform = Scripted(len(tok.vocab), {})
    scores = continuation_log_probs(uniform, tok, ["ann is happy .", ""], ["he is sad .", "he is sad ."])
    expected = -4 * math.log(len(tok.vocab))  # four tokens, each 1 / V, whatever the prompt
    torch.testing.assert_close(scores, torch.tensor([expected, expected]))


def test_continuation_log_probs_checks_its_inputs(tok):
    uniform = Scripted(len(tok.vocab), {})
    with pytest.raises(ValueError, match="one continuation per prompt"):
        continuation_log_probs(uniform, tok, ["a"], ["b", "c"])
    with pytest.raises(ValueError, match="empty"):
        continuation_log_probs(uniform, tok, [], [])


def test_sentiment_heuristic_follows_the_likelier_continuation(tok):
    ids = tok.token_to_id
    # after "tasty" the model expects "good", after "awful" it expects "bad"
    model = Scripted(len(tok.vocab), {ids["tasty"]: ids["good"], ids["awful"]: ids["bad"]})
    texts = ["the soup was tasty", "the soup was awful"]
    continuations = ("good .", "bad .")
    predicted = zero_shot_sentiment(model, tok, texts, continuations, calibrate=False)
    assert predicted.tolist() == ["positive", "negative"]
    # a model that likes "good" whatever came before: raw scores say positive twice; calibration
    # (minus the margin after a neutral prompt) leaves the context's own, smaller effect
    biased = Scripted(len(tok.vocab), {ids["tasty"]: ids["good"], ids["awful"]: ids["bad"]}, strength=5.0,
                      prior={ids["good"]: 10.0})
    raw = zero_shot_sentiment(biased, tok, texts, continuations, calibrate=False, neutral_prompt="the soup was")
    calibrated = zero_shot_sentiment(biased, tok, texts, continuations, calibrate=True, neutral_prompt="the soup was")
    assert raw.tolist() == ["positive", "positive"]
    assert calibrated.tolist() == ["positive", "negative"]


def test_choice_heuristic_scores_the_effect_after_the_cause(tok):
    ids = tok.token_to_id
    # "keys" -> "he", "he" -> "is", "is" -> "sad": "he is sad ." is likely after the keys
    model = Scripted(len(tok.vocab), {ids["keys"]: ids["he"], ids["he"]: ids["is"], ids["is"]: ids["sad"]})
    frame = pd.DataFrame([
        {"premise": "Sam lost his keys.", "question": "What happened as a result?",
         "choice0": "He is proud.", "choice1": "He is sad.", "label": 1},
        {"premise": "Sam is sad.", "question": "What was the cause?",
         "choice0": "He lost his keys.", "choice1": "He won the race.", "label": 0},
    ])
    assert zero_shot_choice(model, tok, frame).tolist() == [1, 0]
    frame.loc[0, "question"] = "Why?"
    with pytest.raises(ValueError, match="unknown question"):
        zero_shot_choice(model, tok, frame)


def test_own_text_corpus_with_characters_and_byte_bpe(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Once upon a time there was a cat.\n\nThe cat sat on a mat all day long.\n" * 30)
    chars = lm.text_file_corpus(path, "char")
    assert chars.tokenizer.decode(chars.train_ids[:4].tolist()) == "Once"
    end = chars.tokenizer.token_to_id[lm.WORLD_END_OF_DOCUMENT]
    assert int((chars.train_ids == end).sum()) > 0  # paragraphs are separated
    bpe = lm.text_file_corpus(path, "bpe", num_merges=40)
    assert len(bpe.tokenizer.vocab) > 256 and len(bpe.train_ids) < len(chars.train_ids)
    assert 0.05 < len(bpe.validation_ids) / (len(bpe.train_ids) + len(bpe.validation_ids)) < 0.15
    with pytest.raises(ValueError, match="allowed: char, bpe"):
        lm.text_file_corpus(path, "words")
    with pytest.raises(FileNotFoundError):
        lm.text_file_corpus(tmp_path / "missing.txt")


def test_the_checkpoint_key_ignores_the_fine_tuning_sizes(tok):
    scale = get_scale("smoke")
    config = lm.tiny_gpt_config(len(tok.vocab), scale)
    key = lm._gpt_key(scale, config, tok.vocab, 0)
    finetuning = dataclasses.replace(scale, gpt=dataclasses.replace(scale.gpt, finetune_epochs=9, seeds=7,
                                                                     label_counts=(10,), pretrain_seeds=5))
    assert lm._gpt_key(finetuning, config, tok.vocab, 0) == key
    longer = dataclasses.replace(scale, gpt=dataclasses.replace(scale.gpt, pretrain_steps=31))
    assert lm._gpt_key(longer, config, tok.vocab, 0) != key
    assert lm._gpt_key(scale, config, tok.vocab, 1) != key


def test_decoding_table_greedy_is_deterministic_and_sampling_varies(tok):
    torch.manual_seed(0)
    model = lm.GPTModel(lm.tiny_gpt_config(len(tok.vocab), "smoke")).eval()
    table = decoding_table(model, tok, "the soup was", samples=3, max_new_tokens=8)
    summary = decoding_summary(table)
    assert summary.loc["greedy", "distinct continuations"] == 1
    assert summary.loc["sampling, T = 1.5", "distinct continuations"] == 3
    assert set(table.columns) >= {"continuation", "log-prob / token", "repeated 3-grams"}
    again = decoding_table(model, tok, "the soup was", samples=3, max_new_tokens=8)
    pd.testing.assert_frame_equal(table, again)  # seeded
    with pytest.raises(ValueError, match="positions"):
        decoding_table(model, tok, "the soup was", samples=1, max_new_tokens=100)

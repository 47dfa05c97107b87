"""Zero-shot prediction with a language model: score continuations, pick the likeliest.

Taught in notebook 06 (zero-shot). A model that learned to predict the next word can be asked
a question without any fine-tuning, by comparing how probable it finds a few candidate
continuations (the lecture's heuristics, from GPT-1 section 5):

* sentiment: the review followed by a positive and by a negative sentence; the likelier one
  gives the label. A model prefers some words whatever came before ("bad" may simply be more
  frequent than "good"), so each score is *calibrated*: the continuation's log-probability
  after the review minus its log-probability after a neutral prompt (Zhao et al. 2021,
  "Calibrate before use");
* multiple choice: each answer scored by its log-probability; the highest wins. Here the
  score is that of the *effect* sentence given the *cause* sentence, whichever of the two the
  answer is, so both answers are scored on text of similar length, in the order the corpus
  tells causes and effects.

>>> import math, types
>>> from course_utils.lm import gpt_tokenizer
>>> class Uniform(nn.Module):  # every next token equally likely, whatever the context
...     def __init__(self, vocab_size):
...         super().__init__()
...         self.vocab_size, self.unused = vocab_size, nn.Parameter(torch.zeros(()))
...     def forward(self, ids, attention_mask=None):
...         return types.SimpleNamespace(logits=torch.zeros(*ids.shape, self.vocab_size))
>>> tok = gpt_tokenizer()
>>> scores = continuation_log_probs(Uniform(len(tok.vocab)), tok, ["ann is happy ."], ["she is sad ."])
>>> round(-scores.item() / math.log(len(tok.vocab)), 4)   # four tokens, each with probability 1 / V
4.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from course_utils.lm import WORLD_END_OF_DOCUMENT, sequence_log_prob
from course_utils.noising.batching import pad_batch
from course_utils.tokenization import Tokenizer

SENTIMENT_CONTINUATIONS = ("the service was very good .", "the service was very bad .")
"""The positive and the negative continuation of the zero-shot sentiment heuristic: the
lecture's "[example] + very + {positive, negative}", in the small world's own review words."""

NEUTRAL_PROMPT = "i went to a restaurant in paris ."
"""The prompt whose continuation scores calibrate the sentiment heuristic: the first sentence
of a review, before any opinion."""


def continuation_log_probs(
    model: nn.Module, tokenizer: Tokenizer, prompts: Sequence[str], continuations: Sequence[str],
    batch_size: int = 128,
) -> Tensor:
    """Taught in notebook 06 (zero-shot). ``log p(continuation | prompt)`` for each pair, summed
    over the continuation's tokens: ``(N,)``. Each pair is read as
    ``<|endoftext|> prompt continuation`` (the end-of-text token stands where the previous
    document ended, as in pretraining); an empty prompt scores the continuation on its own."""
    if len(prompts) != len(continuations):
        raise ValueError(f"need one continuation per prompt; got {len(prompts)} prompts and "
                         f"{len(continuations)} continuations")
    if len(prompts) == 0:
        raise ValueError("prompts is empty; give at least one prompt and continuation")
    if WORLD_END_OF_DOCUMENT not in tokenizer.token_to_id:
        raise KeyError(f"the tokenizer has no {WORLD_END_OF_DOCUMENT!r}; use course_utils.lm.gpt_tokenizer()")
    end = tokenizer.token_to_id[WORLD_END_OF_DOCUMENT]
    rows, starts = [], []
    for prompt, continuation in zip(prompts, continuations):
        context = [end] + (tokenizer.encode(prompt) if prompt else [])
        scored = tokenizer.encode(continuation)
        if not scored:
            raise ValueError(f"continuation {continuation!r} has no tokens to score")
        rows.append(context + scored)
        starts.append(len(context))  # the first continuation token's position
    input_ids, attention_mask = pad_batch(rows, end)  # (N, L), padding on the right
    return sequence_log_prob(model, input_ids, attention_mask, torch.tensor(starts), batch_size=batch_size)


def zero_shot_sentiment(
    model: nn.Module, tokenizer: Tokenizer, texts: Sequence[str],
    continuations: tuple[str, str] = SENTIMENT_CONTINUATIONS, calibrate: bool = True,
    neutral_prompt: str = NEUTRAL_PROMPT,
) -> np.ndarray:
    """Taught in notebook 06 (zero-shot). Predicted labels (``"positive"``/``"negative"``) of
    ``texts``: positive when ``log p(positive continuation | text)`` exceeds that of the
    negative one; with ``calibrate``, each continuation's log-probability after
    ``neutral_prompt`` is subtracted first (so a model with no opinion is not pushed to one
    side by its word frequencies)."""
    margin = sentiment_margins(model, tokenizer, texts, continuations, calibrate, neutral_prompt)
    return np.where(margin > 0, "positive", "negative")


def sentiment_margins(
    model: nn.Module, tokenizer: Tokenizer, texts: Sequence[str],
    continuations: tuple[str, str] = SENTIMENT_CONTINUATIONS, calibrate: bool = True,
    neutral_prompt: str = NEUTRAL_PROMPT,
) -> np.ndarray:
    """Taught in notebook 06 (zero-shot). ``zero_shot_sentiment``'s margins ``(N,)``:
    ``log p(positive | text) - log p(negative | text)``, minus the same difference after
    ``neutral_prompt`` when ``calibrate``. Calibration moves every margin by the same amount,
    so it changes which side of 0 they fall on, never their order: how well the margins *rank*
    positive above negative reviews (an AUC) does not depend on it."""
    positive, negative = continuations
    n = len(texts)
    margin = (continuation_log_probs(model, tokenizer, list(texts), [positive] * n)
              - continuation_log_probs(model, tokenizer, list(texts), [negative] * n))  # (N,)
    if calibrate:
        prior = continuation_log_probs(model, tokenizer, [neutral_prompt] * 2, [positive, negative])
        margin = margin - (prior[0] - prior[1])
    return margin.numpy()


def ranking_auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Taught in notebook 06 (zero-shot). The probability that a random positive item scores
    above a random negative one (ties count half): 0.5 for scores that carry no signal, 1 for
    a perfect ranking, whatever threshold a classifier would put on them.

    >>> ranking_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    0.75
    """
    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        raise ValueError("need at least one positive and one negative item")
    above = scores[positive][:, None] - scores[~positive][None, :]  # (P, N) pairwise differences
    return float((above > 0).mean() + 0.5 * (above == 0).mean())


def _cause_and_effect(row, choice: str) -> tuple[str, str]:
    """(cause, effect) of one multiple-choice row for one of its answers."""
    if row.question == "What happened as a result?":  # the premise is the cause
        return row.premise, choice
    if row.question == "What was the cause?":
        return choice, row.premise
    raise ValueError(f"unknown question {row.question!r}; allowed: 'What happened as a result?', "
                     f"'What was the cause?'")


def zero_shot_choice(
    model: nn.Module, tokenizer: Tokenizer, frame: pd.DataFrame, use_premise: bool = True
) -> np.ndarray:
    """Taught in notebook 06 (zero-shot). Predicted answers (0 or 1) of a
    ``multiple_choice`` split: the answer whose effect sentence is likelier after its cause
    sentence. ``use_premise=False`` is the control that hides the question: each answer is
    scored on its own, so only how common its words are can decide."""
    scores = []
    for column in ("choice0", "choice1"):
        prompts, continuations = [], []
        for row in frame.itertuples():
            cause, effect = _cause_and_effect(row, getattr(row, column))
            if use_premise:
                prompts.append(cause)
                continuations.append(effect)
            else:
                prompts.append("")
                continuations.append(getattr(row, column))
        scores.append(continuation_log_probs(model, tokenizer, prompts, continuations))
    return (scores[1] > scores[0]).long().numpy()

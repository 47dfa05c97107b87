"""Pretraining the tiny BERT on a user's own text, with a WordPiece vocabulary learned from it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from course_utils.config import get_scale
from course_utils.models import BertForPreTraining
from course_utils.pretraining import PretrainingData, documents_from_text, pretrain, tiny_bert_config
from course_utils.tokenization import train_wordpiece

OWN_TEXT = """
The river runs past the mill. The miller wakes before dawn. He opens the gates of the mill.
The water turns the wheel. The wheel turns the stones. The stones grind the grain into flour.

The market opens at noon. The farmers bring their grain to the market. The miller buys the grain.
The baker buys the flour. The baker bakes the bread. The children carry the bread home.

In winter the river freezes. The wheel stops. The miller waits for spring. The farmers keep their
grain in barns. The baker buys less flour. The children skate on the river.
"""


def test_a_bert_pretrains_on_its_own_text_with_its_own_vocabulary():
    tokenizer = train_wordpiece(OWN_TEXT * 3, vocab_size=200)
    for word in ("the", "miller", "river", "grain", "baker"):  # common words: one token each
        assert tokenizer.tokenize(word) == [word]
    documents = documents_from_text(OWN_TEXT, tokenizer)
    assert len(documents) == 3 and all(len(doc) >= 6 for doc in documents)

    scale = get_scale("smoke")
    torch.manual_seed(0)
    model = BertForPreTraining(tiny_bert_config(tokenizer, scale))
    assert model.bert.embeddings.token_embeddings.num_embeddings == len(tokenizer.vocab)
    data = PretrainingData(documents, tokenizer, max_length=32, seed=0)
    sizes = replace(scale.bert, pretrain_steps=60, batch_size=16, learning_rate=3e-3, warmup_steps=5)
    history = pretrain(model, data, sizes, desc="own text")
    first, last = np.mean(history["mlm"][:10]), np.mean(history["mlm"][-10:])
    assert last < first - 0.5, (first, last)  # it learns this text's words

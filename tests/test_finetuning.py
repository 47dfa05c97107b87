"""Fine-tuning helpers: task encoding, heads, training, evaluation, the summary table."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from course_utils.config import get_scale
from course_utils.data.world import load_task
from course_utils.data.world.vocabulary import world_tokenizer
from course_utils.finetuning import (
    LABELS,
    classifier_for,
    correct_per_example,
    encode_task,
    evaluate,
    finetune,
    summarize,
)
from course_utils.models import BertForSequenceClassification, BertForTokenClassification, BertModel
from course_utils.noising import IGNORE_INDEX
from course_utils.pretraining import tiny_bert_config


@pytest.fixture(scope="module")
def tok():
    return world_tokenizer()


@pytest.fixture(scope="module")
def config(tok):
    return tiny_bert_config(tok, get_scale("smoke"))


@pytest.fixture(scope="module")
def frames():
    return {task: load_task(task, "smoke") for task in LABELS}


def test_sentiment_encoding(tok, frames):
    frame = frames["sentiment"]["train"]
    data = encode_task("sentiment", frame, tok, max_length=64)
    row = 0
    length = int(data.attention_mask[row].sum())
    ids = data.input_ids[row, :length].tolist()
    assert ids == [tok.token_to_id["[CLS]"], *tok.encode(frame.text.iloc[row]), tok.token_to_id["[SEP]"]]
    assert data.token_type_ids.eq(0).all()
    assert data.labels.tolist() == [LABELS["sentiment"].index(x) for x in frame.label]


def test_pair_encoding_has_two_segments(tok, frames):
    frame = frames["nli"]["train"]
    data = encode_task("nli", frame, tok, max_length=64)
    sep = tok.token_to_id["[SEP]"]
    for row in range(5):
        ids = data.input_ids[row]
        first_sep = int((ids == sep).nonzero()[0])
        hypothesis = tok.encode(frame.hypothesis.iloc[row])
        assert data.token_type_ids[row, : first_sep + 1].eq(0).all()
        assert data.token_type_ids[row, first_sep + 1 : first_sep + len(hypothesis) + 2].eq(1).all()


def test_tagging_labels_sit_on_each_word(tok, frames):
    frame = frames["tagging"]["train"]
    data = encode_task("tagging", frame, tok, max_length=64)
    for row in range(10):
        labelled = data.labels[row][data.labels[row] != IGNORE_INDEX].tolist()
        assert labelled == [LABELS["tagging"].index(t) for t in frame.tags.iloc[row]]
        assert data.labels[row, 0] == IGNORE_INDEX  # [CLS]


def test_tagging_labels_go_on_the_first_piece_only(tok):
    frame = pd.DataFrame({"tokens": [("Zanzibar", "is", "big")], "tags": [("CITY", "O", "O")]})
    data = encode_task("tagging", frame, tok, max_length=32)
    pieces = len(tok.tokenize("zanzibar"))
    assert pieces > 1
    expected = [IGNORE_INDEX, LABELS["tagging"].index("CITY")] + [IGNORE_INDEX] * (pieces - 1) + [0, 0, IGNORE_INDEX]
    assert data.labels[0].tolist() == expected


def test_unknown_task(tok, frames):
    with pytest.raises(ValueError, match="allowed: sentiment, nli, tagging"):
        encode_task("qa", frames["sentiment"]["train"], tok, 32)


def test_classifier_for_copies_a_pretrained_body(config):
    body = BertModel(config)
    model = classifier_for("sentiment", body)
    assert isinstance(model, BertForSequenceClassification) and model.bert is not body
    assert isinstance(classifier_for("tagging", config), BertForTokenClassification)


def test_probe_trains_only_the_head(tok, config, frames):
    torch.manual_seed(0)
    body = BertModel(config)
    model = classifier_for("sentiment", body, freeze=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = encode_task("sentiment", frames["sentiment"]["train"], tok, 32)
    finetune(model, data, epochs=1, learning_rate=1e-2, batch_size=64)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"classifier.weight", "classifier.bias"}


def test_full_finetuning_learns_seen_sentiment(tok, config, frames):
    torch.manual_seed(0)
    model = classifier_for("sentiment", config)
    train = encode_task("sentiment", frames["sentiment"]["train"], tok, 32)
    test = encode_task("sentiment", frames["sentiment"]["test"], tok, 32)
    losses = finetune(model, train, epochs=8, learning_rate=3e-3, batch_size=32)
    assert sum(losses[-5:]) < sum(losses[:5])
    scores = evaluate("sentiment", model, test, frames["sentiment"]["test"])
    assert scores["seen"] > 0.8, scores


def test_tagging_accuracy_counts_entities_only():
    o, per = LABELS["tagging"].index("O"), LABELS["tagging"].index("PER")
    labels = torch.tensor([[IGNORE_INDEX, per, o, IGNORE_INDEX], [IGNORE_INDEX, o, per, IGNORE_INDEX]])
    predictions = torch.tensor([[0, per, per, 0], [0, o, o, 0]])  # row 0: wrong O, right entity
    assert correct_per_example("tagging", predictions, labels).tolist() == [True, False]


def test_summarize_mean_and_std():
    results = pd.DataFrame({
        "task": ["sentiment"] * 3, "init": ["pretrained"] * 3, "method": ["full"] * 3,
        "seed": [0, 1, 2], "seen": [1.0, 1.0, 1.0], "unseen": [0.8, 0.9, 1.0],
    })  # fmt: skip
    table = summarize(results)
    assert table.loc[("sentiment", "pretrained", "full"), "unseen"] == "0.900 ± 0.100"

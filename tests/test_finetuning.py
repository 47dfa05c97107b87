"""Fine-tuning helpers: task encoding, heads, training, evaluation, the summary table."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from course_utils.config import get_scale
from course_utils.data.world import load_task
from course_utils.finetuning import (
    LABELS,
    TaskData,
    classifier_for,
    compare_initializations,
    correct_per_example,
    encode_task,
    evaluate,
    finetune,
    compare_arms,
    evidence_threshold,
    frozen_features,
    standardize_features,
    initial_body,
    predict,
    run_finetuning,
    summarize,
)
from course_utils.models import BertForSequenceClassification, BertForTokenClassification, BertModel
from course_utils.noising import IGNORE_INDEX
from course_utils.pretraining import tiny_bert_config


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
    losses = finetune(model, train, epochs=8, learning_rate=3e-3, batch_size=32).losses
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


def test_validation_picks_the_epoch_that_is_kept(tok, config, frames):
    torch.manual_seed(0)
    model = classifier_for("sentiment", config)
    train = encode_task("sentiment", frames["sentiment"]["train"], tok, 32)
    validation = encode_task("sentiment", frames["sentiment"]["validation"], tok, 32)
    run = finetune(model, train, epochs=4, learning_rate=3e-3, batch_size=32, validation=validation,
                   task="sentiment", show_progress=False)
    assert len(run.validation) == 4 and run.best_epoch == 1 + max(range(4), key=run.validation.__getitem__)
    kept = correct_per_example("sentiment", predict(model, validation), validation.labels).float().mean().item()
    assert kept == pytest.approx(max(run.validation))
    with pytest.raises(ValueError, match="task="):
        finetune(model, train, 1, 1e-3, validation=validation)


def test_initial_bodies(config):
    torch.manual_seed(5)
    pretrained = BertModel(config)
    assert initial_body("pretrained", pretrained) is pretrained
    scratch, embeddings = initial_body("scratch", pretrained, seed=3), initial_body("embeddings", pretrained, seed=3)
    for name, value in embeddings.state_dict().items():
        source = pretrained if name.startswith("embeddings.") else scratch  # same random layers as scratch
        assert torch.equal(value, source.state_dict()[name]), name
    assert not torch.equal(scratch.embeddings.token_embeddings.weight, pretrained.embeddings.token_embeddings.weight)
    with pytest.raises(ValueError, match="allowed: pretrained, embeddings, scratch"):
        initial_body("frozen", pretrained)


def test_a_probe_on_cached_vectors_trains_the_same_head(tok, config, frames):
    for task in ("sentiment", "tagging"):
        data = encode_task(task, frames[task]["train"], tok, 32)
        torch.manual_seed(0)
        body = BertModel(config)
        torch.manual_seed(1)
        slow = classifier_for(task, body, freeze=True)
        torch.manual_seed(1)
        fast = classifier_for(task, body, freeze=True)
        finetune(slow, data, 1, 1e-2, 32, seed=2, show_progress=False)
        from course_utils.finetuning import _HeadOnFeatures

        finetune(_HeadOnFeatures(fast), frozen_features(task, fast.bert, data), 1, 1e-2, 32, seed=2,
                 show_progress=False)
        torch.testing.assert_close(slow.classifier.weight, fast.classifier.weight)


def test_runs_and_their_table(tok, config, frames):
    sizes = get_scale("smoke").finetune
    torch.manual_seed(0)
    pretrained = BertModel(config)
    one = run_finetuning("nli", frames["nli"], tok, pretrained, sizes, "scratch", "probe", seed=0, train_size=30,
                         show_progress=False)
    assert {"seen", "unseen", "all", "best epoch", "validation", "predicted neutral"} <= set(one)
    assert sum(one[f"predicted {name}"] for name in LABELS["nli"]) == len(frames["nli"]["test"])
    with pytest.raises(ValueError, match="train_size"):
        run_finetuning("nli", frames["nli"], tok, pretrained, sizes, train_size=0)
    results = compare_initializations(["sentiment"], pretrained, tok, sizes, frames,
                                      arms=[("embeddings", "full"), ("scratch", "probe")], train_sizes=(None, 20))
    assert len(results) == 2 * 2 * sizes.seeds
    assert sorted(results["examples"].unique()) == [20, len(frames["sentiment"]["train"])]
    with pytest.raises(ValueError, match="unknown arm"):
        compare_initializations(["sentiment"], pretrained, tok, sizes, frames, arms=[("pretrained", "lora")])


def test_evaluate_can_leave_out_items_the_corpus_contains(tok, config, frames):
    frame = frames["sentiment"]["test"].copy()
    data = encode_task("sentiment", frame, tok, 32)
    torch.manual_seed(0)
    model = classifier_for("sentiment", config)
    right = correct_per_example("sentiment", predict(model, data), data.labels).numpy()
    frame["in_corpus"] = [i % 2 == 0 for i in range(len(frame))]
    scores = evaluate("sentiment", model, data, frame)
    fresh = frame["unseen"].to_numpy() & ~frame["in_corpus"].to_numpy()
    assert scores["unseen, not in corpus"] == pytest.approx(right[fresh].mean())
    assert scores["predicted negative"] + scores["predicted positive"] == len(frame)


def test_standardize_features_uses_the_training_split():
    train = TaskData(torch.tensor([[1.0, 10.0], [3.0, 10.0]]), torch.zeros(2, 1), torch.ones(2, 1),
                     torch.tensor([0, 1]))
    test = TaskData(torch.tensor([[2.0, 12.0]]), torch.zeros(1, 1), torch.ones(1, 1), torch.tensor([0]))
    scaled_train, scaled_test = standardize_features(train, test)
    std = torch.tensor([2.0]).sqrt()  # of (1, 3), ddof 1
    torch.testing.assert_close(scaled_train.input_ids[:, 0], torch.tensor([-1.0, 1.0]) / std)
    torch.testing.assert_close(scaled_test.input_ids[0, 0], torch.tensor(0.0))
    assert scaled_test.input_ids[0, 1] > 1e5  # a constant dimension: std floored, no division by zero
    assert torch.equal(scaled_test.labels, test.labels)


def test_evidence_threshold_is_floored_by_the_items():
    # three seeds at 100 % and one at 99.6 %: the spread alone would call 0.004 evidence
    assert evidence_threshold([0.0, 0.004], [1.0, 0.996], 150) > 0.004
    assert evidence_threshold([0.05, 0.05], [0.7, 0.5], 10_000) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        evidence_threshold([0.1], [0.5, 0.5], 10)


def test_compare_arms_gives_a_verdict_per_task():
    rows = [{"task": "sentiment", "init": init, "method": "full", "seed": seed, "unseen": value}
            for init, values in (("pretrained", (0.9, 0.92, 0.91)), ("scratch", (0.5, 0.52, 0.51)))
            for seed, value in enumerate(values)]
    table = compare_arms(pd.DataFrame(rows), "unseen", ("pretrained", "full"), ("scratch", "full"),
                         {"sentiment": 150})
    assert table.loc["sentiment", "verdict"] == "evidence"
    assert table.loc["sentiment", "difference"] == pytest.approx(0.4)

"""The checkers of notebooks 04 and 05 accept right answers and explain wrong ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks.bert import (
    CLS,
    SEP,
    check_accuracy,
    check_classification_head,
    check_mask_tokens,
    check_masked_lm_loss,
    check_nsp_pair,
)
from course_utils.finetuning import predict
from course_utils.noising import make_nsp_pair, mask_tokens, masked_lm_loss


def package_mask(ids, mask_id, vocab_size, special_ids, generator):
    return mask_tokens(ids, mask_id=mask_id, vocab_size=vocab_size, special_ids=special_ids,
                       generator=generator)


def package_pair(documents, doc_index, sentence_index, rng, max_length):
    return tuple(make_nsp_pair(documents, doc_index, sentence_index, max_length=max_length,
                               cls_id=CLS, sep_id=SEP, rng=rng))


class Head(nn.Module):
    def __init__(self, d_model, num_labels):
        super().__init__()
        self.linear = nn.Linear(d_model, num_labels)

    def forward(self, hidden):
        return self.linear(hidden[:, 0])


def package_accuracy(model, data):
    return (predict(model, data) == data.labels).float().mean().item()


def test_reference_answers_pass(capsys):
    check_mask_tokens(package_mask)
    check_mask_tokens(lambda *args: mask_tokens(
        args[0], mask_id=args[1], vocab_size=args[2], special_ids=args[3], generator=args[4],
        mode="exact"))  # the exact-count mode is right too
    check_nsp_pair(package_pair)
    check_masked_lm_loss(lambda logits, labels: masked_lm_loss(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)))
    check_classification_head(Head)
    check_accuracy(package_accuracy)
    assert capsys.readouterr().out.count("✅") == 6


def test_masking_without_the_10_10_is_caught():
    def always_mask(ids, mask_id, vocab_size, special_ids, generator):
        inputs, labels = package_mask(ids, mask_id, vocab_size, special_ids, generator)
        return torch.where(labels != -100, torch.full_like(ids, mask_id), ids), labels

    with pytest.raises(AssertionError, match="turned into \\[MASK\\]"):
        check_mask_tokens(always_mask)


def test_masking_specials_is_caught():
    def everything(ids, mask_id, vocab_size, special_ids, generator):
        return package_mask(ids, mask_id, vocab_size, (), generator)

    with pytest.raises(AssertionError, match="special token"):
        check_mask_tokens(everything)


def test_wrong_masking_rate_is_caught():
    def too_many(ids, mask_id, vocab_size, special_ids, generator):
        return mask_tokens(ids, mask_id=mask_id, vocab_size=vocab_size, special_ids=special_ids,
                           generator=generator, rate=0.2)

    with pytest.raises(AssertionError, match="selected"):
        check_mask_tokens(too_many)


def test_in_place_masking_is_caught():
    def in_place(ids, mask_id, vocab_size, special_ids, generator):
        inputs, labels = package_mask(ids, mask_id, vocab_size, special_ids, generator)
        ids.copy_(inputs)
        return ids, labels

    with pytest.raises(AssertionError, match="in place"):
        check_mask_tokens(in_place)


def test_nsp_pair_always_next_is_caught():
    def always_next(documents, d, s, rng, max_length):
        return tuple(make_nsp_pair(documents, d, s, max_length=max_length, cls_id=CLS, sep_id=SEP,
                                   rng=rng, next_probability=1.0))

    with pytest.raises(AssertionError, match="IS_NEXT"):
        check_nsp_pair(always_next)


def test_nsp_pair_wrong_truncation_is_caught():
    def cut_front(documents, d, s, rng, max_length):
        ids, types, label = package_pair(documents, d, s, rng, 64)
        first = ids.index(SEP)
        a, b = ids[1:first], ids[first + 1 : -1]
        while len(a) + len(b) + 3 > max_length:
            (a if len(a) > len(b) else b).pop(0)
        return [CLS, *a, SEP, *b, SEP], [0] * (len(a) + 2) + [1] * (len(b) + 1), label

    with pytest.raises(AssertionError, match="longer segment"):
        check_nsp_pair(cut_front)


def test_nsp_pair_wrong_segments_are_caught():
    def all_zero(documents, d, s, rng, max_length):
        ids, types, label = package_pair(documents, d, s, rng, max_length)
        return ids, [0] * len(ids), label

    with pytest.raises(AssertionError, match="token_type_ids"):
        check_nsp_pair(all_zero)


def test_loss_over_all_positions_is_caught():
    def everywhere(logits, labels):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).clamp(min=0))

    with pytest.raises(AssertionError, match="masked_lm_loss"):
        check_masked_lm_loss(everywhere)


def test_head_on_the_mean_is_caught():
    class MeanHead(Head):
        def forward(self, hidden):
            return self.linear(hidden.mean(1))

    with pytest.raises(AssertionError, match="hidden\\[:, 0\\]"):
        check_classification_head(MeanHead)


def test_accuracy_without_eval_is_caught():
    def train_mode_accuracy(model, data):
        with torch.no_grad():
            logits = model(data.input_ids, data.token_type_ids, data.attention_mask)
        return (logits.argmax(-1) == data.labels).float().mean().item()

    with pytest.raises(AssertionError, match="eval"):
        check_accuracy(train_mode_accuracy)

"""The notebook 06 checkers pass correct solutions and fail wrong ones with a useful message."""

import pytest
import torch
import torch.nn.functional as F

from course_utils import decoding, lm
from course_utils.checks import code_hint
from course_utils.checks.gpt import check_combined_loss, check_next_token_loss, check_top_p_filter


def own_next_token_loss(logits, input_ids, attention_mask=None):
    targets = input_ids[:, 1:]
    if attention_mask is not None:
        targets = targets.masked_fill(attention_mask[:, 1:] == 0, -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def unshifted_loss(logits, input_ids, attention_mask=None):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), input_ids.reshape(-1))


def padding_counted(logits, input_ids, attention_mask=None):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


def own_top_p(logits, p):
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs
    drop_sorted = before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def top_p_one_too_few(logits, p):  # keeps tokens while the mass *including* them is below p
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    drop_sorted = sorted_probs.cumsum(-1) >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def own_combined(class_logits, labels, lm_logits, input_ids, attention_mask, lm_weight):
    return F.cross_entropy(class_logits, labels) + lm_weight * own_next_token_loss(lm_logits, input_ids, attention_mask)


def combined_without_weight(class_logits, labels, lm_logits, input_ids, attention_mask, lm_weight):
    return F.cross_entropy(class_logits, labels) + own_next_token_loss(lm_logits, input_ids, attention_mask)


def combined_through_the_package(class_logits, labels, lm_logits, input_ids, attention_mask, lm_weight):
    return F.cross_entropy(class_logits, labels) + lm_weight * lm.next_token_loss(lm_logits, input_ids, attention_mask)


def test_correct_solutions_pass(capsys):
    check_next_token_loss(own_next_token_loss)
    check_top_p_filter(own_top_p)
    check_combined_loss(own_combined)
    assert capsys.readouterr().out.count("✅") == 3


@pytest.mark.parametrize("wrong, words", [
    (unshifted_loss, r"token t \+ 1"),
    (padding_counted, "padding"),
])
def test_wrong_losses_get_a_hint(wrong, words):
    with pytest.raises(AssertionError, match=words):
        check_next_token_loss(wrong)


def loss_writing_into_its_input(logits, input_ids, attention_mask=None):
    targets = input_ids[:, 1:]  # a view: writing into it changes the caller's ids
    if attention_mask is not None:
        targets[attention_mask[:, 1:] == 0] = -100
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def test_a_loss_that_changes_its_input_fails():
    with pytest.raises(AssertionError, match="in place"):
        check_next_token_loss(loss_writing_into_its_input)


def test_a_nucleus_one_token_short_fails():
    with pytest.raises(AssertionError, match="nucleus"):
        check_top_p_filter(top_p_one_too_few)


def test_combined_loss_needs_the_weight():
    with pytest.raises(AssertionError, match="lm_weight"):
        check_combined_loss(combined_without_weight)


@pytest.mark.parametrize("check, package", [
    (check_next_token_loss, lm.next_token_loss),
    (check_top_p_filter, decoding.top_p_filter),
])
def test_the_package_functions_are_refused(check, package):
    with pytest.raises(AssertionError):
        check(package)


def test_a_wrapper_around_the_package_fails():
    with pytest.raises(AssertionError):
        check_top_p_filter(lambda logits, p: decoding.top_p_filter(logits, p))
    with pytest.raises(AssertionError):
        check_combined_loss(combined_through_the_package)


def test_unwritten_exercise_says_so():
    def unwritten(*args):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not written yet"):
        check_next_token_loss(unwritten)


@pytest.mark.parametrize("name", ["next_token_loss", "top_p_filter", "combined_loss"])
def test_code_hints_exist(name, capsys):
    code_hint(name)
    assert capsys.readouterr().out.strip()

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
from course_utils.noising import IS_NEXT, NOT_NEXT, make_nsp_pair, mask_tokens, masked_lm_loss


def package_mask(ids, mask_id, vocab_size, special_ids, generator):
    """A test-local solution (the package's mask_tokens is disabled while the checks run)."""
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    selected = (torch.rand(ids.shape, generator=generator) < 0.15) & ~special
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    draw = torch.rand(ids.shape, generator=generator)
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)])
    random_words = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]
    inputs = ids.clone()
    inputs[selected & (draw < 0.8)] = mask_id
    use_random = selected & (draw >= 0.8) & (draw < 0.9)
    inputs[use_random] = random_words[use_random]
    return inputs, labels


def package_pair(documents, doc_index, sentence_index, rng, max_length):
    """A test-local solution (the package's make_nsp_pair is disabled while the checks run)."""
    a = list(documents[doc_index][sentence_index])
    if rng.random() < 0.5:
        b, label = list(documents[doc_index][sentence_index + 1]), IS_NEXT
    else:
        other = rng.choice([d for d in range(len(documents)) if d != doc_index])
        b, label = list(rng.choice(documents[other])), NOT_NEXT
    while len(a) + len(b) + 3 > max_length:
        (a if len(a) > len(b) else b).pop()
    return [CLS, *a, SEP, *b, SEP], [0] * (len(a) + 2) + [1] * (len(b) + 1), label


def local_loss(logits, labels):
    keep = labels.reshape(-1) != -100
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1])[keep], labels.reshape(-1)[keep])


class Head(nn.Module):
    def __init__(self, d_model, num_labels):
        super().__init__()
        self.linear = nn.Linear(d_model, num_labels)

    def forward(self, hidden):
        return self.linear(hidden[:, 0])


def package_accuracy(model, data):  # a test-local solution: predict() is disabled in the checks
    model.eval()
    with torch.no_grad():
        logits = model(data.input_ids, data.token_type_ids, data.attention_mask)
    return (logits.argmax(-1) == data.labels).float().mean().item()


def test_accuracy_wrapping_the_package_fails_visibly():
    with pytest.raises(AssertionError, match="predict"):
        check_accuracy(lambda model, data: (predict(model, data) == data.labels).float().mean().item())


def test_accuracy_must_return_a_float():
    def tensor_accuracy(model, data):
        return torch.tensor(package_accuracy(model, data))

    with pytest.raises(AssertionError, match="Python float"):
        check_accuracy(tensor_accuracy)


def test_reference_answers_pass(capsys):
    check_mask_tokens(package_mask)
    check_nsp_pair(package_pair)
    check_masked_lm_loss(local_loss)
    check_classification_head(Head)
    check_accuracy(package_accuracy)
    assert capsys.readouterr().out.count("✅") == 5


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
        special = torch.isin(ids, torch.tensor(list(special_ids)))
        selected = (torch.rand(ids.shape, generator=generator) < 0.2) & ~special  # 20 %, not 15 %
        inputs = torch.where(selected, torch.full_like(ids, mask_id), ids)
        return inputs, torch.where(selected, ids, torch.full_like(ids, -100))

    with pytest.raises(AssertionError, match="selected"):
        check_mask_tokens(too_many)


def test_in_place_masking_is_caught():
    def in_place(ids, mask_id, vocab_size, special_ids, generator):
        inputs, labels = package_mask(ids, mask_id, vocab_size, special_ids, generator)
        ids.copy_(inputs)
        return ids, labels

    with pytest.raises(AssertionError, match="in place"):
        check_mask_tokens(in_place)


def always_next(documents, d, s, rng, max_length):  # B is always the next sentence
    a, b = list(documents[d][s]), list(documents[d][s + 1])
    while len(a) + len(b) + 3 > max_length:
        (a if len(a) > len(b) else b).pop()
    return [CLS, *a, SEP, *b, SEP], [0] * (len(a) + 2) + [1] * (len(b) + 1), IS_NEXT


def cut_front(documents, d, s, rng, max_length):  # truncates from the front
    ids, types, label = package_pair(documents, d, s, rng, 64)
    first = ids.index(SEP)
    a, b = ids[1:first], ids[first + 1 : -1]
    while len(a) + len(b) + 3 > max_length:
        (a if len(a) > len(b) else b).pop(0)
    return [CLS, *a, SEP, *b, SEP], [0] * (len(a) + 2) + [1] * (len(b) + 1), label


def all_zero(documents, d, s, rng, max_length):  # every token in segment 0
    ids, types, label = package_pair(documents, d, s, rng, max_length)
    return ids, [0] * len(ids), label


@pytest.mark.parametrize(
    "wrong_pair, message",
    [(always_next, "IS_NEXT"), (cut_front, "longer segment"), (all_zero, "token_type_ids")],
    ids=["always-next", "wrong-truncation", "wrong-segments"],
)
def test_wrong_nsp_pairs_are_caught(wrong_pair, message):
    with pytest.raises(AssertionError, match=message):
        check_nsp_pair(wrong_pair)


def test_loss_over_all_positions_is_caught():
    def everywhere(logits, labels):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).clamp(min=0))

    with pytest.raises(AssertionError, match="masked_lm_loss"):
        check_masked_lm_loss(everywhere)


def test_head_on_the_mean_is_caught():
    class MeanHead(Head):
        def forward(self, hidden):
            return self.linear(hidden.mean(1))

    with pytest.raises(AssertionError, match="\\[CLS\\] vector"):
        check_classification_head(MeanHead)


def test_accuracy_without_eval_is_caught():
    def train_mode_accuracy(model, data):
        with torch.no_grad():
            logits = model(data.input_ids, data.token_type_ids, data.attention_mask)
        return (logits.argmax(-1) == data.labels).float().mean().item()

    with pytest.raises(AssertionError, match="eval"):
        check_accuracy(train_mode_accuracy)


def test_hints_are_words_and_code_is_on_request(capsys):
    import re

    from course_utils.checks import code_hint

    def copy_labels(ids, mask_id, vocab_size, special_ids, generator):
        inputs, labels = package_mask(ids, mask_id, vocab_size, special_ids, generator)
        return inputs, torch.where(labels != -100, labels + 1, labels)

    with pytest.raises(AssertionError) as failure:
        check_mask_tokens(copy_labels)
    message = str(failure.value)
    assert "code_hint('mask_tokens')" in message
    hint = message.split("hint:")[1].split("\n")[0]
    assert not re.search(r"[=()\[\]]|torch\.|\.clone", hint), hint  # an idea, not code
    for name in ("mask_tokens", "nsp_pair", "masked_lm_loss"):
        code_hint(name)
    assert capsys.readouterr().out.count("Code hint for") == 3


def test_the_package_functions_never_pass():
    with pytest.raises(AssertionError, match="package's own"):
        check_mask_tokens(mask_tokens)
    with pytest.raises(AssertionError, match="package's own"):
        check_nsp_pair(make_nsp_pair)
    with pytest.raises(AssertionError, match="package's own"):
        check_masked_lm_loss(masked_lm_loss)


# ---------------------------------------------------------------- notebook 05's two exercises
def test_head_built_on_a_package_class_is_refused():
    from course_utils.models import BertForSequenceClassification

    class Borrowed(BertForSequenceClassification):
        pass

    with pytest.raises(AssertionError, match="builds on the package's BertForSequenceClassification"):
        check_classification_head(Borrowed)


def test_head_and_accuracy_hints_are_words(capsys):
    import re

    from course_utils.checks import code_hint

    class SecondTokenHead(Head):
        def forward(self, hidden):
            return self.linear(hidden[:, 1])

    def train_mode_accuracy(model, data):
        logits = model(data.input_ids, data.token_type_ids, data.attention_mask)
        return (logits.argmax(-1) == data.labels).float().mean().item()

    for check, wrong, name in ((check_classification_head, SecondTokenHead, "ClassificationHead"),
                               (check_accuracy, train_mode_accuracy, "accuracy")):
        with pytest.raises(AssertionError) as failure:
            check(wrong)
        message = str(failure.value)
        assert f"code_hint({name!r})" in message
        hint = message.split("hint:")[1].split("\n")[0].replace("[CLS]", "CLS")  # a token's name
        assert not re.search(r"=|\[:|torch\.|\w\(|\.\w+\(", hint), hint  # no assignment, slice or call
        code_hint(name)
    assert capsys.readouterr().out.count("Code hint for") == 2


def _hidden_test(grade_id):
    """The source of a graded cell of notebook 05, hidden tests included."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "notebooks" / "05_bert_finetuning.ipynb"
    cells = json.loads(path.read_text())["cells"]
    source = next("".join(c["source"]) for c in cells
                  if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    assert "### BEGIN HIDDEN TESTS" in source
    return source


def _run_cell(source, namespace):
    exec(compile(source, "<notebook 05 test cell>", "exec"), namespace)


def test_hidden_accuracy_test_needs_own_work():
    source = _hidden_test("accuracy_tests")
    right = {"torch": torch, "nn": nn}
    exec("def accuracy(model, data):\n    model.eval()\n    with torch.no_grad():\n"
         "        logits = model(data.input_ids, data.token_type_ids, data.attention_mask)\n"
         "    return (logits.argmax(-1) == data.labels).float().mean().item()\n", right)
    _run_cell(source, right)  # a correct solution passes
    lazy = {"torch": torch, "nn": nn}
    exec("from course_utils.finetuning import predict\n"
         "def accuracy(model, data):\n    return (predict(model, data) == data.labels).float().mean().item()\n",
         lazy)
    with pytest.raises(AssertionError, match="calls the package's predict"):
        _run_cell(source, lazy)  # passes the visible checks, fails the hidden ones
    grad = {"torch": torch, "nn": nn}
    exec("def accuracy(model, data):\n    model.eval()\n"
         "    logits = model(data.input_ids, data.token_type_ids, data.attention_mask)\n"
         "    return (logits.argmax(-1) == data.labels).float().mean().item()\n", grad)
    with pytest.raises(AssertionError, match="no gradients"):
        _run_cell(source, grad)  # the visible checks do not test for gradients


def test_hidden_head_test_needs_own_work():
    source = _hidden_test("classification_head_tests")
    right = {"torch": torch, "nn": nn, "ClassificationHead": Head}
    _run_cell(source, right)
    from course_utils.models import BertForSequenceClassification

    class Borrowed(BertForSequenceClassification):
        pass

    with pytest.raises(AssertionError):
        _run_cell(source.split("### BEGIN HIDDEN TESTS")[1], {"torch": torch, "nn": nn, "ClassificationHead": Borrowed})

    class NoBias(nn.Module):  # passes the visible checks' shapes but drops the bias
        def __init__(self, d_model, num_labels):
            super().__init__()
            self.linear = nn.Linear(d_model, num_labels)

        def forward(self, hidden):
            return hidden[:, 0] @ self.linear.weight.T

    with pytest.raises(AssertionError):
        _run_cell(source.split("### BEGIN HIDDEN TESTS")[1], {"torch": torch, "nn": nn, "ClassificationHead": NoBias})

    class Detached(Head):  # passes the visible checks, but no gradient reaches the body
        def forward(self, hidden):
            return self.linear(hidden[:, 0].detach())

    with pytest.raises(AssertionError, match="gradient"):
        _run_cell(source, {"torch": torch, "nn": nn, "ClassificationHead": Detached})


def test_thin_wrappers_fail_the_visible_checks():
    with pytest.raises(AssertionError, match="calls the package's mask_tokens"):
        check_mask_tokens(lambda ids, m, v, s, g: mask_tokens(ids, mask_id=m, vocab_size=v,
                                                               special_ids=s, generator=g))
    with pytest.raises(AssertionError, match="calls the package's make_nsp_pair"):
        check_nsp_pair(lambda docs, d, s, rng, n: tuple(make_nsp_pair(docs, d, s, max_length=n, cls_id=CLS,
                                                                      sep_id=SEP, rng=rng)))
    with pytest.raises(AssertionError, match="calls the package's masked_lm_loss"):
        check_masked_lm_loss(lambda logits, labels: masked_lm_loss(logits[labels != -100],
                                                                   labels[labels != -100]))


def test_nsp_pair_changing_the_documents_is_caught():
    def shortens_in_place(documents, d, s, rng, max_length):
        a, b = documents[d][s], documents[d][s + 1]  # no copies
        while len(a) + len(b) + 3 > max_length:
            (a if len(a) > len(b) else b).pop()
        return [CLS, *a, SEP, *b, SEP], [0] * (len(a) + 2) + [1] * (len(b) + 1), IS_NEXT

    with pytest.raises(AssertionError, match="changed the documents"):
        check_nsp_pair(shortens_in_place)

"""The checkers of notebook 08's exercises pass a right answer and fail wrong ones, the package's
own function, a wrapper around it, and an unwritten stub; the notebook's hidden tests fail a
wrapper too."""

from __future__ import annotations

import math

import nbformat
import pytest
import torch

from course_utils.analysis import heads as H
from course_utils.checks import code_hint
from course_utils.checks.heads import check_against_package, check_head_accuracy, check_head_entropy
from notebook_files import ROOT


def head_entropy(attention):
    p = attention.clamp_min(1e-12)
    return (-(p * p.log()).sum(-1)).mean(-1)


def head_accuracy(word_weights, gold_heads):
    weights = word_weights.clone()
    weights.fill_diagonal_(float("-inf"))
    predicted = weights.argmax(-1)
    arcs = [(w, h) for w, h in enumerate(gold_heads) if h >= 0]
    return sum(int(predicted[w]) == h for w, h in arcs), len(arcs)


def entropy_through_the_package(attention):
    length = attention.shape[-1]
    sample = H.AttentionSample(["x"] * length, attention, list(range(length)))
    return torch.tensor(H.attention_entropy([sample])[0])


def accuracy_through_the_package(word_weights, gold_heads):
    length = len(gold_heads)
    sample = H.AttentionSample(["x"] * length, word_weights[None, None], list(range(length)), list(gold_heads),
                               ["r"] * length)
    accuracy, arcs = H.dependency_accuracy([sample])
    return round(float(accuracy[0, 0]) * arcs), arcs


def test_right_answers_pass(capsys):
    check_head_entropy(head_entropy)
    check_head_accuracy(head_accuracy)
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize("check, wrong, message", [
    (check_head_entropy, lambda a: (-(a * a.log()).sum(-1)).mean(-1), "contains nan"),  # 0 * log 0 = nan
    (check_head_entropy, lambda a: (-(a.clamp_min(1e-12) * a.clamp_min(1e-12).log()).sum(-1)).sum(-1), "Check 1/4"),
    (check_head_entropy, lambda a: (-(a.clamp_min(1e-12) * a.clamp_min(1e-12).log2()).sum(-1)).mean(-1), "Check 1/4"),
    (check_head_accuracy, lambda w, g: (sum(int(w[i].argmax()) == h for i, h in enumerate(g) if h >= 0),
                                         sum(h >= 0 for h in g)), "other"),  # may predict the word itself
    (check_head_accuracy, lambda w, g: (sum(int(w[i].argmax()) == h for i, h in enumerate(g)), len(g)), "root"),
])
def test_wrong_answers_fail_with_a_hint(check, wrong, message):
    with pytest.raises(AssertionError, match=message):
        check(wrong)


@pytest.mark.parametrize("check, package", [(check_head_entropy, H.attention_entropy),
                                            (check_head_accuracy, H.dependency_accuracy)])
def test_the_package_functions_are_refused(check, package):
    with pytest.raises(AssertionError, match="package's own"):
        check(package)


@pytest.mark.parametrize("check, wrapper", [(check_head_entropy, entropy_through_the_package),
                                            (check_head_accuracy, accuracy_through_the_package)])
def test_a_wrapper_around_the_package_fails(check, wrapper):
    with pytest.raises(AssertionError, match="write it yourself"):
        check(wrapper)


@pytest.mark.parametrize("check", [check_head_entropy, check_head_accuracy])
def test_unwritten_exercise_says_so(check):
    def unwritten(*args):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not written yet"):
        check(unwritten)


@pytest.mark.parametrize("name", ["head_entropy", "head_accuracy"])
def test_code_hints_exist(name, capsys):
    code_hint(name)
    assert capsys.readouterr().out.strip()


def test_check_against_package_compares_head_by_head(capsys):
    check_against_package([[0.5, 0.25]], [[0.5, 0.25]])
    assert "agrees" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="other accuracies"):
        check_against_package([[0.5, 0.25]], [[0.5, 0.3]])


def hidden_tests(grade_id: str) -> str:
    notebook = nbformat.read(ROOT / "notebooks" / "08_attention_heads.ipynb", as_version=4)
    [cell] = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]


@pytest.mark.parametrize("grade_id, name, right, wrapper", [
    ("head_entropy_tests", "head_entropy", head_entropy, entropy_through_the_package),
    ("head_accuracy_tests", "head_accuracy", head_accuracy, accuracy_through_the_package),
])
def test_the_notebooks_hidden_tests_pass_a_solution_and_fail_a_wrapper(grade_id, name, right, wrapper):
    code = compile(hidden_tests(grade_id), f"08:{grade_id}", "exec")
    exec(code, {"torch": torch, "math": math, name: right})
    with pytest.raises(AssertionError, match="write it yourself"):
        exec(code, {"torch": torch, "math": math, name: wrapper})

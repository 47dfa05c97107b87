"""The shared checker machinery: package functions never pass for the student's (checks/core.py)."""

import functools

import pytest

from course_utils.checks import Case, NotYourOwnWork, own_work, run_checks
from course_utils.tokenization import merge_pair, train_bpe

CASES = [Case((("a", "b", "c"), ("b", "c")), ("a", "bc"))]


def test_run_checks_refuses_the_package_function_itself():
    with pytest.raises(AssertionError, match="package's own"):
        run_checks("merge_pair", merge_pair, CASES)


def test_a_wrapper_passes_unless_the_reference_is_forbidden(capsys):
    def wrapper(symbols, pair):
        return merge_pair(symbols, pair)

    run_checks("merge_pair", wrapper, CASES)
    assert "✅" in capsys.readouterr().out
    with pytest.raises(NotYourOwnWork, match="wrapper calls the package's merge_pair"):
        run_checks("merge_pair", wrapper, CASES, forbid=(merge_pair,))


@pytest.mark.parametrize("route", ["default argument", "partial", "module attribute"])
def test_own_work_catches_every_route_to_the_package(route):
    import course_utils.tokenization as package

    alias = functools.partial(merge_pair)
    solutions = {
        "default argument": lambda symbols, pair, merge=merge_pair: merge(symbols, pair),
        "partial": lambda symbols, pair: alias(symbols, pair),
        "module attribute": lambda symbols, pair: package.merge_pair(symbols, pair),
    }
    with pytest.raises(NotYourOwnWork), own_work(solutions[route], merge_pair):
        solutions[route](("a", "b"), ("a", "b"))
    assert solutions[route](("a", "b"), ("a", "b")) == ("ab",)  # restored afterwards


def test_own_work_restores_after_an_error_and_disables_classes():
    class Base:
        def __init__(self):
            self.ready = True

    Base.__module__ = "course_utils.fake"

    class Student(Base):
        pass

    def solution():
        return Student()

    with pytest.raises(NotYourOwnWork), own_work(solution, Base, train_bpe):
        solution()
    assert solution().ready and train_bpe("a b", 1).merges


def test_own_work_names_what_it_cannot_disable():
    with pytest.raises(TypeError, match="plain functions and classes"), own_work(lambda: 0, len):
        pass


def test_decorated_package_functions_are_refused_and_disabled():
    import torch

    from course_utils.checks.core import _is_package_function
    from course_utils.decoding import generate

    assert _is_package_function(generate)  # behind @torch.no_grad()

    def student(*args, **kwargs):
        return generate(*args, **kwargs)

    with own_work(student, generate):
        with pytest.raises(NotYourOwnWork):
            generate(None, None, 1)
    with pytest.raises(ValueError):  # restored: its own argument checks run again
        generate(None, torch.zeros(2, dtype=torch.long), 1)

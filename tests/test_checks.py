"""The exercise checkers accept right answers, explain wrong ones and refuse borrowed ones."""

import re

import pytest

from course_utils import checks
from course_utils.checks import code_hint, own_work
from course_utils.checks.core import _CODE_HINTS
from course_utils.checks.tokenization import CASES
from course_utils.tokenization import count_pairs, merge_pair, split_word, train_bpe, word_counts
from course_utils.tokenization import word_bpe


# Right answers written outside the package (the checkers refuse the package's own functions).
def own_word_counts(text):
    return word_counts(text)


def own_count_pairs(vocab):
    return count_pairs(vocab)


def own_merge_pair(symbols, pair):
    return merge_pair(symbols, pair)


def loop_with_package(words, num_merges):
    return train_bpe(words, num_merges, tie_break="first").merges


CHECKERS = {
    "word_counts": (checks.check_word_counts, own_word_counts, word_counts),
    "count_pairs": (checks.check_count_pairs, own_count_pairs, count_pairs),
    "merge_pair": (checks.check_merge_pair, own_merge_pair, merge_pair),
    "train_bpe_loop": (checks.check_train_bpe_loop, loop_with_package, train_bpe),
}


@pytest.mark.parametrize("name", CHECKERS)
def test_reference_answers_pass(name, capsys):
    check, right_answer, _ = CHECKERS[name]
    check(right_answer)
    assert f"✅ {name}" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["word_counts", "count_pairs", "merge_pair"])
def test_the_package_function_itself_is_refused(name):
    check, _, package_function = CHECKERS[name]
    with pytest.raises(AssertionError, match=rf"{name} is the package's own .*Run the cell"):
        check(package_function)


def not_written(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("name", CHECKERS)
def test_unwritten_exercise_says_so(name):
    with pytest.raises(AssertionError, match="not written yet"):
        CHECKERS[name][0](not_written)


# Code looks like a call `f(x)`, an index `a[i]`, an assignment `x = 1`, a comparison `==`,
# an attribute `text.split` or a literal tuple `('a', 'b')`; words never do.
CODE = re.compile(r"\w\(|\w\[|[=<>!]=|\s=\s|\w\.\w|\(\s*['\"]|`")


@pytest.mark.parametrize("name", CASES)
def test_hints_say_the_idea_not_the_code(name):
    hints = [case.hint for case in CASES[name]()]
    assert all(hints), f"{name}: every case should carry a hint"
    for hint in hints:
        assert not CODE.search(hint), f"{name}: the hint {hint!r} gives code"


def test_the_code_pattern_spots_code():
    for code in ["split on whitespace with text.split()", "max(pairs, key=pairs.get)",
                 "counts[word] += 1", "i = i + 2", "('a','a','a','b') becomes ('aa','a','b')"]:
        assert CODE.search(code), code


@pytest.mark.parametrize("name", CASES)
def test_code_hint_prints_the_registered_code(name, capsys):
    code_hint(name)
    printed = capsys.readouterr().out
    assert name in printed and _CODE_HINTS[name] in printed
    assert CODE.search(_CODE_HINTS[name]), "a code hint should hold code"


def test_a_failure_points_at_the_code_hint():
    def dict_of_nothing(text):
        return {}

    with pytest.raises(AssertionError, match=r"hint: .*\n.*code_hint\('word_counts'\)"):
        checks.check_word_counts(dict_of_nothing)


def test_own_work_fails_a_solution_that_calls_the_package_and_restores_it():
    def lazy_word_counts(text):  # calls the package through its module
        return word_bpe.word_counts(text)

    def calls_by_name(text):  # calls the name this test module imported
        return word_counts(text)

    for lazy in (lazy_word_counts, calls_by_name):
        with own_work(lazy, word_counts):
            with pytest.raises(AssertionError, match="calls the package's word_counts"):
                lazy("a b a")
        assert lazy("a b a") == {"a": 2, "b": 1}, "the package's function is back after the block"
    assert word_bpe.word_counts is word_counts and globals()["word_counts"] is word_counts


def test_own_work_restores_the_package_when_the_block_raises():
    def lazy(symbols, pair):
        return merge_pair(symbols, pair)

    with pytest.raises(ZeroDivisionError):
        with own_work(lazy, merge_pair, count_pairs):
            1 / 0
    assert globals()["merge_pair"] is merge_pair and globals()["count_pairs"] is count_pairs
    assert checks.tokenization.merge_pair is merge_pair
    assert lazy(("a", "b"), ("a", "b")) == ("ab",)


def test_own_work_lets_a_students_own_helpers_through():
    def my_count_pairs(vocab):  # the student's own, from the earlier exercise
        pairs = {}
        for symbols, count in vocab.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] = pairs.get(pair, 0) + count
        return pairs

    def loop_on_own_helpers(words, num_merges):
        vocab = {split_word(word): count for word, count in words.items()}
        merges = []
        for _ in range(num_merges):
            pairs = my_count_pairs(vocab)
            if not pairs:
                break
            best = max(pairs, key=pairs.get)
            vocab = {own_merge_pair(symbols, best): count for symbols, count in vocab.items()}
            merges.append(best)
        return merges

    def own_merge_pair(symbols, pair):
        merged, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        return tuple(merged)

    with own_work(loop_on_own_helpers, train_bpe, count_pairs, merge_pair):
        assert loop_on_own_helpers({"aaaa": 1}, 5) == [("a", "a"), ("aa", "aa"), ("aaaa", "</w>")]


def test_own_work_refuses_the_package_function_itself():
    with pytest.raises(AssertionError, match="package's own"):
        with own_work(merge_pair, merge_pair):
            pass


def test_wrong_answers_fail_with_a_hint():
    def sorted_pairs(vocab):  # right counts, wrong order
        return dict(sorted(count_pairs(vocab).items()))

    with pytest.raises(AssertionError, match="hint: .*order"):
        checks.check_count_pairs(sorted_pairs)

    def first_only(symbols, pair):  # merges only the first occurrence
        for i in range(len(symbols) - 1):
            if (symbols[i], symbols[i + 1]) == pair:
                return symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]
        return symbols

    with pytest.raises(AssertionError, match="every occurrence"):
        checks.check_merge_pair(first_only)

    def lexical_loop(words, num_merges):
        return train_bpe(words, num_merges, tie_break="lexical").merges

    with pytest.raises(AssertionError, match="returned"):
        checks.check_train_bpe_loop(lexical_loop)


def test_crash_in_student_code_is_reported():
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        checks.check_word_counts(lambda text: 1 / 0)


def test_not_a_function():
    with pytest.raises(AssertionError, match="should be a function"):
        checks.check_merge_pair(42)


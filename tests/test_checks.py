"""The exercise checkers accept right answers and explain wrong ones."""

import pytest

from course_utils import checks
from course_utils.tokenization import count_pairs, merge_pair, split_word, train_bpe, word_counts


def loop_with_package(words, num_merges):
    return train_bpe(words, num_merges, tie_break="first").merges


@pytest.mark.parametrize("check, function", [
    (checks.check_word_counts, word_counts),
    (checks.check_count_pairs, count_pairs),
    (checks.check_merge_pair, merge_pair),
    (checks.check_train_bpe_loop, loop_with_package),
])
def test_reference_answers_pass(check, function, capsys):
    check(function)
    assert "✅" in capsys.readouterr().out


def not_written(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("check", [checks.check_word_counts, checks.check_count_pairs,
                                   checks.check_merge_pair, checks.check_train_bpe_loop])
def test_unwritten_exercise_says_so(check):
    with pytest.raises(AssertionError, match="not written yet"):
        check(not_written)


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


def test_split_word_is_what_the_loop_hint_names():
    assert split_word("ab") == ("a", "b", "</w>")

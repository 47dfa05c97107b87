"""The exercise checkers accept right answers, explain wrong ones and refuse borrowed ones."""

import functools
import re

import pytest

from course_utils import checks
from course_utils.checks import code_hint, own_work
from course_utils.checks.core import _CODE_HINTS
from course_utils.checks.tokenization import CASES
from course_utils.tokenization import (
    LECTURE_CORPUS,
    count_pairs,
    merge_pair,
    split_word,
    train_bpe,
    word_counts,
)
from course_utils.tokenization import bpe_core, word_bpe
from notebook_files import ROOT, read


# Right answers written here, as a student would (the checkers refuse the package's functions,
# and disable them while the student's function runs).
def own_word_counts(text):
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


def own_count_pairs(vocab):
    pairs = {}
    for symbols, count in vocab.items():
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] = pairs.get(pair, 0) + count
    return pairs


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


def own_loop(words, num_merges, count=own_count_pairs, merge=own_merge_pair):
    vocab = {split_word(word): n for word, n in words.items()}
    merges = []
    for _ in range(num_merges):
        pairs = count(vocab)
        if not pairs:
            break
        best = max(pairs, key=pairs.get)
        vocab = {merge(symbols, best): n for symbols, n in vocab.items()}
        merges.append(best)
    return merges


CHECKERS = {
    "word_counts": (checks.check_word_counts, own_word_counts, word_counts),
    "count_pairs": (checks.check_count_pairs, own_count_pairs, count_pairs),
    "merge_pair": (checks.check_merge_pair, own_merge_pair, merge_pair),
    "train_bpe_loop": (checks.check_train_bpe_loop, own_loop, train_bpe),
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
    # own_loop uses the student's own count_pairs and merge_pair, from the earlier exercises
    with own_work(own_loop, train_bpe, count_pairs, merge_pair):
        assert own_loop({"aaaa": 1}, 5) == [("a", "a"), ("aa", "aa"), ("aaaa", "</w>")]


def test_own_work_refuses_the_package_function_itself():
    with pytest.raises(AssertionError, match="package's own"):
        with own_work(merge_pair, merge_pair):
            pass


def test_wrong_answers_fail_with_a_hint():
    def sorted_pairs(vocab):  # right counts, wrong order
        return dict(sorted(own_count_pairs(vocab).items()))

    with pytest.raises(AssertionError, match="hint: .*order"):
        checks.check_count_pairs(sorted_pairs)

    def first_only(symbols, pair):  # merges only the first occurrence
        for i in range(len(symbols) - 1):
            if (symbols[i], symbols[i + 1]) == pair:
                return symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]
        return symbols

    with pytest.raises(AssertionError, match="every occurrence"):
        checks.check_merge_pair(first_only)

    def sorted_ties_loop(words, num_merges):  # breaks ties by the pairs' spelling
        vocab = {split_word(word): count for word, count in words.items()}
        merges = []
        for _ in range(num_merges):
            pairs = own_count_pairs(vocab)
            if not pairs:
                break
            best = min(pairs, key=lambda pair: (-pairs[pair], pair))
            vocab = {own_merge_pair(symbols, best): count for symbols, count in vocab.items()}
            merges.append(best)
        return merges

    with pytest.raises(AssertionError, match="returned"):
        checks.check_train_bpe_loop(sorted_ties_loop)


def test_crash_in_student_code_is_reported():
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        checks.check_word_counts(lambda text: 1 / 0)


def test_not_a_function():
    with pytest.raises(AssertionError, match="should be a function"):
        checks.check_merge_pair(42)



def test_a_naive_merge_pair_on_the_joined_letters_fails_with_the_whole_symbols_hint():
    def naive_merge_pair(symbols, pair):  # string replace on the joined symbols
        if not symbols:
            return ()
        return tuple(" ".join(symbols).replace(" ".join(pair), "".join(pair)).split(" "))

    assert naive_merge_pair(("ab", "c"), ("b", "c")) == ("abc",)  # wrong: b is inside ab
    with pytest.raises(AssertionError, match="hint: pair whole symbols, not letters"):
        checks.check_merge_pair(naive_merge_pair)
    with pytest.raises(AssertionError):  # and the hidden tests catch it as well
        run_exercise_cell("merge_pair_tests", {"merge_pair": naive_merge_pair}, part="hidden")


def test_train_bpe_loop_must_return_tuples():
    def lists_not_tuples(words, num_merges):
        return [list(pair) for pair in own_loop(words, num_merges)]

    with pytest.raises(AssertionError, match="not a tuple .*pairs themselves are right"):
        checks.check_train_bpe_loop(lists_not_tuples)
    with pytest.raises(AssertionError):  # the hidden tests agree: tuples, not lists
        run_exercise_cell("train_bpe_loop_tests", own_helpers(lists_not_tuples), part="hidden")


def test_a_loop_that_never_recounts_fails():
    def counts_once(words, num_merges):  # the top pairs of the first count, never recounted
        vocab = {split_word(word): count for word, count in words.items()}
        pairs = own_count_pairs(vocab)
        return sorted(pairs, key=pairs.get, reverse=True)[:num_merges]

    with pytest.raises(AssertionError, match="merge 2 is"):
        checks.check_train_bpe_loop(counts_once)


def test_the_recounting_case_has_its_own_hint():
    hints = [case.hint for case in CASES["train_bpe_loop"]()]
    assert "again after every merge" in hints[-1] and hints[-1] not in hints[:-1]


# --- the notebook's own exercise cells, against right and borrowed solutions -----------------

NOTEBOOK_01 = ROOT / "notebooks" / "01_bpe_tokenization.ipynb"


def run_exercise_cell(grade_id, namespace, part="all"):
    """Run notebook 01's test cell ``grade_id`` (visible checks, hidden tests or both)."""
    source = next(cell.source for cell in read(NOTEBOOK_01).cells
                  if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    visible, hidden = source.split("### BEGIN HIDDEN TESTS")
    hidden = hidden.split("### END HIDDEN TESTS")[0]
    code = {"all": visible + hidden, "visible": visible, "hidden": hidden}[part]
    exec(compile(code, f"{NOTEBOOK_01.name}:{grade_id}", "exec"), namespace)


def own_helpers(loop):
    """The notebook's globals when the student's loop runs: their own count_pairs and merge_pair."""
    return {"train_bpe_loop": loop, "count_pairs": own_count_pairs, "merge_pair": own_merge_pair,
            "split_word": split_word}


def calls_train_bpe(words, num_merges):
    return train_bpe(words, num_merges, tie_break="first").merges


def calls_learn_merges(words, num_merges):
    vocab = {split_word(word): count for word, count in words.items()}
    return bpe_core.learn_merges(vocab, num_merges, "first")[0]


def calls_package_helpers(words, num_merges):  # the package's count_pairs and merge_pair
    return own_loop(words, num_merges, count=count_pairs, merge=merge_pair)


def through_a_default_argument(words, num_merges, trainer=train_bpe):
    return trainer(words, num_merges, tie_break="first").merges


_partial_trainer = functools.partial(train_bpe, tie_break="first")


def through_a_partial(words, num_merges):
    return _partial_trainer(words, num_merges).merges


def through_the_incremental_state(words, num_merges):
    vocab = {split_word(word): count for word, count in words.items()}
    state = bpe_core._IncrementalPairs(vocab, (), "first")
    merges = []
    for _ in range(num_merges):
        best = state.best_pair()
        if best is None:
            break
        merges.append(state.names_of(best))
        state.merge(best)
    return merges


LOOPS = {
    "real": (own_loop, True),
    "calls train_bpe": (calls_train_bpe, False),
    "calls learn_merges": (calls_learn_merges, False),
    "package count_pairs and merge_pair": (calls_package_helpers, False),
    "train_bpe as a default argument": (through_a_default_argument, False),
    "functools.partial of train_bpe": (through_a_partial, False),
    "the package's _IncrementalPairs": (through_the_incremental_state, False),
}


@pytest.mark.parametrize("name", LOOPS)
def test_train_bpe_loop_cell_passes_only_the_students_own_loop(name, capsys):
    loop, passes = LOOPS[name]
    assert loop(word_counts(LECTURE_CORPUS), 10) == train_bpe(LECTURE_CORPUS, 10).merges
    for part in ("visible", "hidden"):  # both the visible checks and the hidden tests refuse it
        if passes:
            run_exercise_cell("train_bpe_loop_tests", own_helpers(loop), part=part)
        else:
            with pytest.raises(AssertionError, match="calls the package's"):
                run_exercise_cell("train_bpe_loop_tests", own_helpers(loop), part=part)
    assert ("✅ train_bpe_loop" in capsys.readouterr().out) == passes
    assert train_bpe(LECTURE_CORPUS, 10).merges[0] == ("e", "s"), "the package is restored"


@pytest.mark.parametrize("grade_id, name, right", [
    ("count_pairs_tests", "count_pairs", own_count_pairs),
    ("merge_pair_tests", "merge_pair", own_merge_pair),
])
def test_exercise_cells_pass_own_work_and_fail_the_package_called(grade_id, name, right):
    run_exercise_cell(grade_id, {name: right})
    package = {"count_pairs": count_pairs, "merge_pair": merge_pair}[name]

    def borrowed(*args, call=package):
        return call(*args)

    borrowed.__name__ = name
    with pytest.raises(AssertionError, match="calls the package's"):
        run_exercise_cell(grade_id, {name: borrowed})

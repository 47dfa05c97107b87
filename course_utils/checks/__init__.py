"""Exercise checkers: run a student's function on known cases and say kindly what is off.

Each ``check_*`` function prints a short success line when every case passes and raises an
``AssertionError`` with a hint otherwise, so an nbgrader test cell fails with a readable message.

>>> from course_utils.checks import check_word_counts
>>> check_word_counts(lambda text: {})  # doctest: +SKIP
"""

from course_utils.checks.core import Case, NotYourOwnWork, code_hint, own_work, register_code_hints, run_checks
from course_utils.checks.tensors import explain_tensors, tensors_match
from course_utils.checks.tokenization import (
    check_count_pairs,
    check_merge_pair,
    check_train_bpe_loop,
    check_word_counts,
)

__all__ = [
    "Case",
    "run_checks",
    "code_hint",
    "own_work",
    "NotYourOwnWork",
    "register_code_hints",
    "tensors_match",
    "explain_tensors",
    "check_word_counts",
    "check_count_pairs",
    "check_merge_pair",
    "check_train_bpe_loop",
]

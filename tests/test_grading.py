"""``course grade`` on a class of hostile submissions, with nbgrader itself doing the grading.

The assignment is a small notebook made of notebook 01's first two exercises (with their real
checks and hidden tests) and a third, package-free one, so that a whole class grades in seconds.
"""

from __future__ import annotations

import copy
import time

import nbformat
import pandas as pd
import pytest

from course_utils.execute import NOTEBOOK_DIR

from course_utils.cli import main as course_main
from course_utils.grading import collect_submissions, grade_submissions, tampering

CELL_TIMEOUT = 10


def _exercise_cells():
    source = nbformat.read(NOTEBOOK_DIR / "01_bpe_tokenization.ipynb", as_version=4)
    graded = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}
    double = nbformat.v4.new_code_cell(
        "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION")
    double.metadata["nbgrader"] = {"grade": False, "grade_id": "double", "locked": False,
                                   "schema_version": 3, "solution": True, "task": False}
    double_tests = nbformat.v4.new_code_cell(
        "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n### END HIDDEN TESTS")
    double_tests.metadata["nbgrader"] = {"grade": True, "grade_id": "double_tests", "locked": True,
                                         "points": 1, "schema_version": 3, "solution": False, "task": False}
    return [graded["count_pairs"], graded["count_pairs_tests"], graded["merge_pair"],
            graded["merge_pair_tests"], double, double_tests]


@pytest.fixture(scope="module")
def instructor(tmp_path_factory):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Homework"), *_exercise_cells()])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path_factory.mktemp("source") / "homework.ipynb"
    nbformat.write(notebook, path)
    return path


def _released(instructor):
    """The student version, as `course release` writes it."""
    out = instructor.parent.parent / "released"
    if not (out / instructor.name).exists():
        assert course_main(["release", str(instructor), "--out", str(out)]) == 0
    return nbformat.read(out / instructor.name, as_version=4)


def _solution_index(notebook, grade_id):
    return next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with(notebook, **sources):
    """A copy of ``notebook`` with the solution cells named in ``sources`` replaced."""
    notebook = copy.deepcopy(notebook)
    for grade_id, source in sources.items():
        notebook.cells[_solution_index(notebook, grade_id)].source = source
    return notebook


@pytest.fixture(scope="module")
def graded(instructor, tmp_path_factory):
    released = _released(instructor)
    solved = nbformat.read(instructor, as_version=4)
    right = {grade_id: solved.cells[_solution_index(solved, grade_id)].source
             for grade_id in ("count_pairs", "merge_pair", "double")}
    wrong_count_pairs = "def count_pairs(vocab):\n    return {}"
    class_ = {
        "solver": solved,
        "blank": released,
        # runs forever in one exercise and kills the kernel in another; the third is right
        "hostile": _with(released, count_pairs="while True:\n    pass", merge_pair="import os\nos._exit(1)",
                         double=right["double"]),
        # a wrong answer beside a home-made check that always passes
        "redefiner": _with(released, count_pairs=wrong_count_pairs
                           + "\n\ndef check_count_pairs(function):\n    print('✅ all good')",
                           merge_pair=right["merge_pair"], double=right["double"]),
        # the package's own function, with own_work switched off first
        "tamperer": _with(released, count_pairs="import contextlib\nimport course_utils.checks as checks\n"
                          "checks.own_work = lambda *a, **k: contextlib.nullcontext()\n"
                          "from course_utils.tokenization import count_pairs",
                          merge_pair=right["merge_pair"], double=right["double"]),
        # the package's own function, plainly
        "importer": _with(released, count_pairs="from course_utils.tokenization import count_pairs",
                          merge_pair=right["merge_pair"], double=right["double"]),
    }
    editor = _with(released, count_pairs=wrong_count_pairs, merge_pair=right["merge_pair"], double=right["double"])
    editor.cells[_solution_index(editor, "count_pairs_tests")].source = "print('tests skipped')"
    class_["editor"] = editor

    submissions = tmp_path_factory.mktemp("submissions")
    for student, notebook in class_.items():
        (submissions / student).mkdir()
        nbformat.write(notebook, submissions / student / "homework.ipynb")
    out = tmp_path_factory.mktemp("grades")
    start = time.perf_counter()
    report = grade_submissions(submissions, [instructor], out / "grades.csv", out / "feedback", jobs=2,
                               cell_timeout=CELL_TIMEOUT)
    return report, time.perf_counter() - start


COLUMNS = ["homework:count_pairs_tests", "homework:merge_pair_tests", "homework:double_tests"]


def test_the_gradebook_has_a_row_per_student_and_a_column_per_test(graded):
    report, _ = graded
    table = pd.read_csv(report.csv, index_col="student")
    assert list(table.columns) == [*COLUMNS, "total", "max_score", "notes"]
    assert sorted(table.index) == sorted(["solver", "blank", "hostile", "redefiner", "tamperer", "importer", "editor"])
    assert (table["max_score"] == 5).all()
    assert table.loc["solver", COLUMNS].tolist() == [2, 2, 1] and table.loc["solver", "total"] == 5
    assert table.loc["blank", "total"] == 0


def test_an_endless_loop_and_a_dead_kernel_cost_only_their_exercises(graded):
    report, seconds = graded
    table = report.table
    assert table.loc["hostile", COLUMNS].tolist() == [0, 0, 1]
    assert "kernel died" in table.loc["hostile", "notes"]
    assert seconds < 600, "the timeouts should bound the whole run"


def test_cheating_gets_no_points_for_the_test_it_targets(graded):
    table = graded[0].table
    assert table.loc["redefiner", COLUMNS].tolist() == [0, 2, 1]  # the test imports the real check again
    assert table.loc["editor", COLUMNS].tolist() == [0, 2, 1]  # nbgrader restores the locked test cell
    assert table.loc["importer", COLUMNS].tolist() == [0, 2, 1]  # own_work refuses the package's function
    assert table.loc["tamperer", "homework:count_pairs_tests"] == 0
    assert table.loc["tamperer", "total"] == 0, "every test after a tampering cell scores 0"
    assert "rebinds checks.own_work" in table.loc["tamperer", "notes"]


def test_every_student_gets_a_feedback_file(graded):
    report, _ = graded
    for student in report.table.index:
        page = (report.feedback / student / "homework.html").read_text()
        assert "count_pairs" in page


def test_submissions_are_found_in_either_layout(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "nested").mkdir()
    (tmp_path / "alice" / "nested" / "01_bpe.ipynb").write_text("{}")
    (tmp_path / "bob_01_bpe.ipynb").write_text("{}")
    (tmp_path / "carol dee_01_bpe.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    found, problems = collect_submissions(tmp_path, ["01_bpe.ipynb", "02_attention.ipynb"])
    assert sorted(found) == ["alice", "bob"]
    assert found["bob"]["01_bpe.ipynb"].name == "bob_01_bpe.ipynb"
    assert any("carol dee" in problem and "student id" in problem for problem in problems)
    single, _ = collect_submissions(tmp_path, ["homework.ipynb"])  # one notebook: any name counts
    assert single["alice"]["homework.ipynb"].name == "01_bpe.ipynb"
    with pytest.raises(FileNotFoundError, match="no folder"):
        collect_submissions(tmp_path / "missing", ["homework.ipynb"])


@pytest.mark.parametrize("source, flagged", [
    ("import course_utils.checks as c\nc.own_work = None", "rebinds c.own_work"),
    ("from course_utils import checks\nsetattr(checks, 'own_work', None)", "setattr on checks"),
    ("import importlib, course_utils\nimportlib.reload(course_utils)", "reloads a module"),
    ("import sys\nsys.modules['course_utils.checks'] = None", "sys.modules"),
    ("import builtins\nbuiltins.print = len", "builtins"),
    ("from course_utils.checks import bpe\ndel bpe.check_count_pairs", "rebinds bpe.check_count_pairs"),
])
def test_tampering_is_named(source, flagged):
    assert any(flagged in reason for reason in tampering(source))


@pytest.mark.parametrize("source", [
    "from course_utils.tokenization import count_pairs\npairs = count_pairs({})",
    "def f(x):\n    x.value = 3\n    return x",
    "%time x = 1\nx = [1]\nx[0] = 2",
    "this is not python",
])
def test_honest_code_is_not_flagged(source):
    assert tampering(source) == []


def test_bad_arguments_are_refused(instructor, tmp_path):
    with pytest.raises(ValueError, match="jobs"):
        grade_submissions(tmp_path, [instructor], jobs=0)
    with pytest.raises(ValueError, match="no submissions"):
        grade_submissions(tmp_path, [instructor], tmp_path / "g.csv")
    assert course_main(["grade", str(tmp_path / "missing"), "--source", str(instructor)]) == 1

"""nbgrader itself releases and grades the course's notebooks.

For every notebook with exercises: ``nbgrader generate_assignment`` must strip the solutions and
hidden tests; ``nbgrader autograde`` must give the instructor's version full points and the
released, unanswered version zero points (so the tests can fail).
"""

import shutil

import nbformat
import pytest

from notebook_files import NOTEBOOKS, nbgrader_cells, read

from course_utils.cli import ASSIGNMENT, make_course_directory, run_nbgrader

GRADED = [path for path in NOTEBOOKS if nbgrader_cells(read(path))]


def total_score(course, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        return submission.score, submission.max_score


@pytest.mark.parametrize("path", GRADED, ids=[p.name for p in GRADED])
def test_release_and_autograde(tmp_path, path):
    course = make_course_directory(tmp_path, [path], ASSIGNMENT)  # what `course release` builds
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")

    released = course / "release" / ASSIGNMENT / path.name
    student_text = released.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in student_text
    assert "raise NotImplementedError()" in student_text
    for cell in nbformat.read(released, as_version=4).cells:
        assert not any(output.get("output_type") == "error" for output in cell.get("outputs", []))

    # One student hands in the instructor's version (all answers), another the untouched release.
    for student, notebook in (("solver", path), ("blank", released)):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / path.name)
    run_nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")

    score, max_score = total_score(course, "solver")
    assert max_score > 0 and score == max_score
    graded = nbformat.read(course / "autograded" / "solver" / ASSIGNMENT / path.name, as_version=4)
    printed = "".join(o.get("text", "") for c in graded.cells for o in c.get("outputs", []))
    assert "scale: smoke" in printed, "the autograder should run notebooks at smoke scale"
    score, _ = total_score(course, "blank")
    assert score == 0

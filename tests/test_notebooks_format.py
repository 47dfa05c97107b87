"""Every committed notebook is executed, clean, and speaks nbgrader's format."""

import ast
import re

import nbformat
import pytest

from course_utils.course_map import COURSE_MAP
from notebook_files import NOTEBOOKS, ROOT, nbgrader_cells, read

ids = [path.name for path in NOTEBOOKS]
NBGRADER_KEYS = {"grade", "grade_id", "locked", "schema_version", "solution", "task"}


def test_the_course_map_and_the_notebooks_folder_agree():
    ready = {lesson.file for lesson in COURSE_MAP if lesson.status == "ready"}
    assert {path.name for path in NOTEBOOKS} == ready


def test_readme_course_map_matches_course_utils():
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\d\d) \| (.+?) \| (.+?) \| (\w+) \|", readme, re.M)
    assert [(n, status) for n, _, _, status in rows] == [(l.number, l.status) for l in COURSE_MAP]
    for (_, name, topics, _), lesson in zip(rows, COURSE_MAP):
        assert lesson.title in name and topics == lesson.topics


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_is_valid_and_uses_one_kernel(path):
    notebook = read(path)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_is_executed_in_order_without_errors(path):
    code_cells = [cell for cell in read(path).cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code_cells]
    assert None not in counts, f"{path.name} has unexecuted cells: run python -m course_utils.execute"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"
    for cell in code_cells:
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name}: error output in\n{cell.source}"
            if output.output_type == "stream" and output.name == "stderr":
                assert "Traceback" not in output.text and "Warning" not in output.text, (
                    f"{path.name}: stderr output {output.text[:300]!r}"
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_is_committed_at_laptop_scale(path):
    text = "".join(
        output.get("text", "")
        for cell in read(path).cells if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert re.search(r"scale: laptop\b", text), f"{path.name} was not executed at laptop scale"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_exercises_follow_nbgrader_schema(path):
    cells = nbgrader_cells(read(path))
    grade_ids = [cell.metadata.nbgrader["grade_id"] for cell in cells]
    assert len(grade_ids) == len(set(grade_ids)), f"duplicate grade ids in {path.name}"
    solutions_seen = 0
    for cell in cells:
        meta = cell.metadata.nbgrader
        where = f"{path.name}:{meta.get('grade_id')}"
        assert NBGRADER_KEYS <= set(meta), f"{where} lacks {NBGRADER_KEYS - set(meta)}"
        assert meta["schema_version"] == 3, where
        assert re.fullmatch(r"[A-Za-z0-9_\-]+", meta["grade_id"]), where
        source = cell.source
        if meta["solution"]:
            assert cell.cell_type == "code" and not meta["grade"] and not meta["locked"], where
            assert source.count("### BEGIN SOLUTION") == source.count("### END SOLUTION") >= 1, where
            solutions_seen += 1
        if meta["grade"]:
            assert not meta["solution"] and meta["locked"], where
            assert meta.get("points", 0) > 0, f"{where} is a test cell without points"
            assert solutions_seen > 0, f"{where} tests come before any solution cell"
            assert source.count("### BEGIN HIDDEN TESTS") == source.count("### END HIDDEN TESTS"), where


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_nbgrader_markers_only_in_their_cells(path):
    """nbgrader refuses to release a notebook with a marker in the wrong kind of cell."""
    for cell in read(path).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            assert "BEGIN SOLUTION" not in cell.source and "END SOLUTION" not in cell.source, (
                f"{path.name}: solution marker outside a solution cell:\n{cell.source[:200]}"
            )
        if not meta.get("grade"):
            assert "HIDDEN TESTS" not in cell.source, f"{path.name}: hidden tests outside a test cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_every_solution_has_a_graded_check(path):
    cells = nbgrader_cells(read(path))
    kinds = ["solution" if c.metadata.nbgrader["solution"] else "grade" if c.metadata.nbgrader["grade"]
             else "other" for c in cells]
    for i, kind in enumerate(kinds):
        if kind == "solution":
            assert "grade" in kinds[i + 1:], f"{path.name}: solution cell {i} is never graded"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_saves_no_widgets(path):
    """Widgets need a kernel: saved notebooks hold their text fallbacks, never widget views or state."""
    notebook = read(path)
    assert "widgets" not in notebook.metadata, f"{path.name} saves widget state: re-execute it"
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {}), (
                f"{path.name}: a widget view in the output of\n{cell.source[:200]}"
            )


def _exercise_names(notebook) -> set[str]:
    names = set()
    for cell in nbgrader_cells(notebook):
        if cell.metadata.nbgrader["solution"]:
            names |= set(re.findall(r"^(?:def|class) (\w+)", cell.source, re.M))
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_no_exercise_is_imported_from_the_package(path):
    """A package import under an exercise's name would let an unrun solution pass its checks."""
    notebook = read(path)
    names = _exercise_names(notebook)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse("\n".join(line for line in cell.source.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
                for alias in node.names:
                    bound = alias.asname or alias.name
                    assert bound not in names, (
                        f"{path.name} binds the exercise name {bound!r} to "
                        f"{node.module}.{alias.name}: import it under another name"
                    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_hidden_tests_disable_the_package(path):
    """Every hidden test runs inside own_work(...), so a solution that calls the package fails."""
    for cell in nbgrader_cells(read(path)):
        source = cell.source
        if "### BEGIN HIDDEN TESTS" in source:
            hidden = source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
            assert "own_work(" in hidden, (
                f"{path.name}:{cell.metadata.nbgrader['grade_id']}: hidden tests without own_work(...)"
            )

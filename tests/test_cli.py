"""The ``course`` console script (course_utils.cli): doctor, run and release.

The commands run as ``python -m course_utils.cli`` in a subprocess, as a user would run them;
the installed ``course`` script is used for the release when pip has registered it.
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import cli, environment
from notebook_files import ROOT

WELCOME = ROOT / "notebooks" / "00_welcome.ipynb"
BPE = ROOT / "notebooks" / "01_bpe_tokenization.ipynb"


def course(*args, cwd: Path, script: bool = False) -> subprocess.CompletedProcess:
    installed = Path(sys.executable).parent / "course"
    command = ([str(installed)] if script and installed.exists()
               else [sys.executable, "-m", "course_utils.cli"])
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_doctor_prints_the_report_and_exits_0_when_all_is_ok(capsys):
    assert cli.main(["doctor"]) == 0
    printed = capsys.readouterr().out
    assert "OK       torch" in printed and "All good" in printed


def test_doctor_exits_1_on_a_problem(monkeypatch, capsys):
    broken = [environment.CheckResult("python", True, "3.11"),
              environment.CheckResult("bertviz", False, "cannot import")]
    monkeypatch.setattr(environment, "check_environment", lambda: broken)
    assert cli.main(["doctor"]) == 1
    assert "PROBLEM  bertviz" in capsys.readouterr().out


def test_the_console_script_is_declared():
    assert 'course = "course_utils.cli:main"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.slow
def test_run_writes_executed_copies_and_html_and_names_a_failing_cell(tmp_path):
    # One run of two notebooks: a broken one (first), then notebook 00, which still runs.
    cells = [nbformat.v4.new_markdown_cell("# A notebook that fails"),
             nbformat.v4.new_code_cell("x = 1"),
             nbformat.v4.new_code_cell("raise ValueError('boom')\nprint('never')")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "broken.ipynb")
    before = WELCOME.read_bytes()

    result = course("run", "broken.ipynb", str(WELCOME), "--scale", "smoke", "--output", "out", "--html",
                    cwd=tmp_path)
    assert result.returncode == 1
    assert "broken.ipynb: cell 2 failed: ValueError: boom" in result.stderr
    assert "first line: raise ValueError('boom')" in result.stderr
    assert "1 of 2 notebook(s) failed: broken.ipynb" in result.stderr
    assert "Traceback" not in result.stderr
    # The failed copy keeps what ran, so the full traceback can be read there.
    saved = nbformat.read(tmp_path / "out" / "broken.ipynb", as_version=4)
    assert saved.cells[2].outputs[0].output_type == "error"
    assert not (tmp_path / "out" / "broken.html").exists()

    assert "00_welcome.ipynb" in result.stdout and "smoke scale" in result.stdout
    executed = nbformat.read(tmp_path / "out" / WELCOME.name, as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "scale: smoke" in printed
    counts = [c.execution_count for c in executed.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    assert "widgets" not in executed.metadata
    assert "<html" in (tmp_path / "out" / "00_welcome.html").read_text()
    assert WELCOME.read_bytes() == before, "--output must leave the source notebook alone"


@pytest.mark.slow
def test_release_strips_solutions_hidden_tests_and_outputs(tmp_path):
    result = course("release", str(BPE), "--out", "student", cwd=tmp_path, script=True)
    assert result.returncode == 0, result.stderr
    released = tmp_path / "student" / BPE.name
    text = released.read_text()
    assert "### BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" not in text
    assert "raise NotImplementedError()" in text
    notebook = nbformat.read(released, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is None for cell in code)


def test_a_marker_left_in_a_released_cell_is_an_error():
    leaked = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"),
    ])
    with pytest.raises(cli.ReleaseError, match="cell 1 still holds 'BEGIN SOLUTION'"):
        cli.check_student_version(leaked, "leaky.ipynb")


def test_arguments_are_checked_at_the_entry(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "missing.ipynb")]) == 1
    assert "no notebook at" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hi")
    assert cli.main(["release", str(tmp_path / "notes.txt")]) == 1
    assert "not a notebook" in capsys.readouterr().err
    (tmp_path / "a").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "a" / "x.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "x.ipynb")
    assert cli.main(["release", str(tmp_path / "x.ipynb"), str(tmp_path / "a" / "x.ipynb")]) == 1
    assert "share a name (x.ipynb)" in capsys.readouterr().err

"""The ``course`` command: check the environment, run notebooks headlessly, release student versions.

    course doctor                                   # the environment report of notebook 00
    course run                                      # every notebook, copies in ./executed/
    course run notebooks/01_*.ipynb --scale smoke --output out --html
    course run --inplace                            # re-execute the committed notebooks
    course release notebooks/01_bpe_tokenization.ipynb --out release
    course grade submissions/ --out grades.csv --jobs 2   # autograde a class

``doctor`` exits with 1 when a required check fails. ``run`` executes each notebook in a fresh
kernel from the notebook's own folder (``course_utils.execute``), with one progress bar over the
notebooks; a failing cell is reported as one line naming the notebook, the cell's index and the
first line of its source, and the exit code is 1. ``release`` builds a temporary nbgrader course,
runs ``nbgrader generate_assignment`` in it and copies the student versions (solutions replaced,
hidden tests removed, outputs cleared) to ``--out``. ``grade`` autogrades a folder of submissions
against the instructor's notebooks (``course_utils.grading``: a gradebook CSV and feedback files).

Without the console script installed, ``python -m course_utils.cli ...`` does the same.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from course_utils.config import SCALE_NAMES
from course_utils.execute import NOTEBOOK_DIR, NotebookError, execute_notebook

ASSIGNMENT = "lesson"  # the nbgrader assignment that holds the notebooks in the temporary course
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class ReleaseError(RuntimeError):
    """nbgrader failed, or its student version still holds a solution or a hidden test."""


# --- course doctor -----------------------------------------------------------------------------

def doctor() -> int:
    """Taught in notebook 00, section 1. Print the environment report; 0 if all is OK, else 1."""
    from course_utils.environment import print_environment_report

    return 0 if print_environment_report() else 1


# --- course run --------------------------------------------------------------------------------

def run_notebooks(paths: list[Path], scale: str = "laptop", output: Path | None = None,
                  html: bool = False) -> list[NotebookError]:
    """Execute each notebook into ``output`` (None: in place), optionally with HTML beside it.

    One progress bar counts the notebooks; a failed notebook does not stop the others. Return the
    failures (empty when every notebook ran).
    """
    from tqdm import tqdm

    paths = _check_notebooks(paths, distinct_names=output is not None)
    if scale not in SCALE_NAMES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALE_NAMES)}")
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
    failures = []
    with tqdm(paths, desc="course run", unit="notebook", file=sys.stderr) as bar:
        for path in bar:
            bar.set_postfix_str(path.name)
            target = path if output is None else output / path.name
            try:
                seconds = execute_notebook(path, scale, output=target)
            except NotebookError as failure:
                failures.append(failure)
                bar.write(f"FAILED {failure}", file=sys.stderr)
                continue
            line = f"{path.name}: {seconds:.0f} s at {scale} scale -> {target}"
            if html:
                line += f" (+ {export_html(target).name})"
            bar.write(line, file=sys.stdout)
    return failures


def export_html(notebook_path: Path) -> Path:
    """Write ``notebook_path`` as HTML next to it (same name, ``.html``); return the HTML's path."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook_path, as_version=4))
    target = notebook_path.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


# --- course release ----------------------------------------------------------------------------

def release_notebooks(paths: list[Path], out: Path = Path("release")) -> list[Path]:
    """Write the student version of each notebook to ``out``; return their paths.

    The notebooks become one assignment of a temporary nbgrader course, and
    ``nbgrader generate_assignment`` replaces the solutions, removes the hidden tests and clears
    the outputs. Raise ``ReleaseError`` if nbgrader fails or a marker is left in a released cell
    (a ``### BEGIN SOLUTION`` in a cell without nbgrader metadata would reach the students).
    """
    import nbformat

    paths = _check_notebooks(paths, distinct_names=True)
    with tempfile.TemporaryDirectory(prefix="course-release-") as folder:
        course = make_course_directory(Path(folder), paths)
        run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
        out.mkdir(parents=True, exist_ok=True)
        released = []
        for path in paths:
            student = course / "release" / ASSIGNMENT / path.name
            if not student.exists():
                written = sorted(str(p.relative_to(course)) for p in course.rglob("*.ipynb"))
                raise ReleaseError(f"nbgrader reported success but wrote no {student.name}; "
                                   f"the course folder holds: {written}")
            check_student_version(nbformat.read(student, as_version=4), path.name)
            released.append(Path(shutil.copy(student, out / path.name)))
    return released


def check_student_version(notebook, name: str) -> None:
    """Raise ``ReleaseError`` if a cell of the released ``notebook`` still holds a solution or
    hidden-test marker, or an output.

    >>> import nbformat
    >>> check_student_version(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), "ok")
    """
    for index, cell in enumerate(notebook.cells):
        leaked = [marker for marker in LEAK_MARKERS if marker in cell.source]
        if leaked:
            raise ReleaseError(
                f"{name}: cell {index} still holds {leaked[0]!r} after nbgrader: the cell lacks "
                "nbgrader metadata. Mark it as 'Autograded answer' (solutions) or 'Autograder "
                "tests' (hidden tests) in JupyterLab's nbgrader toolbar, then release again.")
        if cell.get("outputs"):
            raise ReleaseError(f"{name}: cell {index} kept its outputs after nbgrader; "
                               "is ClearOutput disabled in an nbgrader_config.py?")


def make_course_directory(root: Path, paths: list[Path], assignment: str = ASSIGNMENT,
                          cell_timeout: int = 600) -> Path:
    """An nbgrader course folder under ``root`` with ``paths`` as ``source/<assignment>/``."""
    course = root / "course"
    source = course / "source" / assignment
    source.mkdir(parents=True)
    for path in paths:
        shutil.copy(path, source / path.name)
    write_nbgrader_config(course, cell_timeout)
    return course


def write_nbgrader_config(course: Path, cell_timeout: int = 600) -> None:
    """The course folder's ``nbgrader_config.py``: its root, and cells interrupted after
    ``cell_timeout`` seconds (nbgrader's default is 30)."""
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'course'\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.ExecutePreprocessor.timeout = {int(cell_timeout)}\n"
        "c.ExecutePreprocessor.interrupt_on_timeout = True\n"
    )


def run_nbgrader(course: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course``; raise ``ReleaseError`` with its output if it fails."""
    import importlib.util

    if importlib.util.find_spec("nbgrader") is None:
        raise ReleaseError("nbgrader is not installed; install it with: pip install -e '.[instructor]'")
    # nbgrader runs the `alembic` command of its own environment: put that on the PATH.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    command = [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]
    try:
        result = subprocess.run(command, cwd=course, capture_output=True, text=True,
                                timeout=timeout, env=env)
    except subprocess.TimeoutExpired as error:
        raise ReleaseError(f"nbgrader {' '.join(args)} took longer than {timeout} s") from error
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ReleaseError(f"nbgrader {' '.join(args)} failed (exit code {result.returncode}):\n{tail}")
    return result


# --- shared checks and the command line ----------------------------------------------------------

def _check_notebooks(paths: list[Path], distinct_names: bool) -> list[Path]:
    """The notebooks as paths; every one an existing ``.ipynb``, names distinct if asked."""
    paths = [Path(path) for path in paths]
    for path in paths:
        if path.suffix != ".ipynb":
            raise ValueError(f"{path} is not a notebook: expected a .ipynb file")
        if not path.is_file():
            raise FileNotFoundError(f"no notebook at {path}")
    names = [path.name for path in paths]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if distinct_names and duplicates:
        raise ValueError(f"two notebooks share a name ({', '.join(duplicates)}): their copies would "
                         "overwrite each other in one output folder")
    return paths


def build_parser() -> argparse.ArgumentParser:
    summary = __doc__.splitlines()[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="course", description=summary)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("doctor", help="check Python, the packages, the device and the scale")

    run = commands.add_parser("run", help="execute notebooks headlessly")
    run.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                     help=f"default: every notebook in {NOTEBOOK_DIR}")
    run.add_argument("--scale", default="laptop", choices=SCALE_NAMES)
    where = run.add_mutually_exclusive_group()
    where.add_argument("--inplace", action="store_true", help="overwrite the notebooks themselves")
    where.add_argument("--output", type=Path, default=Path("executed"), metavar="DIR",
                       help="folder for the executed copies (default: ./executed)")
    run.add_argument("--html", action="store_true", help="also write each executed notebook as HTML")

    release = commands.add_parser("release", help="student versions through nbgrader")
    release.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    release.add_argument("--out", type=Path, default=Path("release"), metavar="DIR",
                         help="folder for the student versions (default: ./release)")
    grade = commands.add_parser("grade", help="autograde a folder of submissions through nbgrader")
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                       help="one folder per student, or files named <student>_<notebook>.ipynb")
    grade.add_argument("--source", nargs="+", type=Path, metavar="NOTEBOOK",
                       help=f"the instructor's notebooks (default: those of {NOTEBOOK_DIR} handed in)")
    grade.add_argument("--out", type=Path, default=Path("grades.csv"), metavar="CSV",
                       help="the gradebook: one row per student (default: ./grades.csv)")
    grade.add_argument("--feedback", type=Path, default=Path("feedback"), metavar="DIR",
                       help="folder for each student's feedback HTML (default: ./feedback)")
    grade.add_argument("--no-feedback", action="store_true", help="skip the feedback files")
    grade.add_argument("--jobs", type=int, default=1, metavar="N", help="submissions graded side by side")
    grade.add_argument("--cell-timeout", type=int, default=60, metavar="S",
                       help="seconds before a cell is interrupted (default: 60)")
    grade.add_argument("--course-dir", type=Path, metavar="DIR",
                       help="keep nbgrader's course folders here, to inspect them (default: temporary)")
    return parser


def default_sources(submissions: Path) -> list[Path]:
    """The course's notebooks with exercises whose file names occur among ``submissions``."""
    handed_in = {path.name for path in Path(submissions).rglob("*.ipynb")}
    graded = [path for path in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
              if '"grade": true' in path.read_text()]
    chosen = [path for path in graded if any(name == path.name or name.endswith("_" + path.name)
                                             for name in handed_in)]
    if not chosen:
        raise ValueError(f"none of the course's graded notebooks ({', '.join(p.name for p in graded)}) was "
                         f"found in {submissions}; name the instructor's versions with --source")
    return chosen


def main(argv: list[str] | None = None) -> int:
    """The ``course`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "doctor":
            return doctor()
        if args.command == "run":
            paths = args.notebooks or sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
            failures = run_notebooks(paths, args.scale, None if args.inplace else args.output, args.html)
            if failures:
                names = ", ".join(failure.path.name for failure in failures)
                print(f"course run: {len(failures)} of {len(paths)} notebook(s) failed: {names}",
                      file=sys.stderr)
                return 1
            return 0
        if args.command == "grade":
            from course_utils.grading import grade_submissions

            if not args.submissions.is_dir():
                raise FileNotFoundError(f"no folder of submissions at {args.submissions}")
            sources = args.source or default_sources(args.submissions)
            report = grade_submissions(args.submissions, sources, args.out,
                                       None if args.no_feedback else args.feedback, jobs=args.jobs,
                                       cell_timeout=args.cell_timeout, course_dir=args.course_dir)
            table = report.table
            print(f"graded {len(table)} student(s) on {', '.join(p.name for p in sources)}: mean "
                  f"{table['total'].mean():.1f} of {table['max_score'].iloc[0]:.0f} points; gradebook {report.csv}"
                  + (f", feedback in {report.feedback}/" if report.feedback else ""))
            flagged = table[table["notes"] != ""]
            for student, note in flagged["notes"].items():
                print(f"  {student}: {note}")
            return 0
        released = release_notebooks(args.notebooks, args.out)
        for path in released:
            print(f"released {path}")
        return 0
    except (ValueError, FileNotFoundError, ReleaseError) as error:
        print(f"course {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""``course grade``: nbgrader's autograde for a class, with a gradebook CSV and feedback files.

The instructor's notebooks (with solutions and hidden tests) define the assignment; the
submissions are the students' copies of the released versions. Grading happens in a temporary
nbgrader course folder (or ``course_dir``, kept for inspection), in ``jobs`` shards that run
side by side, each with its own gradebook, so two graders never write one database.

What a hostile or broken submission gets:

* a cell that runs forever is interrupted after ``cell_timeout`` seconds (nbgrader's
  ``interrupt_on_timeout``); the tests that depend on it fail, the rest of the notebook runs;
* a cell that kills the kernel (``os._exit``, a segfault) would stop nbgrader for the whole
  notebook; the grader finds that cell, replaces it by a ``raise`` that says so, and grades again,
  so only the exercises that needed it lose their points;
* an edited test cell is put back by nbgrader (the tests come from the gradebook, not from the
  submission);
* a cell that rebinds something of ``course_utils`` (a check function, ``own_work``), reloads
  modules or touches ``sys.modules`` or ``builtins`` is flagged, and every test after it scores 0
  (a manual override in the gradebook, so the feedback shows it too), with the reason in the
  ``notes`` column.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
CRASH_MESSAGE = ("raise RuntimeError('course grade: this cell crashed the Python kernel when it ran, "
                 "so it was replaced by this error; the cells after it were still graded')")


@dataclass
class GradeReport:
    """What ``grade_submissions`` wrote: the gradebook table and where the files went."""

    table: object  # pandas DataFrame: one row per student
    csv: Path
    feedback: Path | None


# --- finding the submissions -------------------------------------------------------------------

def collect_submissions(folder: Path, notebook_names: list[str]) -> tuple[dict[str, dict[str, Path]], list[str]]:
    """``{student: {notebook name: path}}`` and the problems found, for either layout:

    * one folder per student: ``folder/<student>/.../<notebook name>`` (any depth; with a single
      assigned notebook, a student folder's only ``.ipynb`` counts whatever its name);
    * files named by student: ``folder/<student>.ipynb`` (a single assigned notebook) or
      ``folder/<student>_<notebook name>``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of submissions at {folder}")
    found: dict[str, dict[str, Path]] = {}
    problems: list[str] = []

    def add(student: str, name: str, path: Path) -> None:
        if not STUDENT_ID.match(student):
            problems.append(f"skipped {path}: {student!r} is not a usable student id "
                            "(letters, digits, '_', '.', '@', '-'; no spaces)")
        elif name in found.setdefault(student, {}):
            problems.append(f"skipped {path}: {student} already handed in {found[student][name]}")
        else:
            found[student][name] = path

    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            notebooks = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if len(notebook_names) == 1 and len(notebooks) == 1:
                add(entry.name, notebook_names[0], notebooks[0])
                continue
            for path in notebooks:
                if path.name in notebook_names:
                    add(entry.name, path.name, path)
                else:
                    problems.append(f"skipped {path}: not one of the assigned notebooks "
                                    f"({', '.join(notebook_names)})")
        elif entry.suffix == ".ipynb":
            matches = [name for name in notebook_names if entry.name.endswith("_" + name)]
            if matches:
                add(entry.name[: -len(matches[0]) - 1], matches[0], entry)
            elif len(notebook_names) == 1:
                add(entry.stem, notebook_names[0], entry)
            else:
                problems.append(f"skipped {entry}: name it <student>_<notebook>, e.g. "
                                f"alice_{notebook_names[0]}")
    return {student: books for student, books in found.items() if books}, problems


# --- tampering -----------------------------------------------------------------------------------

def tampering(source: str) -> list[str]:
    """Reasons to distrust a cell's code: it rebinds or deletes an attribute of a ``course_utils``
    module (a check, ``own_work``), calls ``setattr``/``delattr`` on one, reloads modules, or
    touches ``sys.modules`` or ``builtins``. Empty for honest code.

    >>> tampering("import course_utils.checks as c\\nc.own_work = None")
    ['line 2: rebinds c.own_work, a name of course_utils.checks']
    >>> tampering("from course_utils.tokenization import count_pairs\\nx = count_pairs({})")
    []
    """
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []  # it cannot run either, so it cannot tamper
    modules: dict[str, str] = {}  # local name -> course_utils module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "course_utils":
                    local = alias.asname or alias.name.split(".")[0]
                    modules[local] = alias.name if alias.asname else "course_utils"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "course_utils":
            for alias in node.names:
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    reasons = []

    def root(node: ast.AST) -> str | None:
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and root(part) in modules:
                    reasons.append(f"line {node.lineno}: rebinds {ast.unparse(part)}, a name of "
                                   f"{modules[root(part)]}")
                    break
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args and root(node.args[0]) in modules:
                reasons.append(f"line {node.lineno}: {node.func.id} on {ast.unparse(node.args[0])}, "
                               f"{modules[root(node.args[0])]}")
        if isinstance(node, ast.Attribute) and node.attr == "reload":
            reasons.append(f"line {node.lineno}: reloads a module ({ast.unparse(node)})")
        if isinstance(node, ast.Attribute) and node.attr == "modules" and root(node) == "sys":
            reasons.append(f"line {node.lineno}: touches sys.modules")
        if isinstance(node, ast.Name) and node.id in ("builtins", "__builtins__"):
            reasons.append(f"line {node.lineno}: touches {node.id}")
    return sorted(set(reasons), key=reasons.index)


# --- the kernel that dies ----------------------------------------------------------------------

def neutralise_crashes(path: Path, cell_timeout: int, max_crashes: int = 5) -> list[int]:
    """Run the notebook at ``path`` as the autograder would; while the kernel dies, replace the
    cell it died in by ``CRASH_MESSAGE`` (in place) and run again. Returns the replaced cells."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    replaced: list[int] = []
    for _ in range(max_crashes + 1):
        notebook = nbformat.read(path, as_version=4)
        running: list[int] = []
        client = NotebookClient(notebook, timeout=cell_timeout, allow_errors=True, interrupt_on_timeout=True,
                                resources={"metadata": {"path": str(path.parent)}},
                                on_cell_execute=lambda cell, cell_index: running.append(cell_index))
        try:
            client.execute()
            return replaced
        except DeadKernelError:
            if not running:
                raise
            index = running[-1]
            notebook.cells[index].source = CRASH_MESSAGE
            notebook.cells[index].outputs = []
            nbformat.write(notebook, path)
            replaced.append(index)
    return replaced


# --- grading -------------------------------------------------------------------------------------

def _nbgrader(course: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.Popen([sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"], cwd=course,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _wait(process: subprocess.Popen, what: str, timeout: float, check: bool = True) -> str:
    from course_utils.cli import ReleaseError

    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        process.kill()
        raise ReleaseError(f"nbgrader {what} took longer than {timeout:.0f} s") from error
    if check and process.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-20:])
        raise ReleaseError(f"nbgrader {what} failed (exit code {process.returncode}):\n{tail}")
    return output


def grade_submissions(submissions: Path, sources: list[Path], out: Path = Path("grades.csv"),
                      feedback: Path | None = Path("feedback"), jobs: int = 1, cell_timeout: int = 60,
                      course_dir: Path | None = None, progress: bool = True) -> GradeReport:
    """Autograde every submission in ``submissions`` against the instructor's ``sources``.

    Writes the gradebook ``out`` (CSV: one row per student, one column per graded test cell named
    ``<notebook>:<grade id>``, then ``total``, ``max_score`` and ``notes``) and, unless
    ``feedback`` is None, nbgrader's HTML feedback as ``feedback/<student>/<notebook>.html``.
    """
    import pandas as pd
    from nbgrader.api import Gradebook

    from course_utils.cli import (ASSIGNMENT, _check_notebooks, make_course_directory, run_nbgrader,
                                  write_nbgrader_config)

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int; got {jobs!r}")
    if isinstance(cell_timeout, bool) or not isinstance(cell_timeout, int) or cell_timeout < 1:
        raise ValueError(f"cell_timeout must be a positive number of seconds; got {cell_timeout!r}")
    sources = _check_notebooks(sources, distinct_names=True)
    names = [path.name for path in sources]
    found, problems = collect_submissions(submissions, names)
    if not found:
        raise ValueError(f"no submissions of {', '.join(names)} in {submissions}"
                         + (": " + "; ".join(problems) if problems else ""))
    for problem in problems:
        print(f"course grade: {problem}", file=sys.stderr)
    students = sorted(found)
    notes: dict[str, list[str]] = {student: [] for student in students}

    with tempfile.TemporaryDirectory(prefix="course-grade-") as scratch:
        base = make_course_directory(Path(course_dir or scratch) / "base", sources, cell_timeout=cell_timeout)
        run_nbgrader(base, "generate_assignment", ASSIGNMENT, "--force")
        shards = [students[k::jobs] for k in range(jobs) if students[k::jobs]]
        courses = []
        for k, shard in enumerate(shards):
            course = Path(course_dir or scratch) / f"shard-{k}"
            if course.exists():
                shutil.rmtree(course)
            shutil.copytree(base, course)
            write_nbgrader_config(course, cell_timeout)  # its own root
            for student in shard:
                folder = course / "submitted" / student / ASSIGNMENT
                folder.mkdir(parents=True)
                for name, path in found[student].items():
                    shutil.copy(path, folder / name)
                    reasons = _tampered_cells(folder / name)
                    for index, why in reasons:
                        notes[student].append(f"{name} cell {index}: {why}; the tests after it score 0")
            courses.append(course)
        budget = 600 + 4 * cell_timeout * max(len(shard) for shard in shards) * len(sources) * 10
        running = [_nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force") for course in courses]
        # nbgrader exits with 1 when a notebook failed to run: those are handled below
        _follow(running, courses, sum(len(books) for books in found.values()), progress, budget)
        # A kernel that died leaves no autograded notebook: find the cell, replace it, grade again.
        for course, shard in zip(courses, shards):
            for student in shard:
                for name in found[student]:
                    if (course / "autograded" / student / ASSIGNMENT / name).exists():
                        continue
                    submitted = course / "submitted" / student / ASSIGNMENT / name
                    env_before = os.environ.get("NBGRADER_EXECUTION")
                    os.environ["NBGRADER_EXECUTION"] = "autograde"
                    try:
                        cells = neutralise_crashes(submitted, cell_timeout)
                    finally:
                        if env_before is None:
                            os.environ.pop("NBGRADER_EXECUTION", None)
                        else:
                            os.environ["NBGRADER_EXECUTION"] = env_before
                    notes[student].append(f"{name}: the kernel died in cell(s) {', '.join(map(str, cells))}, "
                                          "replaced by an error and graded without them")
                    _wait(_nbgrader(course, "autograde", ASSIGNMENT, "--student", student, "--create",
                                    "--force"), f"autograde of {student}", budget, check=False)
        rows = []
        for course, shard in zip(courses, shards):
            with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
                for student in shard:
                    row: dict[str, object] = {"student": student}
                    for source in sources:
                        submitted = course / "submitted" / student / ASSIGNMENT / source.name
                        flagged = _tampered_cells(submitted) if submitted.exists() else []
                        first_flag = min((index for index, _ in flagged), default=None)
                        try:
                            graded = gradebook.find_submission_notebook(source.stem, ASSIGNMENT, student)
                        except Exception:  # nbgrader found nothing to grade in it
                            notes[student].append(f"{source.name}: not graded")
                            continue
                        # where each test sits in the student's copy (a student may add cells)
                        order = {**_grade_order(source), **(_grade_order(submitted) if submitted.exists() else {})}
                        for grade in sorted(graded.grades, key=lambda g: order.get(g.name, (1e9, g.name))):
                            score = float(grade.score)
                            if first_flag is not None and order.get(grade.name, (1e9,))[0] > first_flag:
                                grade.manual_score = score = 0.0  # an override, so the feedback shows it
                            row[f"{source.stem}:{grade.name}"] = score
                        gradebook.db.commit()
                    rows.append(row)
            if feedback is not None:
                _wait(_nbgrader(course, "generate_feedback", ASSIGNMENT, "--force"), "generate_feedback", budget)
                for student in shard:
                    for name in found[student]:
                        html = course / "feedback" / student / ASSIGNMENT / name.replace(".ipynb", ".html")
                        if html.exists():
                            target = Path(feedback) / student / html.name
                            target.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy(html, target)
        max_scores = {}
        with Gradebook(f"sqlite:///{base / 'gradebook.db'}") as gradebook:
            for source in sources:
                for cell in gradebook.find_notebook(source.stem, ASSIGNMENT).grade_cells:
                    max_scores[f"{source.stem}:{cell.name}"] = float(cell.max_score)

    columns = sorted(max_scores, key=lambda column: _column_order(column, sources))
    table = pd.DataFrame(rows).set_index("student").reindex(index=students, columns=columns).fillna(0.0)
    table["total"] = table[columns].sum(axis=1)
    table["max_score"] = sum(max_scores.values())
    table["notes"] = ["; ".join(notes[student]) for student in students]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out)
    return GradeReport(table=table, csv=out, feedback=Path(feedback) if feedback is not None else None)


def _follow(processes: list[subprocess.Popen], courses: list[Path], total: int, show: bool,
            timeout: float) -> list[tuple[int, str]]:
    """Wait for the graders, with one progress bar over the class (autograded notebooks so far)
    unless ``show`` is False; return each one's ``(exit code, output)``."""
    import threading

    from tqdm.auto import tqdm

    outputs: dict[int, str] = {}  # read the pipes meanwhile, so that a chatty nbgrader never blocks

    def read(k: int, process: subprocess.Popen) -> None:
        outputs[k] = process.stdout.read()

    readers = [threading.Thread(target=read, args=(k, p), daemon=True) for k, p in enumerate(processes)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout

    def graded() -> int:
        return min(total, sum(len(list((course / "autograded").glob("*/*/*.ipynb"))) for course in courses))

    with tqdm(total=total, desc="grading", unit="notebook", disable=not show) as bar:
        while any(process.poll() is None for process in processes):
            if time.monotonic() > deadline:
                for process in processes:
                    process.kill()
                from course_utils.cli import ReleaseError

                raise ReleaseError(f"nbgrader autograde took longer than {timeout:.0f} s")
            bar.update(graded() - bar.n)
            time.sleep(0.5)
        bar.update(graded() - bar.n)
    for reader in readers:
        reader.join()
    return [(process.returncode, outputs.get(k, "")) for k, process in enumerate(processes)]


def _tampered_cells(path: Path) -> list[tuple[int, str]]:
    """(cell index, reason) for each student-editable code cell of ``path`` that tampers."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    found = []
    for index, cell in enumerate(notebook.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade") or meta.get("locked"):
            continue  # test cells come back from the gradebook; locked cells are the instructor's
        for reason in tampering(cell.source):
            found.append((index, reason))
    return found


def _grade_order(source: Path) -> dict[str, tuple[int, str]]:
    """grade id -> (index of its cell in the instructor's notebook, id)."""
    import nbformat

    notebook = nbformat.read(source, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: (index, cell.metadata["nbgrader"]["grade_id"])
            for index, cell in enumerate(notebook.cells)
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")}


def _column_order(column: str, sources: list[Path]) -> tuple[int, int]:
    stem, _, grade_id = column.partition(":")
    position = [source.stem for source in sources].index(stem)
    source = sources[position]
    return position, _grade_order(source).get(grade_id, (10**9, ""))[0]

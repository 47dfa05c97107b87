"""Benchmark: how fast ``course grade`` autogrades a class, with 1 and with 2 jobs.

Run with ``python tests/benchmarks/bench_grading.py [--notebook notebooks/01_bpe_tokenization.ipynb]
[--students 40] [--jobs 1 2]``.

A class of ``--students`` submissions is generated from the instructor's notebook and its
released version: each student (seeded) solved the first few exercises with the instructor's
solutions, answered the next one wrongly (a solution that raises) and left the rest as stubs. The whole class is
graded once per ``--jobs`` value, feedback files included; printed are the wall time,
submissions per minute, and the mean score (the same for every run, or something is wrong).
Autograding runs the notebooks at smoke scale (``NBGRADER_EXECUTION=autograde``).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from course_utils.cli import release_notebooks  # noqa: E402
from course_utils.grading import grade_submissions  # noqa: E402


def generate_class(instructor: Path, released: Path, folder: Path, students: int, seed: int = 0) -> None:
    """``folder/student-NN/<notebook>``: each student solved the first few exercises (a random
    number of them, later exercises build on earlier ones), got the next one wrong and left the rest."""
    solved = nbformat.read(instructor, as_version=4)
    rng = random.Random(seed)
    for k in range(students):
        notebook = nbformat.read(released, as_version=4)
        solutions = [i for i, cell in enumerate(notebook.cells)
                     if cell.get("metadata", {}).get("nbgrader", {}).get("solution")]
        done = rng.randint(0, len(solutions))
        for rank, index in enumerate(solutions):
            cell = notebook.cells[index]
            if rank < done:
                cell.source = solved.cells[index].source
            elif rank == done:
                cell.source = cell.source.replace("raise NotImplementedError()", "raise ValueError('not yet')")
        target = folder / f"student-{k:02d}" / instructor.name
        target.parent.mkdir(parents=True)
        nbformat.write(notebook, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=Path("notebooks/01_bpe_tokenization.ipynb"))
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        scratch = Path(scratch)
        released = release_notebooks([args.notebook], scratch / "release")[0]
        generate_class(args.notebook, released, scratch / "class", args.students)
        print(f"{args.students} submissions of {args.notebook.name}")
        for jobs in args.jobs:
            start = time.perf_counter()
            report = grade_submissions(scratch / "class", [args.notebook], scratch / f"grades-{jobs}.csv",
                                       scratch / f"feedback-{jobs}", jobs=jobs, progress=False)
            seconds = time.perf_counter() - start
            print(f"jobs {jobs}: {seconds:.0f} s, {args.students / seconds * 60:.1f} submissions per minute, "
                  f"mean score {report.table['total'].mean():.2f} of {report.table['max_score'].iloc[0]:.0f}")


if __name__ == "__main__":
    main()

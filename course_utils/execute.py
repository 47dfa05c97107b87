"""Re-execute notebooks in place, for committing them with fresh outputs.

    python -m course_utils.execute                      # every notebook, laptop scale
    python -m course_utils.execute notebooks/01_*.ipynb  # some of them
    python -m course_utils.execute --scale smoke         # another scale (not for committing)

Each notebook runs top to bottom in a fresh kernel from the notebooks/ folder; the run time is
printed so the README's course map can quote it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from course_utils.config import SCALE_NAMES

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def execute_notebook(path: Path, scale: str = "laptop", timeout: int = 1800) -> float:
    """Run ``path`` top to bottom at ``scale``, save it in place, return the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    if scale not in SCALE_NAMES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALE_NAMES)}")
    notebook = nbformat.read(path, as_version=4)
    os.environ["COURSE_SCALE"] = scale
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook")
    parser.add_argument("--scale", default="laptop", choices=SCALE_NAMES)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        seconds = execute_notebook(Path(path), args.scale)
        print(f"{Path(path).name}: {seconds:.0f} s at {args.scale} scale")


if __name__ == "__main__":
    main()

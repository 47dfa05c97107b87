"""The course's notebooks, for the tests that inspect them."""

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def nbgrader_cells(notebook) -> list:
    return [cell for cell in notebook.cells if "nbgrader" in cell.metadata]

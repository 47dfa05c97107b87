"""Re-execute notebooks in place, for committing them with fresh outputs.

    python -m course_utils.execute                      # every notebook, laptop scale
    python -m course_utils.execute notebooks/01_*.ipynb  # some of them
    python -m course_utils.execute --scale smoke         # another scale (not for committing)

Each notebook runs top to bottom in a fresh kernel from the notebooks/ folder; the run time is
printed so the README's course map can quote it.

Widgets need a running kernel, so the saved notebook keeps none: each progress bar becomes the
text line of its final state (``pretraining: 100%|##########| 8000/8000 [04:03<00:00]``), each
interactive widget a one-line note saying to run the cell, and no widget state is stored. The
notebook then reads the same on a code host, in an untrusted JupyterLab and after an autosave.

A failing cell raises ``NotebookError``, whose message names the notebook, the cell's index and
the first line of its source, and the error in one line (``course run`` prints just that).
"""

from __future__ import annotations

import argparse
import html
import os
import time
from pathlib import Path
from typing import Any

from course_utils.config import SCALE_NAMES

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
INTERACTIVE_NOTE = "[interactive widget: run this cell in Jupyter to use it]"


class NotebookError(RuntimeError):
    """A cell of a notebook failed: the notebook, the cell's index (0-based, as in nbformat,
    markdown cells counted), the first line of its source and the error, without a traceback."""

    def __init__(self, path: Path, cell_index: int, source: str, error: str,
                 saved: Path | None = None) -> None:
        self.path, self.cell_index, self.error, self.saved = path, cell_index, error, saved
        self.first_line = next((line for line in source.splitlines() if line.strip()), "")
        message = f"{path.name}: cell {cell_index} failed: {error}\n    first line: {self.first_line}"
        if saved is not None:
            message += f"\n    the executed cells and the full traceback are in {saved}"
        super().__init__(message)


def execute_notebook(path: Path, scale: str = "laptop", timeout: int = 1800,
                     output: Path | None = None) -> float:
    """Run ``path`` top to bottom at ``scale`` and save it to ``output`` (default: in place).

    Return the seconds it took. The kernel runs in the folder of ``path``, wherever ``output`` is.
    On a failing cell raise ``NotebookError``; a copy written elsewhere than ``path`` is then saved
    as far as it ran, so its traceback can be read there.
    """
    import nbformat
    from nbclient import NotebookClient

    if scale not in SCALE_NAMES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALE_NAMES)}")
    path = Path(path)
    output = path if output is None else Path(output)
    notebook = nbformat.read(path, as_version=4)
    os.environ["COURSE_SCALE"] = scale
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    running: dict[str, int] = {}
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=lambda cell, cell_index: running.update(index=cell_index),
    )
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as error:  # a cell raised, timed out or killed the kernel
        if "index" not in running:  # the kernel never started: nothing to point at
            raise
        saved = None
        if output.resolve() != path.resolve():
            static_widget_outputs(notebook)
            nbformat.write(notebook, output)
            saved = output
        index = running["index"]
        raise NotebookError(path, index, notebook.cells[index].source, _one_line(error),
                            saved) from error
    seconds = time.perf_counter() - start
    static_widget_outputs(notebook)
    nbformat.validate(notebook)
    nbformat.write(notebook, output)
    return seconds


def _one_line(error: Exception) -> str:
    """``ValueError: boom`` for an error raised in the kernel, else the error's own name and text."""
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    if ename:
        return f"{ename}: {evalue}" if evalue else ename
    return f"{type(error).__name__}: {error}"


def static_widget_outputs(notebook: Any) -> int:
    """Replace every widget output by plain text and drop the saved widget state; return how many.

    A tqdm bar (an HBox of description, progress and counter) becomes its final text line; any
    other widget becomes ``INTERACTIVE_NOTE``.
    """
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            line = _progress_line(view.get("model_id"), state)
            output["data"] = {"text/plain": line or INTERACTIVE_NOTE}
            replaced += 1
    notebook.metadata.pop("widgets", None)
    return replaced


def _progress_line(model_id: str | None, state: dict) -> str | None:
    """The text of a finished tqdm bar from its saved widget state, or None if it is not one."""
    box = state.get(model_id, {})
    children = [state.get(str(child).removeprefix("IPY_MODEL_"), {})
                for child in box.get("state", {}).get("children", [])]
    names = [child.get("model_name") for child in children]
    if box.get("model_name") != "HBoxModel" or names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (child.get("state", {}) for child in children)
    total, value = bar.get("max") or 0, bar.get("value") or 0
    filled = round(10 * value / total) if total else 0
    text = f"{left.get('value', '')}|{'#' * filled}{' ' * (10 - filled)}|{right.get('value', '')}"
    return html.unescape(text).replace("\u2007", " ")


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

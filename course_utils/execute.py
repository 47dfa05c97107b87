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
    static_widget_outputs(notebook)
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return seconds


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

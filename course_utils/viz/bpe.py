"""Views of BPE training: pair-count tables, segmented corpora and an interactive merge stepper."""

from __future__ import annotations

import html
from typing import Mapping

import pandas as pd

from course_utils.viz.tables import HIGHLIGHT, side_by_side


def pair_table(pair_counts: Mapping[tuple[str, str], int], highlight: tuple[str, str] | None = None):
    """Taught in notebook 01, section 4.
    Pair counts as a table (pairs written ``a-b``), the ``highlight`` pair marked in colour."""
    frame = pd.DataFrame(
        {"pair": [f"{a}-{b}" for a, b in pair_counts], "count": list(pair_counts.values())}
    )
    if highlight is None:
        return frame
    chosen = f"{highlight[0]}-{highlight[1]}"
    return frame.style.format(escape="html").apply(
        lambda row: [HIGHLIGHT if row["pair"] == chosen else ""] * len(row), axis=1
    ).hide(axis="index")


def segmentation_table(segmentation: Mapping[tuple[str, ...], int]) -> pd.DataFrame:
    """A segmented corpus (symbols -> count) as a table, symbols separated by spaces."""
    return pd.DataFrame(
        {"word": [" ".join(symbols) for symbols in segmentation], "count": list(segmentation.values())}
    )


def step_html(steps: list, index: int) -> str:
    """HTML for merge step ``index`` of ``steps`` (from ``train_bpe(..., record_steps=True)``)."""
    step = steps[index]
    a, b = step.pair
    title = (
        f"<p><b>Step {index + 1} of {len(steps)}</b>: the most frequent pair is "
        f"<code>{html.escape(a)}-{html.escape(b)}</code> ({step.count} times); "
        f"it becomes the new symbol <code>{html.escape(a + b)}</code>.</p>"
    )
    tables = side_by_side({
        "corpus before this merge": segmentation_table(step.segmentation)
        .style.format(escape="html").hide(axis="index"),
        "pair counts": pair_table(step.pair_counts, highlight=step.pair),
    })
    return title + tables


def merge_stepper(steps: list):
    """Taught in notebook 01, section 4.
    A slider over merge steps showing the segmented corpus and the pair counts at each one."""
    import ipywidgets as widgets

    if not steps:
        raise ValueError("no steps to show: train with train_bpe(..., record_steps=True)")
    slider = widgets.IntSlider(value=1, min=1, max=len(steps), description="merge step",
                               continuous_update=False)
    view = widgets.HTML(step_html(steps, 0))

    def show(change) -> None:
        view.value = step_html(steps, change["new"] - 1)

    slider.observe(show, names="value")
    return widgets.VBox([slider, view])

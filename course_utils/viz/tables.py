"""Showing several tables next to each other."""

from __future__ import annotations

import html

import pandas as pd

HIGHLIGHT = "background-color: #ffd54f; font-weight: bold"


def side_by_side(frames: dict[str, pd.DataFrame | "pd.io.formats.style.Styler"]) -> str:
    """Taught in notebook 01, section 4.
    HTML that shows each titled table next to the others (wrap in IPython's HTML to display)."""
    boxes = []
    for title, frame in frames.items():
        table = frame.to_html() if hasattr(frame, "to_html") else str(frame)
        boxes.append(
            f"<div style='margin-right:24px'><b>{html.escape(title)}</b>{table}</div>"
        )
    return f"<div style='display:flex;flex-wrap:wrap;align-items:flex-start'>{''.join(boxes)}</div>"

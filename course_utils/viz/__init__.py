"""Plots, tables and interactive explorers for the notebooks."""

from course_utils.viz.attention import bertviz_layers, explorer_html, find_libraries, head_view, model_view, plot_heads
from course_utils.viz.decoding import DECODING_SETTINGS, decoding_playground, decoding_summary, decoding_table
from course_utils.viz.bpe import merge_stepper, pair_table, segmentation_table, step_html
from course_utils.viz.mlm import guess_words, masking_playground
from course_utils.viz.tables import side_by_side

__all__ = [
    "bertviz_layers",
    "explorer_html",
    "find_libraries",
    "head_view",
    "model_view",
    "plot_heads",
    "DECODING_SETTINGS",
    "decoding_playground",
    "decoding_summary",
    "decoding_table",
    "guess_words",
    "masking_playground",
    "merge_stepper",
    "pair_table",
    "segmentation_table",
    "side_by_side",
    "step_html",
]

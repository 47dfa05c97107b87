"""Saved notebooks keep text in place of widgets (course_utils.execute)."""

import nbformat

from course_utils.execute import INTERACTIVE_NOTE, WIDGET_STATE, WIDGET_VIEW, static_widget_outputs


def _model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}


def _notebook_with_widgets() -> nbformat.NotebookNode:
    state = {
        "bar": _model("HBoxModel", children=["IPY_MODEL_left", "IPY_MODEL_progress", "IPY_MODEL_right"]),
        "left": _model("HTMLModel", value="pretraining\u2007(mlm):\u2007100%"),
        "progress": _model("FloatProgressModel", value=40.0, max=80.0, bar_style="success"),
        "right": _model("HTMLModel", value="\u200740/80\u2007[00:02&lt;00:02,\u200719.9it/s]"),
        "box": _model("VBoxModel", children=["IPY_MODEL_left"]),
    }
    cell = nbformat.v4.new_code_cell("run()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "bar", "version_major": 2,
                                                                   "version_minor": 0},
                                                     "text/plain": "pretraining (mlm):   0%|   | 0/80"}),
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "box", "version_major": 2,
                                                                   "version_minor": 0},
                                                     "text/plain": "VBox(children=(HTML(value=..."}),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return notebook


def test_progress_bars_become_their_final_line_and_widgets_a_note():
    notebook = _notebook_with_widgets()
    assert static_widget_outputs(notebook) == 2
    bar, box, stream = notebook.cells[0].outputs
    assert bar.data == {"text/plain": "pretraining (mlm): 100%|#####     | 40/80 [00:02<00:02, 19.9it/s]"}
    assert box.data == {"text/plain": INTERACTIVE_NOTE}
    assert stream.text == "done\n"
    assert "widgets" not in notebook.metadata
    nbformat.validate(notebook)


def test_a_widget_without_saved_state_still_gets_the_note():
    notebook = _notebook_with_widgets()
    del notebook.metadata["widgets"]
    static_widget_outputs(notebook)
    assert [o.data for o in notebook.cells[0].outputs[:2]] == [{"text/plain": INTERACTIVE_NOTE}] * 2

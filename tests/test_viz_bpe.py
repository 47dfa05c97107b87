"""The BPE views render the recorded training steps."""

import ipywidgets

from course_utils.tokenization import LECTURE_CORPUS, train_bpe
from course_utils.viz import merge_stepper, pair_table, segmentation_table, step_html


def test_step_html_shows_the_chosen_pair_and_the_corpus():
    steps = train_bpe(LECTURE_CORPUS, 3, record_steps=True).steps
    page = step_html(steps, 1)
    assert "Step 2 of 3" in page and "<code>es-t</code>" in page
    assert "n e w es t &lt;/w&gt;" in page
    assert "background-color" in page  # the highlighted row


def test_tables():
    steps = train_bpe(LECTURE_CORPUS, 1, record_steps=True).steps
    frame = pair_table(steps[0].pair_counts)
    assert frame.set_index("pair")["count"].to_dict()["e-s"] == 8
    words = segmentation_table(steps[0].segmentation)
    assert words["count"].sum() == 15


def test_stepper_slider_moves_through_steps():
    steps = train_bpe(LECTURE_CORPUS, 5, record_steps=True).steps
    box = merge_stepper(steps)
    slider, view = box.children
    assert isinstance(slider, ipywidgets.IntSlider) and slider.max == 5
    slider.value = 4
    assert "Step 4 of 5" in view.value

"""The masking playground: type a sentence, pick the words to hide, see what BERT guesses.

``guess_words`` does the work (and is what the tests check); ``masking_playground``
wraps it in ipywidgets: a text box, one toggle button per word, and a table of guesses.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from course_utils.analysis.cloze import fill_mask
from course_utils.models import BertForPreTraining
from course_utils.tokenization import WordPieceTokenizer


def guess_words(
    model: BertForPreTraining, tokenizer: WordPieceTokenizer, words: Sequence[str],
    hidden: Sequence[int], k: int = 5,
) -> pd.DataFrame:
    """Taught in notebook 04, section 9.
    Replace ``words[i]`` by ``[MASK]`` for every ``i`` in ``hidden`` and return the top
    ``k`` guesses for each, one row per hidden word (columns: word, guesses, probabilities)."""
    hidden = sorted(set(hidden))
    bad = [i for i in hidden if not 0 <= i < len(words)]
    if bad:
        raise ValueError(f"word positions {bad} are out of range for {len(words)} words")
    if not hidden:
        return pd.DataFrame(columns=["hidden word", "guesses", "probabilities"])
    text = " ".join("[MASK]" if i in hidden else w for i, w in enumerate(words))
    table = fill_mask(model, tokenizer, text, k=k)
    rows = []
    for mask, i in enumerate(hidden, start=1):
        guesses = table[table["mask"] == mask]
        rows.append({
            "hidden word": words[i],
            "guesses": ", ".join(guesses["token"]),
            "probabilities": ", ".join(f"{p:.2f}" for p in guesses["probability"]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def masking_playground(
    model: BertForPreTraining, tokenizer: WordPieceTokenizer,
    text: str = "The cats near the dog are hungry.", k: int = 5,
):
    """Taught in notebook 04, section 9.
    An interactive widget: edit the sentence, click words to hide them, read the guesses."""
    import ipywidgets as widgets

    box = widgets.Text(value=text, description="sentence", layout=widgets.Layout(width="90%"),
                       continuous_update=False)
    buttons = widgets.HBox()
    output = widgets.HTML()

    def words() -> list[str]:
        return tokenizer.basic_tokenize(box.value)

    def refresh(_=None) -> None:
        hidden = [i for i, b in enumerate(buttons.children) if b.value]
        table = guess_words(model, tokenizer, words(), hidden, k=k)
        output.value = (table.to_html(index=False) if len(table)
                        else "<i>click words above to hide them</i>")

    def rebuild(_=None) -> None:
        toggles = [widgets.ToggleButton(description=w, layout=widgets.Layout(width="auto"))
                   for w in words()]
        for toggle in toggles:
            toggle.observe(refresh, names="value")
        buttons.children = toggles
        refresh()

    box.observe(rebuild, names="value")
    rebuild()
    return widgets.VBox([box, buttons, output])

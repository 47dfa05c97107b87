"""The lecture's table of Swahili conjugations of -ambia ('to tell')."""

from __future__ import annotations

import pandas as pd

from course_utils.data.files import data_file


def swahili_conjugations() -> pd.DataFrame:
    """Taught in notebook 01, section 10.
    One row per form: tense, polarity, person (or noun class) and the conjugated form.

    >>> table = swahili_conjugations()
    >>> table.query("tense == 'past' and polarity == 'positive' and person == '1sg'").form.item()
    'niliambia'
    """
    wide = pd.read_csv(data_file("swahili_ambia.tsv"), sep="\t", comment="#")
    return wide.melt(id_vars=["tense", "polarity"], var_name="person", value_name="form")

"""The small data files and the word-frequency corpus."""

import pytest

from course_utils.data import data_file, english_word_counts, swahili_conjugations


def test_swahili_table_has_every_tense_and_person():
    table = swahili_conjugations()
    assert table.person.nunique() == 18
    assert len(table) == 14 * 18
    assert set(table.tense) >= {"past", "present", "future", "subjunctive", "gnomic"}
    assert table.form.str.contains("amb").all()
    row = table.query("tense == 'future' and polarity == 'negative' and person == '2pl'")
    assert row.form.item() == "hamtaambia"


def test_missing_data_file_names_what_is_there():
    with pytest.raises(FileNotFoundError, match="swahili_ambia.tsv"):
        data_file("no_such_file.txt")


def test_english_word_counts():
    counts = english_word_counts(1000)
    assert len(counts) == 1000
    assert list(counts)[:3] == ["the", "to", "and"]
    values = list(counts.values())
    assert all(isinstance(v, int) and v >= 1 for v in values)
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "10"])
def test_english_word_counts_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive int"):
        english_word_counts(bad)

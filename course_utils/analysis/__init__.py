"""Looking inside trained models: word guessing (cloze probes) and contextual vectors.

- :mod:`.cloze`: fill in ``[MASK]``, score probes by phenomenon against a unigram baseline;
- :mod:`.embeddings`: one vector per word occurrence, and its nearest neighbours.
"""

from course_utils.analysis.cloze import fill_mask, masked_log_probs, probe_table, score_probes, unigram_choices
from course_utils.analysis.embeddings import nearest_occurrences, occurrence_vectors

__all__ = [
    "fill_mask",
    "masked_log_probs",
    "nearest_occurrences",
    "occurrence_vectors",
    "probe_table",
    "score_probes",
    "unigram_choices",
]

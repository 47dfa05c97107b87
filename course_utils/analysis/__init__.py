"""Looking inside trained models: word guessing (cloze probes) and contextual vectors.

- ``cloze``: fill in ``[MASK]``, score probes by phenomenon against a unigram baseline;
- ``embeddings``: one vector per word occurrence, its nearest neighbours, how often
  they are used the same way;
- ``overlap``: which test items the pretraining corpus already contains verbatim;
- ``heads``: what attention heads look at (special tokens, offsets, entropy, dependency arcs).
"""

from course_utils.analysis.cloze import (
    fill_mask,
    masked_log_probs,
    position_heuristics,
    probe_table,
    score_probes,
    two_antecedent_probes,
    unigram_choices,
)
from course_utils.analysis.embeddings import (
    nearest_occurrences,
    occurrence_vectors,
    same_use_chance,
    same_use_queries,
    same_use_rate,
)
from course_utils.analysis.heads import (
    AttentionSample,
    attention_entropy,
    collect_attention,
    consecutive_pairs,
    dependency_accuracy,
    offset_attention,
    offset_baseline,
    relation_table,
    special_token_attention,
    word_attention,
)
from course_utils.analysis.overlap import corpus_windows, filled_probes, verbatim_in_corpus

__all__ = [
    "AttentionSample",
    "attention_entropy",
    "collect_attention",
    "consecutive_pairs",
    "dependency_accuracy",
    "offset_attention",
    "offset_baseline",
    "relation_table",
    "special_token_attention",
    "word_attention",
    "corpus_windows",
    "filled_probes",
    "fill_mask",
    "masked_log_probs",
    "nearest_occurrences",
    "occurrence_vectors",
    "position_heuristics",
    "probe_table",
    "same_use_chance",
    "same_use_queries",
    "same_use_rate",
    "score_probes",
    "two_antecedent_probes",
    "unigram_choices",
    "verbatim_in_corpus",
]

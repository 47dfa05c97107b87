"""Pretraining data: BERT's masked LM and sentence pairs, T5's span corruption, BART's noising, batching.

Taught in notebooks 04 (BERT, sections 2 to 5) and 07 (T5, BART). One module per idea:

- ``masked_lm``: pick ~15 % of the tokens, noise them 80/10/10, and the loss
  over the picked positions only (``mask_tokens``, ``masked_lm_loss``);
- ``sentence_pairs``: next-sentence prediction pairs ``[CLS] A [SEP] B [SEP]``,
  one sentence or several packed per segment (``make_nsp_pair``,
  ``make_packed_pair``, ``nsp_pairs``);
- ``span_corruption``: T5's noise spans replaced by sentinels (``span_corruption``,
  ``corrupt_spans``, ``corrupt_words``);
- ``bart``: BART's token masking, token deletion, text infilling, sentence permutation
  and document rotation;
- ``batching``: padding sequences into one batch (``pad_batch``), also used by
  fine-tuning.

Every name is importable from here: ``from course_utils.noising import mask_tokens``.
"""

from course_utils.noising.bart import (
    MASK_RATIO,
    MAX_SPAN_LENGTH,
    POISSON_LAMBDA,
    document_rotation,
    infill_spans,
    insert_masks,
    permute_sentences,
    poisson_span_lengths,
    sentence_permutation,
    split_sentences,
    text_infilling,
    token_deletion,
    token_masking,
)
from course_utils.noising.batching import pad_batch
from course_utils.noising.masked_lm import (
    IGNORE_INDEX,
    MASK_MODES,
    apply_noise,
    bernoulli_selection,
    exact_selection,
    mask_tokens,
    masked_lm_loss,
    non_special_ids,
    num_predictions,
    random_tokens,
)
from course_utils.noising.sentence_pairs import (
    IS_NEXT,
    NOT_NEXT,
    Document,
    NSPExample,
    make_nsp_pair,
    make_packed_pair,
    nsp_pairs,
    pair_positions,
    random_other_sentence,
    truncate_pair,
)
from course_utils.noising.span_corruption import (
    MEAN_NOISE_SPAN_LENGTH,
    NOISE_DENSITY,
    corrupt_spans,
    corrupt_words,
    num_noise_spans,
    num_noise_tokens,
    num_sentinels_needed,
    random_noise_spans,
    random_segmentation,
    random_span_lengths,
    span_corruption,
    t5_sentinel_ids,
)

__all__ = [
    "IGNORE_INDEX",
    "IS_NEXT",
    "MASK_MODES",
    "MASK_RATIO",
    "MAX_SPAN_LENGTH",
    "MEAN_NOISE_SPAN_LENGTH",
    "NOISE_DENSITY",
    "NOT_NEXT",
    "POISSON_LAMBDA",
    "Document",
    "NSPExample",
    "apply_noise",
    "bernoulli_selection",
    "corrupt_spans",
    "corrupt_words",
    "document_rotation",
    "exact_selection",
    "infill_spans",
    "insert_masks",
    "make_nsp_pair",
    "make_packed_pair",
    "mask_tokens",
    "masked_lm_loss",
    "non_special_ids",
    "nsp_pairs",
    "num_noise_spans",
    "num_noise_tokens",
    "num_predictions",
    "num_sentinels_needed",
    "pad_batch",
    "pair_positions",
    "permute_sentences",
    "poisson_span_lengths",
    "random_noise_spans",
    "random_other_sentence",
    "random_segmentation",
    "random_span_lengths",
    "random_tokens",
    "sentence_permutation",
    "span_corruption",
    "split_sentences",
    "t5_sentinel_ids",
    "text_infilling",
    "token_deletion",
    "token_masking",
    "truncate_pair",
]

"""BERT's pretraining data: masked language modelling, sentence pairs, batching.

Taught in notebook 04, sections 2 to 5. One module per idea:

- ``masked_lm``: pick ~15 % of the tokens, noise them 80/10/10, and the loss
  over the picked positions only (``mask_tokens``, ``masked_lm_loss``);
- ``sentence_pairs``: next-sentence prediction pairs ``[CLS] A [SEP] B [SEP]``,
  one sentence or several packed per segment (``make_nsp_pair``,
  ``make_packed_pair``, ``nsp_pairs``);
- ``batching``: padding sequences into one batch (``pad_batch``), also used by
  fine-tuning.

Every name is importable from here: ``from course_utils.noising import mask_tokens``.
"""

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

__all__ = [
    "IGNORE_INDEX",
    "IS_NEXT",
    "MASK_MODES",
    "NOT_NEXT",
    "Document",
    "NSPExample",
    "apply_noise",
    "bernoulli_selection",
    "exact_selection",
    "make_nsp_pair",
    "make_packed_pair",
    "mask_tokens",
    "masked_lm_loss",
    "non_special_ids",
    "nsp_pairs",
    "num_predictions",
    "pad_batch",
    "pair_positions",
    "random_other_sentence",
    "random_tokens",
    "truncate_pair",
]

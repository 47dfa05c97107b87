"""The course's data: small files shipped in data/, and corpora built on this machine.

Nothing here downloads anything.
"""

from course_utils.data.files import DATA_DIR, data_file
from course_utils.data.morphology import swahili_conjugations
from course_utils.data.toy_tasks import Seq2SeqBatch, reverse_task_batch
from course_utils.data.word_frequencies import english_word_counts

__all__ = [
    "DATA_DIR",
    "Seq2SeqBatch",
    "data_file",
    "english_word_counts",
    "reverse_task_batch",
    "swahili_conjugations",
]

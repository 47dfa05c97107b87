"""The course's data: small files shipped in data/, corpora built on this machine, and a
registry of real corpora.

Nothing downloads anything unless a user calls ``download`` (or ``load_dataset`` with
``download_if_missing=True``).
"""

from course_utils.data.files import DATA_DIR, data_file
from course_utils.data.morphology import swahili_conjugations
from course_utils.data.registry import DATASETS, dataset_path, download, load_dataset
from course_utils.data.text_files import read_text_corpus
from course_utils.data.toy_tasks import Seq2SeqBatch, reverse_task_batch
from course_utils.data.word_frequencies import english_word_counts

__all__ = [
    "DATASETS",
    "DATA_DIR",
    "Seq2SeqBatch",
    "data_file",
    "dataset_path",
    "download",
    "load_dataset",
    "read_text_corpus",
    "english_word_counts",
    "reverse_task_batch",
    "swahili_conjugations",
]

"""The course's data: small files shipped in data/, and corpora built on this machine.

Nothing here downloads anything.
"""

from course_utils.data.files import DATA_DIR, data_file
from course_utils.data.morphology import swahili_conjugations
from course_utils.data.word_frequencies import english_word_counts

__all__ = ["DATA_DIR", "data_file", "english_word_counts", "swahili_conjugations"]

"""A small world: the course's built-in corpus, labelled tasks and cloze probes (offline, seeded, fast).

* ``lexicon`` - words, with seen and held-out adjectives, names and places;
* ``knowledge`` - the facts (capitals, homes, jobs) and causes with effects;
* ``grammar`` and ``templates`` - sentences with gold dependency trees;
* ``corpus`` - documents of related sentences, and their plain text;
* ``everyday`` - the long tail of the vocabulary (things, what people do with them);
* ``tasks`` - labelled train/validation/test DataFrames;
* ``probes`` - one-``[MASK]`` cloze items per phenomenon;
* ``baselines`` - majority class and bag-of-words naive Bayes;
* ``sizes`` - ``WORLD_SIZES`` per course scale.

>>> docs = generate_corpus(num_words=500, seed=0)
>>> corpus_text(docs).count("\\n\\n") == len(docs) - 1
True
"""

from course_utils.data.world.baselines import BASELINE_TASKS, NaiveBayes, baseline_table, baselines
from course_utils.data.world.corpus import DOCUMENT_KINDS, corpus_text, count_words, generate_corpus
from course_utils.data.world.grammar import CorefLink, Document, Sentence, Token, detokenize
from course_utils.data.world.knowledge import Cause, Fact, World, build_world, default_world
from course_utils.data.world.lexicon import Adjective, Lexicon, Person, build_lexicon
from course_utils.data.world.probes import MASK, PHENOMENA, all_probes, cloze_probes
from course_utils.data.world.sizes import WORLD_SIZES, WorldSizes, world_sizes
from course_utils.data.world.tasks import TASK_NAMES, load_task

__all__ = [
    "BASELINE_TASKS", "DOCUMENT_KINDS", "MASK", "PHENOMENA", "TASK_NAMES", "WORLD_SIZES",
    "Adjective", "Cause", "CorefLink", "Document", "Fact", "Lexicon", "NaiveBayes", "Person", "Sentence",
    "Token", "World", "WorldSizes",
    "all_probes", "baseline_table", "baselines", "build_lexicon", "build_world", "cloze_probes",
    "corpus_text", "count_words", "default_world", "detokenize", "generate_corpus", "load_task",
    "world_sizes",
]

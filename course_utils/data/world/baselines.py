"""Baselines without pretraining: the majority class, naive Bayes over word counts (numpy), and for
inference the simplest surface heuristics.

A bag of words knows nothing about a word it never saw in training and
nothing about word order, so it should sit near chance on held-out-adjective
sentiment items and on negation and contrast. That is the point: these are
the items pretraining is for. For inference, two cues that solve badly made
pair datasets are checked too: "the two sentences are about different people,
so neutral" (with a coin flip otherwise) and word overlap; on the world's
inference task both should sit near chance.

>>> table = baselines("sentiment", "smoke")
>>> list(table.columns)[:4]
['baseline', 'test', 'seen', 'unseen']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from course_utils.data.world.knowledge import World
from course_utils.data.world.lexicon import REAL_CAPITALS
from course_utils.data.world.sizes import WorldSizes
from course_utils.data.world.tasks import load_task

BASELINE_TASKS = ("sentiment", "nli", "multiple_choice", "tagging")
_WORD = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")


def words(text: str) -> list[str]:
    """Lower-cased words, numbers and punctuation marks.

    >>> words("The food was not good.")
    ['the', 'food', 'was', 'not', 'good', '.']
    """
    return _WORD.findall(text.lower())


class NaiveBayes:
    """Multinomial naive Bayes over word counts with add-``alpha`` smoothing; words unseen in training are ignored.

    >>> nb = NaiveBayes().fit([["good"], ["bad"]], ["pos", "neg"])
    >>> nb.predict([["good"], ["bad"], ["blicket"]])
    ['pos', 'neg', 'neg']
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, documents: Sequence[Sequence[str]], labels: Sequence[object]) -> NaiveBayes:
        self.classes = sorted(set(labels), key=str)
        self.vocab = {w: i for i, w in enumerate(sorted({w for d in documents for w in d}))}
        counts = np.zeros((len(self.classes), len(self.vocab)))
        prior = np.zeros(len(self.classes))
        for doc, label in zip(documents, labels):
            c = self.classes.index(label)
            prior[c] += 1
            for w in doc:
                counts[c, self.vocab[w]] += 1
        self.log_prior = np.log(prior / prior.sum())
        smoothed = counts + self.alpha
        self.log_likelihood = np.log(smoothed / smoothed.sum(axis=1, keepdims=True))
        return self

    def scores(self, documents: Sequence[Sequence[str]]) -> np.ndarray:
        """Log joint probability per (document, class)."""
        features = np.zeros((len(documents), len(self.vocab)))
        for row, doc in enumerate(documents):
            for w in doc:
                if w in self.vocab:
                    features[row, self.vocab[w]] += 1
        return features @ self.log_likelihood.T + self.log_prior

    def predict(self, documents: Sequence[Sequence[str]]) -> list[object]:
        return [self.classes[i] for i in self.scores(documents).argmax(axis=1)]


def _features(task: str, frame: pd.DataFrame) -> list[list[str]]:
    if task == "sentiment":
        return [words(t) for t in frame["text"]]
    if task == "nli":  # premise and hypothesis words kept apart
        return [["p:" + w for w in words(p)] + ["h:" + w for w in words(h)]
                for p, h in zip(frame["premise"], frame["hypothesis"])]
    if task == "nli_pairs":  # every (premise word, hypothesis word) pair: facts the labels show
        return [[f"{a}|{b}" for a in _content(p) for b in _content(h)]
                for p, h in zip(frame["premise"], frame["hypothesis"])]
    raise ValueError(task)


def _content(text: str) -> list[str]:
    return [w for w in words(text) if w.isalnum()]


def subject_cue(premise: str, hypothesis: str, rng: np.random.Generator) -> str:
    """Taught in notebook 05, section 2. Neutral when the two sentences start with different
    words (about different people),
    otherwise a coin flip between entailment and contradiction.

    >>> subject_cue("My aunt lives in Rome.", "My uncle lives in Italy.", np.random.default_rng(0))
    'neutral'
    """
    if words(premise)[:2] != words(hypothesis)[:2]:
        return "neutral"
    return str(rng.choice(["entailment", "contradiction"]))


def word_overlap(premise: str, hypothesis: str) -> float:
    """Taught in notebook 05, section 2. The share of the hypothesis' words (not punctuation)
    that the premise contains.

    >>> word_overlap("My aunt lives in Rome.", "My aunt lives in Italy.")
    0.8
    """
    hyp, prem = _content(hypothesis), set(_content(premise))
    return sum(w in prem for w in hyp) / max(1, len(hyp))


_REAL_COUNTRIES = frozenset(country.lower() for country, _ in REAL_CAPITALS)
_REAL_CITIES = frozenset(city.lower() for _, city in REAL_CAPITALS)


def real_name_counts(premise: str, hypothesis: str) -> tuple[int, int]:
    """Taught in notebook 05, section 2. (real-world cities in the premise, real-world
    countries in the hypothesis): a surface cue, since a real capital's country is real and
    an invented one's is invented. The task draws each distractor of the same kind as the
    country it replaces, so this cue should sit at chance there.

    >>> real_name_counts("My aunt lives in Dodoma or in Grikbu.", "My aunt lives in Peru or in Kenya.")
    (1, 2)
    """
    return (sum(w in _REAL_CITIES for w in words(premise)),
            sum(w in _REAL_COUNTRIES for w in words(hypothesis)))


def _nli_heuristics(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    cue = np.array([subject_cue(p, h, rng) for p, h in zip(test["premise"], test["hypothesis"])], dtype=object)
    rows = [{"baseline": "subject_cue+coin", **_accuracy(cue == test["label"].to_numpy(), test)}]
    # word overlap, cut into tenths: each tenth predicts the training label commonest there
    majority = train["label"].value_counts().sort_index().idxmax()
    bins = lambda frame: [round(10 * word_overlap(p, h)) for p, h in zip(frame["premise"], frame["hypothesis"])]
    by_bin = pd.DataFrame({"bin": bins(train), "label": train["label"]}).groupby("bin")["label"].agg(
        lambda labels: labels.value_counts().sort_index().idxmax())
    predicted = np.array([by_bin.get(b, majority) for b in bins(test)], dtype=object)
    rows.append({"baseline": "word_overlap", **_accuracy(predicted == test["label"].to_numpy(), test)})
    # real-world names counted on both sides: each (count, count) predicts its commonest training label
    cues = lambda frame: [real_name_counts(p, h) for p, h in zip(frame["premise"], frame["hypothesis"])]
    by_cue = pd.DataFrame({"cue": cues(train), "label": train["label"]}).groupby("cue")["label"].agg(
        lambda labels: labels.value_counts().sort_index().idxmax())
    predicted = np.array([by_cue.get(c, majority) for c in cues(test)], dtype=object)
    rows.append({"baseline": "real_name_counts", **_accuracy(predicted == test["label"].to_numpy(), test)})
    nb = NaiveBayes().fit(_features("nli_pairs", train), list(train["label"]))
    predicted = np.array(nb.predict(_features("nli_pairs", test)), dtype=object)
    rows.append({"baseline": "bag_of_word_pairs", **_accuracy(predicted == test["label"].to_numpy(), test)})
    return rows


def _accuracy(correct: np.ndarray, frame: pd.DataFrame) -> dict[str, float]:
    unseen = frame["unseen"].to_numpy(bool)
    out = {"test": correct.mean(), "seen": correct[~unseen].mean() if (~unseen).any() else np.nan,
           "unseen": correct[unseen].mean() if unseen.any() else np.nan}
    if "construction" in frame:  # seen items only: the unseen column covers held-out adjectives
        for construction in ("plain", "negation", "contrast"):
            mask = (frame["construction"].to_numpy() == construction) & ~unseen
            out["seen_" + construction] = correct[mask].mean() if mask.any() else np.nan
    return out


def baselines(task: str, scale: str | WorldSizes = "smoke", seed: int = 0,
              world: World | None = None) -> pd.DataFrame:
    """Taught in notebook 05, section 2.
    Test accuracy of the majority class and of bag-of-words naive Bayes, overall and on seen/unseen items.

    Tasks: ``sentiment`` (also per construction, on seen items), ``nli`` (also the surface
    heuristics ``subject_cue`` with a coin flip, ``word_overlap`` with the commonest
    training label per tenth of overlap, and naive Bayes over premise-word x hypothesis-word
    pairs, which can learn from the labels which city lies in which country), ``multiple_choice``
    (naive Bayes scores premise+choice as right or wrong and picks the higher),
    ``tagging`` (accuracy on entity tokens; "majority" tags every word with its
    most frequent training tag, "majority+capital_backoff" also gives the most frequent
    entity type for unknown capitalised words, "majority+suffix_backoff" the commonest type of
    the training entities that end in the same last 4, 3, 2 or 1 letters). For ``nli`` also
    ``real_name_counts`` with the commonest training label per pair of counts.
    """
    if task not in BASELINE_TASKS:
        raise ValueError(f"no baselines for task {task!r}; allowed: {', '.join(BASELINE_TASKS)}")
    splits = load_task(task, scale, seed, world)
    train, test = splits["train"], splits["test"]
    rows = []
    if task in ("sentiment", "nli"):
        majority = train["label"].value_counts().sort_index().idxmax()
        rows.append({"baseline": "majority", **_accuracy((test["label"] == majority).to_numpy(), test)})
        nb = NaiveBayes().fit(_features(task, train), list(train["label"]))
        predicted = np.array(nb.predict(_features(task, test)), dtype=object)
        rows.append({"baseline": "bag_of_words", **_accuracy(predicted == test["label"].to_numpy(), test)})
        if task == "nli":
            rows += _nli_heuristics(train, test, seed)
    elif task == "multiple_choice":
        majority = int(train["label"].value_counts().sort_index().idxmax())
        rows.append({"baseline": "majority", **_accuracy((test["label"] == majority).to_numpy(), test)})

        def pairs(frame: pd.DataFrame, choice: str) -> list[list[str]]:
            return [words(p + " " + q) + ["c:" + w for w in words(c)]
                    for p, q, c in zip(frame["premise"], frame["question"], frame[choice])]

        documents = pairs(train, "choice0") + pairs(train, "choice1")
        labels = list(train["label"] == 0) + list(train["label"] == 1)
        nb = NaiveBayes().fit(documents, labels)
        right = nb.classes.index(True)

        def margin(choice: str) -> np.ndarray:
            s = nb.scores(pairs(test, choice))
            return s[:, right] - s[:, 1 - right]

        predicted = (margin("choice1") > margin("choice0")).astype(int)
        rows.append({"baseline": "bag_of_words", **_accuracy(predicted == test["label"].to_numpy(), test)})
    else:
        rows += _tagging_baselines(train, test)
    return pd.DataFrame(rows)


def _tagging_baselines(train: pd.DataFrame, test: pd.DataFrame) -> list[dict[str, object]]:
    tag_counts: dict[str, dict[str, int]] = {}
    for tokens, tags in zip(train["tokens"], train["tags"]):
        for w, t in zip(tokens, tags):
            tag_counts.setdefault(w, {}).setdefault(t, 0)
            tag_counts[w][t] += 1
    best = {w: max(sorted(c), key=c.get) for w, c in tag_counts.items()}
    entity_tags = [t for tags in train["tags"] for t in tags if t != "O"]
    commonest_entity = max(sorted(set(entity_tags)), key=entity_tags.count)
    rows = []
    for name, backoff in (("majority", "O"), ("majority+capital_backoff", commonest_entity)):
        correct = []
        for tokens, tags in zip(test["tokens"], test["tags"]):
            hits = [best.get(w, backoff if w[0].isupper() and i > 0 else "O") == t
                    for i, (w, t) in enumerate(zip(tokens, tags)) if t != "O"]
            correct.append(float(all(hits)))  # as the models are scored: every entity tag right
        rows.append({"baseline": name, **_accuracy(np.array(correct), test)})
    # an unknown word's type from its ending: the longest of its last 4..1 letters that ends
    # a training entity, with the commonest type among those entities
    suffix_tags: dict[str, dict[str, int]] = {}
    for tokens, tags in zip(train["tokens"], train["tags"]):
        for w, t in zip(tokens, tags):
            if t != "O":
                for k in range(1, 5):
                    suffix_tags.setdefault(w[-k:].lower(), {}).setdefault(t, 0)
                    suffix_tags[w[-k:].lower()][t] += 1

    def by_suffix(word: str) -> str:
        for k in range(4, 0, -1):
            counts = suffix_tags.get(word[-k:].lower())
            if counts:
                return max(sorted(counts), key=counts.get)
        return commonest_entity

    correct = []
    for tokens, tags in zip(test["tokens"], test["tags"]):
        hits = [best.get(w, by_suffix(w) if w[0].isupper() and i > 0 else "O") == t
                for i, (w, t) in enumerate(zip(tokens, tags)) if t != "O"]
        correct.append(float(all(hits)))  # as the models are scored: every entity tag right
    rows.append({"baseline": "majority+suffix_backoff", **_accuracy(np.array(correct), test)})
    return rows


def baseline_table(scale: str | WorldSizes = "smoke", seed: int = 0) -> pd.DataFrame:
    """``baselines`` of every task, one table (rows task x baseline)."""
    frames = [baselines(task, scale, seed).assign(task=task) for task in BASELINE_TASKS]
    table = pd.concat(frames, ignore_index=True)
    return table[["task", *[c for c in table.columns if c != "task"]]]


if __name__ == "__main__":  # python -m course_utils.data.world.baselines [scale ...]
    import sys

    for scale_name in sys.argv[1:] or ["smoke"]:
        print(f"scale: {scale_name}")
        print(baseline_table(scale_name).round(3).to_string(index=False))

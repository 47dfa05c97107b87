"""Labelled fine-tuning tasks on the small world, as pandas DataFrames per split.

Every task has ``train``, ``validation`` and ``test`` splits with no identical
text across them. Training and validation sets use only *seen* words and
facts; half of each test set (where the task has held-out material) uses
held-out adjectives, names, places, facts or causes, flagged by ``unseen``.
Their meaning is stated only in the unlabelled corpus, so only a model that
learned from the corpus can get them right.

>>> splits = load_task("sentiment", "smoke")
>>> sorted(splits), len(splits["train"]), bool(splits["train"]["unseen"].any())
(['test', 'train', 'validation'], 200, False)
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pandas as pd

from course_utils.data.world.corpus import number_story, review_values
from course_utils.data.world.grammar import Character, realize
from course_utils.data.world.knowledge import World, default_world
from course_utils.data.world.lexicon import REAL_CAPITALS, Person
from course_utils.data.world.sizes import WorldSizes, world_sizes
from course_utils.data.world.templates import AGREEMENT, AMBIGUOUS, KNOWLEDGE, NUMBERS, SENTIMENT, noun_phrase

TASK_NAMES = ("sentiment", "nli", "tagging", "qa", "multiple_choice", "text_to_text")
SPLITS = ("train", "validation", "test")
SENTIMENT_LABELS = ("positive", "negative")
NLI_LABELS = ("entailment", "contradiction", "neutral")
ENTITY_TYPES = ("PER", "CITY", "COUNTRY")

Row = dict[str, object]


def _build(sizes: WorldSizes, seed: int, labels: tuple, make: Callable[[random.Random, object, bool], Row],
           key: Callable[[Row], str], heldout: bool = True) -> dict[str, pd.DataFrame]:
    """Draw distinct rows for each split, cycling through ``labels``; test alternates seen/unseen blocks."""
    rng = random.Random(seed)
    used: set[str] = set()
    out = {}
    for split, size in (("train", sizes.train), ("validation", sizes.validation), ("test", sizes.test)):
        rows: list[Row] = []
        failures = 0
        while len(rows) < size:
            label = labels[len(rows) % len(labels)]
            unseen = heldout and split == "test" and (len(rows) // len(labels)) % 2 == 1 and failures < 2_000
            row = make(rng, label, unseen)
            k = key(row)
            if k in used:
                failures += 1
                if failures > 20_000:
                    raise RuntimeError(f"could not draw {size} distinct {split} items; ask for fewer")
                continue
            used.add(k)
            rows.append(row)
        out[split] = pd.DataFrame(rows)
    return out


class _Pools:
    """Seen and held-out people, places, adjectives and causes of a world."""

    def __init__(self, world: World) -> None:
        lex = world.lexicon
        self.world = world
        self.people = {u: [p for p in lex.people if p.heldout == u] for u in (False, True)}
        self.countries = {u: [c for c, _ in lex.capitals if (c in lex.heldout_places) == u] for u in (False, True)}
        self.adjectives = {u: [a for a in lex.adjectives if a.heldout == u] for u in (False, True)}
        self.causes = {u: [c for c in world.causes if c.heldout == u] for u in (False, True)}
        self.facts = {u: [f for f in world.facts if f.heldout == u] for u in (False, True)}


def _character(person: Person) -> Character:
    return Character(person.name, person.gender)


# ---------------------------------------------------------------- sentiment
def sentiment_task(sizes: WorldSizes, seed: int = 0, world: World | None = None) -> dict[str, pd.DataFrame]:
    """Single sentences; columns ``text``, ``label`` (positive/negative), ``construction``, ``unseen``.

    Constructions: ``plain`` ("The food was good."), ``negation`` ("... was not
    good.") and ``contrast`` ("... was good but the service was awful.", "...
    good but not worth the wait."). Unseen items put a held-out adjective where
    it decides the label.
    """
    pools = _Pools(world or default_world())
    kinds = {"plain": ("plain", "plain_adv"), "negation": ("negated", "negated_adv"),
             "contrast": ("but", "but", "but_worth", "but_not_worth")}
    opposite = {"positive": "negative", "negative": "positive"}

    def make(rng: random.Random, target: tuple[str, str], unseen: bool) -> Row:
        label, construction = target
        kind = rng.choice(kinds[construction])
        if (label, kind) in (("positive", "but_not_worth"), ("negative", "but_worth")):
            kind = "but_worth" if label == "positive" else "but_not_worth"
        if unseen and kind.startswith("but_"):
            kind = "but"
        values = review_values(rng, pools.adjectives[False], label, kind)
        if unseen:  # every adjective held out, so no seen word hints at the label
            first = label if kind.startswith("plain") else opposite[label]
            values["adj"] = rng.choice([a.word for a in pools.adjectives[True] if a.polarity == first])
            values["adj2"] = rng.choice([a.word for a in pools.adjectives[True] if a.polarity == label])
        text = realize(SENTIMENT[kind], values).text
        return {"text": text, "label": label, "construction": construction, "unseen": unseen}

    # Plain reviews are the commonest, as in real data: 3 plain : 1 negation : 1 contrast.
    targets = tuple((label, c) for c in ("plain", "plain", "plain", "negation", "contrast")
                    for label in SENTIMENT_LABELS)
    return _build(sizes, seed, targets, make, lambda r: r["text"])


# ---------------------------------------------------------------- inference
NLI_VERBS = ("lives", "works")
_REAL_COUNTRIES = frozenset(country for country, _ in REAL_CAPITALS)


def nli_task(sizes: WorldSizes, seed: int = 0, world: World | None = None) -> dict[str, pd.DataFrame]:
    """Sentence pairs; columns ``premise``, ``hypothesis``, ``label``, ``kind``, ``matches``, ``unseen``.

    Every item has the same shape, so no wording gives the label away: the premise names
    two cities, the hypothesis two countries, about the same person and verb:

        "My aunt lives in Dodoma or in Lima." / "My aunt lives in Peru or in Tanzania."

    The label is fixed by how many of the two countries are the countries of the two
    cities (``matches``): both (entailment: wherever she lives, the hypothesis holds), one
    (neutral: it holds for one of her two possible cities) or none (contradiction). Which
    city lies in which country is a fact the premise does not state: for seen items the
    labelled data shows it, for unseen items (held-out countries and their capitals only)
    only the unlabelled corpus does. Distractor countries come from the same pool, so
    every country appears about equally often under every label, and each is of the same kind
    (real-world or invented) as the country it replaces, so the number of real names on either
    side gives nothing away. ``kind`` is ``location``.
    """
    world = world or default_world()
    pools = _Pools(world)
    lex = world.lexicon
    matches_of = {"entailment": 2, "neutral": 1, "contradiction": 0}

    def make(rng: random.Random, label: str, unseen: bool) -> Row:
        pool = pools.countries[unseen]
        first, second = rng.sample(pool, 2)  # where the person may live
        others = [c for c in pool if c not in (first, second)]
        matches = matches_of[label]
        kept = {2: [first, second], 1: [rng.choice((first, second))], 0: []}[matches]
        countries = list(kept)
        for replaced in [c for c in (first, second) if c not in kept]:
            # a distractor of the same kind (real-world or invented) as the country it replaces,
            # so counting real names on both sides says nothing about the label
            same_kind = [c for c in others if (c in _REAL_COUNTRIES) == (replaced in _REAL_COUNTRIES)
                         and c not in countries]
            countries.append(rng.choice(same_kind or [c for c in others if c not in countries]))
        rng.shuffle(countries)
        who = "my " + rng.choice(lex.kin).singular
        verb = rng.choice(NLI_VERBS)
        premise = f"{who} {verb} in {world.capital_of[first]} or in {world.capital_of[second]}."
        hypothesis = f"{who} {verb} in {countries[0]} or in {countries[1]}."
        return {"premise": premise[0].upper() + premise[1:], "hypothesis": hypothesis[0].upper() + hypothesis[1:],
                "label": label, "kind": "location", "matches": matches, "unseen": unseen}

    return _build(sizes, seed, NLI_LABELS, make, lambda r: r["premise"] + " || " + r["hypothesis"])


def _story(rng: random.Random, world: World, person: Person):
    """An arithmetic story about ``person`` without its last sentence; returns (text, result, item)."""
    lex = world.lexicon
    item = rng.choice(lex.foods)
    other = rng.choice([p for p in lex.people if p.gender != person.gender and not p.heldout])
    cast = {"A": _character(person), "B": _character(other)}
    steps = number_story(rng)
    sentences = [realize(NUMBERS[op], {"n": str(n), "item": item.form(n != 1)}, cast).text for op, n in steps[:-1]]
    return " ".join(sentences), steps[-1][1], item


# ---------------------------------------------------------------- tagging
def tagging_task(sizes: WorldSizes, seed: int = 0, world: World | None = None) -> dict[str, pd.DataFrame]:
    """Entity types per token; columns ``tokens``, ``tags`` (PER/CITY/COUNTRY/O), ``text``,
    ``entity_type``, ``unseen``.

    Test sentences use frames that do not reveal the type ("We talked about
    X."), so held-out names can only be typed from what the corpus says about them.
    Training also has typing frames ("X lives in Y.").
    """
    world = world or default_world()
    pools = _Pools(world)
    lex = world.lexicon

    def entity(rng: random.Random, kind: str, unseen: bool) -> str:
        if kind == "PER":
            return rng.choice(pools.people[unseen]).name
        country = rng.choice(pools.countries[unseen])
        return country if kind == "COUNTRY" else world.capital_of[country]

    types = {p.name: "PER" for p in lex.people}
    types.update({c: "COUNTRY" for c, _ in lex.capitals})
    types.update({x: "CITY" for _, x in lex.capitals})

    def make(rng: random.Random, kind: str, unseen: bool) -> Row:
        if not unseen and rng.random() < 0.3:  # a frame that reveals types
            country = rng.choice(pools.countries[False])
            person = rng.choice(pools.people[False])
            key = rng.choice(("capital_is", "lives_capital"))
            sentence = realize(KNOWLEDGE[key], {"X": world.capital_of[country], "C": country},
                               {"A": _character(person)})
        else:
            key = rng.choice(tuple(AMBIGUOUS))
            values = {"E": entity(rng, kind, unseen), "kin": rng.choice(lex.kin).singular}
            sentence = realize(AMBIGUOUS[key], values)
        tags = tuple(types.get(w, "O") for w in sentence.words)
        return {"tokens": sentence.words, "tags": tags, "text": sentence.text, "entity_type": kind,
                "unseen": unseen}

    return _build(sizes, seed, ENTITY_TYPES, make, lambda r: r["text"])


# ---------------------------------------------------------------- question answering
_QUESTIONS = {
    "capital": ("What is the capital of {s}?", "Which city is the capital of {s}?",
                "{s}'s capital is which city?"),
    "lives_in": ("Where does {s} live?", "In which city does {s} live?", "{s} lives in which city?"),
    "job": ("What does {s} do?", "What is {s}'s job?", "What does {s} work as?"),
}


def qa_task(sizes: WorldSizes, seed: int = 0, world: World | None = None) -> dict[str, pd.DataFrame]:
    """Short answers; columns ``context``, ``question``, ``answer``, ``relation``, ``unseen``.

    Closed-book questions (empty ``context``) ask facts stated in the corpus:
    "What is the capital of Tanzania?" -> "Dodoma". Unseen items ask held-out
    facts, which no training question mentions. ``relation == "numbers"``
    items give a story as context: "How many apples does Ann have now?".
    """
    world = world or default_world()
    pools = _Pools(world)

    def make(rng: random.Random, _label: object, unseen: bool) -> Row:
        if unseen or rng.random() < 0.6:
            fact = rng.choice(pools.facts[unseen])
            question = rng.choice(_QUESTIONS[fact.relation]).format(s=fact.subject)
            return {"context": "", "question": question, "answer": fact.answer, "relation": fact.relation,
                    "unseen": unseen}
        person = rng.choice(pools.people[False])
        story, count, item = _story(rng, world, person)
        return {"context": story, "question": f"How many {item.plural} does {person.name} have now?",
                "answer": str(count), "relation": "numbers", "unseen": False}

    return _build(sizes, seed, (None,), make, lambda r: r["context"] + " || " + r["question"])


# ---------------------------------------------------------------- multiple choice
def multiple_choice_task(sizes: WorldSizes, seed: int = 0, world: World | None = None) -> dict[str, pd.DataFrame]:
    """Cause and effect, two choices; columns ``premise``, ``question``, ``choice0``, ``choice1``,
    ``label`` (0 or 1), ``unseen``.

    "Ann lost her keys. What happened as a result?" / "She is sad." or "She is
    proud.". Unseen items use causes that no training item mentions.
    """
    world = world or default_world()
    pools = _Pools(world)

    def make(rng: random.Random, label: int, unseen: bool) -> Row:
        person = rng.choice(pools.people[False])
        pronoun, possessive = ("She", "her") if person.gender == "f" else ("He", "his")
        cause = rng.choice(pools.causes[unseen])
        wrong = rng.choice([c for c in pools.causes[False] if c.effect != cause.effect])
        if rng.random() < 0.5:
            premise, question = f"{person.name} {cause.text(possessive)}.", "What happened as a result?"
            right, other = f"{pronoun} is {cause.effect}.", f"{pronoun} is {wrong.effect}."
        else:
            premise, question = f"{person.name} is {cause.effect}.", "What was the cause?"
            right, other = f"{pronoun} {cause.text(possessive)}.", f"{pronoun} {wrong.text(possessive)}."
        choices = (right, other) if label == 0 else (other, right)
        return {"premise": premise, "question": question, "choice0": choices[0], "choice1": choices[1],
                "label": label, "unseen": unseen}

    return _build(sizes, seed, (0, 1), make,
                  lambda r: f"{r['premise']} {r['question']} {r['choice0']} {r['choice1']}")


# ---------------------------------------------------------------- text to text
def agreement_pair(rng: random.Random, world: World, heldout: bool) -> tuple[str, str]:
    """One sentence in the singular and the same sentence in the plural (subject and its verbs).

    ``heldout`` picks a (subject, attractor) pair that the corpus never uses.
    """
    lex = world.lexicon
    if heldout:
        subject_word, attractor_word = rng.choice(world.heldout_pairs)
        subject = next(n for n in lex.animals if n.singular == subject_word)
        attractor = next(n for n in lex.animals if n.singular == attractor_word)
    else:
        subject, attractor = rng.sample(lex.animals, 2)
        while (subject.singular, attractor.singular) in world.heldout_pairs:
            subject, attractor = rng.sample(lex.animals, 2)
    key = rng.choice(("pp", "obj_rel", "subj_rel", "passive_rel"))
    attractor_plural = rng.random() < 0.5
    t1, t2, v = rng.choice(lex.transitive), rng.choice(lex.transitive), rng.choice(lex.intransitive)
    participle = rng.choice([x for x in lex.transitive if x.base != "see"]).past
    fixed = {"n2": attractor.form(attractor_plural), "state": rng.choice(lex.states),
             "v2": t2.present(attractor_plural), "pp": participle, "kin": rng.choice(lex.kin).singular,
             "ing": v.ing}
    texts = []
    for plural in (False, True):
        be = "are" if plural else "is"
        values = {**fixed, "be": be, "be2": be, "v1": t1.present(plural)}
        cast = {"G": Character(noun_phrase(subject.form(plural)), "n", plural)}
        texts.append(realize(AGREEMENT[key], values, cast).text)
    return texts[0], texts[1]


def text_to_text_task(sizes: WorldSizes, seed: int = 0, world: World | None = None) -> dict[str, pd.DataFrame]:
    """Source/target pairs for T5 or BART; columns ``source``, ``target``, ``task``, ``unseen``.

    Prefixes: ``sentiment:``, ``question:`` (with ``context:`` for stories),
    ``nli premise: ... hypothesis:``, and ``agreement:`` (rewrite the sentence
    with the subject's number flipped; unseen items use held-out subject/attractor pairs).
    """
    world = world or default_world()
    quarter = WorldSizes(0, sizes.train // 4 + 1, sizes.validation // 4 + 1, sizes.test // 4 + 1, 0)
    sentiment = sentiment_task(quarter, seed, world)
    qa = qa_task(quarter, seed, world)
    nli = nli_task(quarter, seed, world)

    def agreement(rng: random.Random, _label: object, unseen: bool) -> Row:
        singular, plural = agreement_pair(rng, world, unseen)
        source, target = (singular, plural) if rng.random() < 0.5 else (plural, singular)
        return {"source": "agreement: " + source, "target": target, "task": "agreement", "unseen": unseen}

    agree = _build(quarter, seed, (None,), agreement, lambda r: r["source"])
    out = {}
    for split, size in zip(SPLITS, (sizes.train, sizes.validation, sizes.test)):
        rows = [{"source": "sentiment: " + r.text, "target": r.label, "task": "sentiment", "unseen": r.unseen}
                for r in sentiment[split].itertuples()]
        rows += [{"source": f"question: {r.question}" + (f" context: {r.context}" if r.context else ""),
                  "target": r.answer, "task": "qa", "unseen": r.unseen} for r in qa[split].itertuples()]
        rows += [{"source": f"nli premise: {r.premise} hypothesis: {r.hypothesis}", "target": r.label,
                  "task": "nli", "unseen": r.unseen} for r in nli[split].itertuples()]
        rows += agree[split].to_dict("records")
        frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
        out[split] = frame.iloc[:size].reset_index(drop=True)
    return out


# ---------------------------------------------------------------- entry point
_MAKERS = {"sentiment": sentiment_task, "nli": nli_task, "tagging": tagging_task, "qa": qa_task,
           "multiple_choice": multiple_choice_task, "text_to_text": text_to_text_task}


def load_task(name: str, scale: str | WorldSizes = "smoke", seed: int = 0,
              world: World | None = None) -> dict[str, pd.DataFrame]:
    """Taught in notebook 05, section 2 (notebook 04, section 8 already uses it).
    The ``train``/``validation``/``test`` DataFrames of task ``name`` at ``scale`` (see ``WORLD_SIZES``)."""
    if name not in _MAKERS:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(TASK_NAMES)}")
    return _MAKERS[name](world_sizes(scale), seed, world)

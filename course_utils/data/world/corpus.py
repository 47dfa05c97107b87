"""The unlabelled corpus: seeded short documents about the world, every sentence annotated.

Four kinds of document, each several related sentences (same characters,
pronouns referring back), so that next-sentence prediction and sentence
permutation make sense:

* ``person``: where someone lives and works, what the city is the capital of,
  what they did and how they felt (cause and effect), a small arithmetic
  story, sentences mentioning a second person (coreference), and one
  everyday sentence that carries the long tail of the vocabulary;
* ``country``: several paraphrases of one capital fact;
* ``review``: a restaurant or hotel review; held-out adjectives appear here in
  contexts that reveal their polarity ("X, so I will come back");
* ``animals``: subject-verb agreement across attractors, then pronouns.

>>> docs = generate_corpus(num_documents=3, seed=0)
>>> len(docs), all(len(d.sentences) >= 3 for d in docs)
(3, True)
>>> corpus_text(docs) == corpus_text(generate_corpus(num_documents=3, seed=0))
True
"""

from __future__ import annotations

import random

from course_utils.data.world.everyday import ACTIVITY, activity_values
from course_utils.data.world.grammar import Character, CorefLink, Document, Mention, Sentence, Template, realize
from course_utils.data.world.knowledge import World, default_world
from course_utils.data.world.lexicon import ASPECTS, Adjective, Noun
from course_utils.data.world.templates import (ADVERBS, AGREEMENT, CAUSE_SENTENCE, COMMONSENSE, COREFERENCE, COSTS,
                                               EFFECT_SENTENCE, KNOWLEDGE, NUMBER_OPS, NUMBERS, PLACES,
                                               SENTIMENT, SIZES, VENUES, article, noun_phrase)

DOCUMENT_KINDS = ("person", "country", "review", "animals")
DOCUMENT_WEIGHTS = (0.35, 0.15, 0.25, 0.25)
_PUNCTUATION = (".", ",")
_PARTICIPLE = {"saw": "seen"}


class DocumentBuilder:
    """Collects a document's sentences and links each pronoun to its character's last named mention."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sentences: list[Sentence] = []
        self._last: dict[str, tuple[int, int]] = {}

    def say(self, template: Template, values: dict, cast: dict[str, Character] | None,
            phenomenon: str) -> Sentence:
        mentions: list[Mention] = []
        sentence = realize(template, values, cast, phenomenon, mentions)
        index = len(self.sentences)
        links = []
        for mention in mentions:
            if mention.pronoun:
                if mention.character not in self._last:
                    raise RuntimeError(f"pronoun for {mention.character!r} before its name in {template.source!r}")
                links.append(CorefLink(mention.token, *self._last[mention.character]))
            else:
                self._last[mention.character] = (index, mention.token)
        if links:
            sentence = Sentence(sentence.words, sentence.heads, sentence.rels, phenomenon, tuple(links))
        self.sentences.append(sentence)
        return sentence

    def document(self) -> Document:
        return Document(tuple(self.sentences), self.kind)


# ---------------------------------------------------------------- sentences shared with the tasks
def review_values(rng: random.Random, adjectives: list[Adjective] | tuple[Adjective, ...], polarity: str,
                  kind: str, adjective: Adjective | None = None) -> dict[str, str]:
    """Slot values for review template ``kind`` whose overall polarity is ``polarity``.

    ``adjective`` (optional) is used where the template's first adjective goes,
    if its polarity fits; the other adjectives come from ``adjectives``.
    """
    opposite = "negative" if polarity == "positive" else "positive"
    first_polarity = opposite if kind in ("negated", "negated_adv", "not_come_back", "not_money_back", "but",
                                          "but_not_worth", "but_worth") else polarity
    if adjective is None or adjective.polarity != first_polarity:
        adjective = rng.choice([a for a in adjectives if a.polarity == first_polarity])
    aspect, aspect2 = rng.sample(ASPECTS, 2)
    values = {"aspect": aspect, "adj": adjective.word, "aspect2": aspect2, "cost": rng.choice(COSTS),
              "loved": "loved" if polarity == "positive" else "hated", "was": rng.choice(("was", "is")),
              "adv": rng.choice(ADVERBS)}
    if kind in ("and", "but"):
        values["adj2"] = rng.choice([a.word for a in adjectives if a.polarity == polarity and a != adjective])
    return values


_REVIEW_KINDS = {
    "positive": ("plain", "plain_adv", "negated", "negated_adv", "and", "come_back", "not_come_back", "truly",
                 "but", "but_worth"),
    "negative": ("plain", "plain_adv", "negated", "negated_adv", "and", "money_back", "not_money_back", "truly",
                 "but", "but_not_worth"),
}


def number_story(rng: random.Random) -> list[tuple[str, int]]:
    """Operations of a short arithmetic story: [("had", 3), ("bought", 2), ("now", 5)]."""
    count = rng.randint(2, 9)
    steps = [("had", count)]
    for _ in range(rng.randint(1, 2)):
        op = rng.choice(tuple(NUMBER_OPS))
        if NUMBER_OPS[op] < 0 and count < 2:
            op = "bought"
        amount = rng.randint(1, 5) if NUMBER_OPS[op] > 0 else rng.randint(1, count - 1)
        count += NUMBER_OPS[op] * amount
        steps.append((op, amount))
    steps.append(("now", count))
    return steps


# ---------------------------------------------------------------- document generators
class _Generator:
    def __init__(self, world: World, rng: random.Random) -> None:
        self.world, self.rng = world, rng
        lex = world.lexicon
        self.people = lex.people
        self.by_gender = {g: [p for p in lex.people if p.gender == g] for g in ("f", "m")}
        self.animal_nouns: tuple[Noun, ...] = lex.animals + lex.pseudo_animals
        self.items: tuple[Noun, ...] = lex.foods + lex.pseudo_foods
        self.heldout_pairs = set(world.heldout_pairs)
        self.capitals = lex.capitals
        self.adjectives = lex.adjectives

    # -- person documents
    def person(self) -> Document:
        rng, world = self.rng, self.world
        a = rng.choice(self.people)
        b = rng.choice(self.by_gender["m" if a.gender == "f" else "f"])
        cast = {"A": Character(a.name, a.gender), "B": Character(b.name, b.gender)}
        city = world.home[a.name]
        country = world.country_of[city]
        job = world.job[a.name]
        place = {"X": city, "C": country, "job": job, "a": article(job)}
        doc = DocumentBuilder("person")
        intro = rng.choice(("lives_in", "lives_capital", "name_works_in", "is_a"))
        doc.say(KNOWLEDGE[intro], place, cast, "knowledge")
        episodes = ["job", "city", "coreference", "commonsense", "numbers"]
        rng.shuffle(episodes)
        episodes = episodes[: rng.randint(2, 4)]
        episodes.insert(rng.randint(0, len(episodes)), "activity")  # the long tail of words
        for episode in episodes:
            if episode == "job":  # whichever of home and job the intro did not state
                key = "works_as" if intro in ("lives_in", "lives_capital") else "lives_in"
                doc.say(KNOWLEDGE[key], place, cast, "knowledge")
            elif episode == "city":
                doc.say(KNOWLEDGE[rng.choice(("capital_is", "city_in", "capital_of_is"))],
                        {**place, "size": rng.choice(SIZES)}, cast, "knowledge")
            elif episode == "coreference":
                thing = rng.choice(self.world.lexicon.objects).singular
                doc.say(COREFERENCE[rng.choice(tuple(COREFERENCE))],
                        {"X": city, "object": thing, "a": article(thing)}, cast, "coreference")
            elif episode == "activity":
                doc.say(ACTIVITY[rng.choice(tuple(ACTIVITY))], activity_values(rng), cast, "everyday")
            elif episode == "commonsense":
                cause = rng.choice(world.causes)
                if rng.random() < 0.3:
                    doc.say(CAUSE_SENTENCE[cause.key], {}, cast, "commonsense")
                    doc.say(EFFECT_SENTENCE, {"effect": cause.effect}, cast, "commonsense")
                else:
                    frame = rng.choice(("because", "so", "pronoun_because", "after"))
                    doc.say(COMMONSENSE[frame, cause.key], {"effect": cause.effect}, cast, "commonsense")
            else:
                item = rng.choice(self.items)
                for op, n in number_story(rng):
                    doc.say(NUMBERS[op], {"n": str(n), "item": item.form(n != 1)}, cast, "numbers")
        return doc.document()

    # -- country documents
    def country(self) -> Document:
        rng = self.rng
        country, city = rng.choice(self.capitals)
        doc = DocumentBuilder("country")
        paraphrases = ("capital_is", "capital_of_is", "possessive", "city_in", "has_capital")
        keys = rng.sample(paraphrases, rng.randint(3, 4))
        for key in keys:
            doc.say(KNOWLEDGE[key], {"X": city, "C": country, "size": rng.choice(SIZES)}, None, "knowledge")
        residents = self.world.residents[city]
        if residents:
            p = rng.choice(residents)
            job = self.world.job[p.name]
            cast = {"A": Character(p.name, p.gender)}
            doc.say(KNOWLEDGE["lives_capital"], {"X": city, "C": country}, cast, "knowledge")
            doc.say(KNOWLEDGE["works_as"], {"job": job, "a": article(job)}, cast, "knowledge")
        return doc.document()

    # -- review documents
    def review(self) -> Document:
        rng = self.rng
        polarity = "positive" if rng.random() < 0.5 else "negative"
        doc = DocumentBuilder("review")
        doc.say(SENTIMENT["visit"], {"went": rng.choice(("went", "came")), "venue": rng.choice(VENUES),
                                     "X": rng.choice(self.capitals)[1]}, None, "sentiment")
        for _ in range(rng.randint(3, 4)):
            kind = rng.choice(_REVIEW_KINDS[polarity])
            doc.say(SENTIMENT[kind], review_values(rng, self.adjectives, polarity, kind), None, "sentiment")
        return doc.document()

    # -- animal documents (agreement)
    def agreement_values(self, plural: bool, subject: str) -> dict[str, str]:
        rng = self.rng
        other = rng.choice(self.animal_nouns)
        while (subject, other.singular) in self.heldout_pairs or other.singular == subject:
            other = rng.choice(self.animal_nouns)
        other_plural = rng.random() < 0.5
        kin_plural = rng.random() < 0.5
        lex = self.world.lexicon
        trans, trans2 = rng.choice(lex.transitive), rng.choice(lex.transitive)
        intrans = rng.choice(lex.intransitive)
        participle = rng.choice([v for v in lex.transitive if v.base != "see"]).past
        return {"n2": other.form(other_plural), "be": "are" if plural else "is", "be2": "are" if plural else "is",
                "state": rng.choice(lex.states), "v1": trans.present(plural), "v2": trans2.present(other_plural),
                "v": intrans.present(plural), "pp": _PARTICIPLE.get(participle, participle),
                "kin": rng.choice(lex.kin).form(kin_plural), "ing": intrans.ing, "place": rng.choice(PLACES)}

    def animals(self) -> Document:
        rng = self.rng
        noun = rng.choice(self.animal_nouns)
        plural = rng.random() < 0.5
        cast = {"G": Character(noun_phrase(noun.form(plural)), "n", plural)}
        doc = DocumentBuilder("animals")
        named = ("pp", "obj_rel", "subj_rel", "passive_rel", "simple", "progressive")
        doc.say(AGREEMENT[rng.choice(named)], self.agreement_values(plural, noun.singular), cast, "agreement")
        for _ in range(rng.randint(2, 4)):
            key = rng.choice(named + ("pronoun", "pronoun_verb", "kin_verb"))
            values = self.agreement_values(plural, noun.singular)
            if key == "kin_verb":
                kin_plural = rng.random() < 0.5
                values["kin"] = rng.choice(self.world.lexicon.kin).form(kin_plural)
                values["v"] = rng.choice(self.world.lexicon.transitive).present(kin_plural)
            doc.say(AGREEMENT[key], values, cast, "agreement")
        return doc.document()


def generate_corpus(num_documents: int | None = None, num_words: int | None = None, seed: int = 0,
                    world: World | None = None) -> list[Document]:
    """Taught in notebook 04, section 1.
    Generate documents until ``num_documents`` documents or ``num_words`` words (give one).

    Words are tokens other than punctuation. The same seed gives the same corpus
    in every process (only ``random.Random(seed)`` is used, no set iteration).
    """
    if (num_documents is None) == (num_words is None):
        raise ValueError("give exactly one of num_documents and num_words, "
                         f"got num_documents={num_documents!r}, num_words={num_words!r}")
    limit = num_documents if num_documents is not None else num_words
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"num_documents / num_words must be a positive int, got {limit!r}")
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    world = world or default_world()
    rng = random.Random(seed)
    generator = _Generator(world, rng)
    makers = (generator.person, generator.country, generator.review, generator.animals)
    cumulative = [sum(DOCUMENT_WEIGHTS[: i + 1]) for i in range(len(DOCUMENT_WEIGHTS))]
    documents: list[Document] = []
    words = 0
    while (len(documents) if num_documents is not None else words) < limit:
        r = rng.random() * cumulative[-1]
        maker = makers[next(i for i, c in enumerate(cumulative) if r < c)]
        document = maker()
        documents.append(document)
        if num_words is not None:
            for sentence in document.sentences:
                w = sentence.words
                words += len(w) - w.count(".") - w.count(",")
    return documents


def count_words(documents: list[Document]) -> int:
    """Tokens other than punctuation, as ``generate_corpus`` counts them."""
    return sum(len(s.words) - s.words.count(".") - s.words.count(",") for d in documents for s in d.sentences)


def corpus_text(documents: list[Document]) -> str:
    """Plain text: one sentence per line, a blank line between documents, a final newline."""
    return "\n\n".join("\n".join(s.text for s in d.sentences) for d in documents) + "\n"

"""The world's fixed facts: capitals, where people live, their jobs, and causes with their effects.

A fact is *held out* when it is about a held-out entity: the unlabelled corpus
states it, labelled training sets never do, and test sets ask about it.

>>> world = default_world()
>>> world.capital_of["Tanzania"]
'Dodoma'
>>> world.country_of["Dodoma"]
'Tanzania'
>>> world.cause("lost_keys").effect
'sad'
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

from course_utils.data.world.lexicon import Lexicon, Person, build_lexicon

RELATIONS = ("capital", "lives_in", "job")


@dataclass(frozen=True)
class Fact:
    """``subject``'s ``relation`` is ``answer``: ("capital", "Tanzania", "Dodoma")."""

    relation: str
    subject: str
    answer: str
    heldout: bool


@dataclass(frozen=True)
class Cause:
    """An event and the state it causes: "lost {A.poss} keys" -> "sad".

    ``fragment`` is a template fragment (see ``grammar.splice``): past-tense verb
    phrase with its local tree, ``{A.poss}`` for the character's possessive.
    """

    key: str
    fragment: str
    effect: str
    heldout: bool = False

    def text(self, possessive: str) -> str:
        """The event as plain words: ``"lost her keys"``."""
        return " ".join(t.rpartition("@")[0] for t in self.fragment.split()).replace("{A.poss}", possessive)


# Past-tense verb phrases: word@head:rel, heads local to the fragment, the verb at "root".
CAUSES = (
    Cause("lost_keys", "lost@root {A.poss}@2:nmod:poss keys@0:obj", "sad"),
    Cause("found_coin", "found@root a@2:det coin@0:obj", "happy"),
    Cause("won_race", "won@root the@2:det race@0:obj", "proud"),
    Cause("ran_all_day", "ran@root all@2:det day@0:obl:tmod", "tired"),
    Cause("skipped_lunch", "skipped@root lunch@0:obj", "hungry"),
    Cause("ate_bad_fish", "ate@root bad@2:amod fish@0:obj", "sick"),
    Cause("missed_bus", "missed@root the@2:det bus@0:obj", "late"),
    Cause("walked_in_rain", "walked@root in@3:case the@3:det rain@0:obl", "wet"),
    Cause("forgot_coat", "forgot@root {A.poss}@2:nmod:poss coat@0:obj", "cold"),
    Cause("broke_phone", "broke@root {A.poss}@2:nmod:poss phone@0:obj", "upset"),
    Cause("heard_noise", "heard@root a@3:det strange@3:amod noise@0:obj", "scared"),
    Cause("played_in_sun", "played@root in@3:case the@3:det sun@0:obl", "thirsty"),
    Cause("got_puppy", "got@root a@2:det puppy@0:obj", "happy"),
    Cause("failed_test", "failed@root the@2:det test@0:obj", "sad"),
    Cause("waited_an_hour", "waited@root for@3:case an@3:det hour@0:obl", "bored"),
    Cause("worked_all_night", "worked@root all@2:det night@0:obl:tmod", "sleepy"),
    Cause("passed_exam", "passed@root the@2:det exam@0:obj", "proud"),
    Cause("swam_in_lake", "swam@root in@3:case the@3:det lake@0:obl", "wet"),
)
EFFECTS = tuple(sorted({c.effect for c in CAUSES}))
HELDOUT_CAUSES = ("got_puppy", "failed_test", "passed_exam", "swam_in_lake")  # second causes of an effect


@dataclass(frozen=True)
class World:
    """Lexicon plus knowledge base: everything the corpus and the tasks draw on."""

    lexicon: Lexicon
    facts: tuple[Fact, ...]
    causes: tuple[Cause, ...]
    home: dict[str, str] = field(repr=False)  # person name -> city
    job: dict[str, str] = field(repr=False)  # person name -> job
    capital_of: dict[str, str] = field(repr=False)  # country -> city
    country_of: dict[str, str] = field(repr=False)  # city -> country
    residents: dict[str, tuple[Person, ...]] = field(repr=False)  # city -> people living there
    heldout_pairs: tuple[tuple[str, str], ...] = ()  # (subject noun, attractor noun) kept out of the corpus

    def person(self, name: str) -> Person:
        for person in self.lexicon.people:
            if person.name == name:
                return person
        examples = ", ".join(p.name for p in self.lexicon.people[:8])
        raise ValueError(f"unknown person {name!r}; the world's people: {examples}, ...")

    def cause(self, key: str) -> Cause:
        for cause in self.causes:
            if cause.key == key:
                return cause
        raise ValueError(f"unknown cause {key!r}; allowed: {', '.join(c.key for c in self.causes)}")

    def is_heldout_place(self, name: str) -> bool:
        """True for a held-out country or the capital of one."""
        return self.country_of.get(name, name) in self.lexicon.heldout_places


def build_world(seed: int = 0, **lexicon_options: int | float) -> World:
    """Build the lexicon and the facts from one seed (deterministic, independent of hash seeds).

    ``lexicon_options`` go to ``build_lexicon`` (e.g. ``num_pseudo_people=200``).
    """
    lexicon = build_lexicon(seed, **lexicon_options)
    rng = random.Random(seed + 1)
    capital_of = dict(lexicon.capitals)
    country_of = {city: country for country, city in lexicon.capitals}
    cities = [city for _, city in lexicon.capitals]
    facts = [Fact("capital", country, city, country in lexicon.heldout_places)
             for country, city in lexicon.capitals]
    home, job = {}, {}
    residents: dict[str, list[Person]] = {city: [] for city in cities}
    for person in lexicon.people:
        home[person.name] = rng.choice(cities)
        job[person.name] = rng.choice(lexicon.jobs)
        residents[home[person.name]].append(person)
        facts.append(Fact("lives_in", person.name, home[person.name], person.heldout))
        facts.append(Fact("job", person.name, job[person.name], person.heldout))
    causes = tuple(Cause(c.key, c.fragment, c.effect, c.key in HELDOUT_CAUSES) for c in CAUSES)
    animals = [n.singular for n in lexicon.animals]
    pairs = [(a, b) for a in animals for b in animals if a != b]
    rng.shuffle(pairs)
    return World(lexicon=lexicon, facts=tuple(facts), causes=causes, home=home, job=job,
                 capital_of=capital_of, country_of=country_of,
                 residents={c: tuple(p) for c, p in residents.items()},
                 heldout_pairs=tuple(sorted(pairs[: len(pairs) // 10])))


@lru_cache(maxsize=4)
def default_world(seed: int = 0) -> World:
    """Taught in notebook 05, section 5.
    The world every notebook shares (built once per process and seed)."""
    return build_world(seed)

"""The words of the small world: hand-written seed lists plus generated pseudo-words.

Some words are *held out*: they occur in the unlabelled corpus (whose contexts
reveal their polarity, gender or entity type) but never in a labelled training
set. Pseudo-words such as ``blicket`` have no meaning outside this world, so a
model can only learn what they mean from the corpus.

Everything is built deterministically from a seed (lists and tuples only, no
set iteration), so the same seed gives the same lexicon in every process.

>>> lex = build_lexicon(seed=0)
>>> lex.noun_number("cats"), lex.noun_number("cat")
('Plur', 'Sing')
>>> sorted({a.polarity for a in lex.adjectives})
['negative', 'positive']
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

SING, PLUR = "Sing", "Plur"
POLARITIES = ("positive", "negative")
GENDERS = ("f", "m")


@dataclass(frozen=True)
class Noun:
    """A countable noun with its two forms."""

    singular: str
    plural: str

    def form(self, plural: bool) -> str:
        return self.plural if plural else self.singular


@dataclass(frozen=True)
class Verb:
    """A verb's forms: ``base`` is also the plural present (``they sleep``)."""

    base: str
    third: str  # she sleeps
    past: str
    ing: str

    def present(self, plural: bool) -> str:
        return self.base if plural else self.third


@dataclass(frozen=True)
class Person:
    name: str
    gender: str  # "f" or "m": decides she/he
    heldout: bool  # True: never in a labelled training set
    pseudo: bool  # True: a generated name


@dataclass(frozen=True)
class Adjective:
    word: str
    polarity: str  # "positive" or "negative"
    heldout: bool
    pseudo: bool


# ---------------------------------------------------------------- seed lists
FEMALE_NAMES = ("Ann", "Mary", "Jane", "Sara", "Emma", "Lucy", "Grace", "Alice", "Nora", "Rosa",
                "Amina", "Fatma", "Zawadi", "Neema", "Olga", "Ines", "Mei", "Yuki", "Leila", "Clara",
                "Hana", "Maya", "Rita", "Vera")
MALE_NAMES = ("John", "Tom", "Peter", "Paul", "David", "Sam", "Juma", "Omar", "Ali", "Hugo",
              "Ivan", "Kenji", "Luis", "Marco", "Noah", "Felix", "Baraka", "Musa", "Leo", "Oscar",
              "Karl", "Ravi", "Tariq", "Bruno")
JOBS = ("teacher", "doctor", "farmer", "baker", "pilot", "nurse", "driver", "singer", "painter",
        "lawyer", "engineer", "cook", "tailor", "dentist", "writer", "fisher")


def _nouns(spec: str) -> tuple[Noun, ...]:
    """``"cat dog mouse/mice"`` -> nouns; a plural after ``/`` overrides the ``+s`` rule."""
    nouns = []
    for item in spec.split():
        singular, _, plural = item.partition("/")
        nouns.append(Noun(singular, plural or singular + "s"))
    return tuple(nouns)


ANIMALS = _nouns("cat dog horse bird cow goat rabbit mouse/mice fox/foxes lion duck pig frog "
                 "wolf/wolves bear monkey")
KIN = _nouns("sister brother friend neighbor cousin aunt uncle")
OBJECTS = _nouns("key book bag phone ball hat cup box/boxes coin pen")
FOODS = _nouns("apple banana orange mango egg cake cookie lemon potato/potatoes "
               "tomato/tomatoes pear plum")
ASPECTS = ("food", "service", "room", "music", "staff", "soup", "coffee", "bread", "view", "show")


def _verbs(spec: str) -> tuple[Verb, ...]:
    """``"chase:chases:chased:chasing ..."``."""
    return tuple(Verb(*item.split(":")) for item in spec.split())


TRANSITIVE = _verbs("chase:chases:chased:chasing feed:feeds:fed:feeding watch:watches:watched:watching "
                    "follow:follows:followed:following see:sees:saw:seeing help:helps:helped:helping "
                    "wash:washes:washed:washing love:loves:loved:loving")
INTRANSITIVE = _verbs("sleep:sleeps:slept:sleeping run:runs:ran:running play:plays:played:playing "
                      "sing:sings:sang:singing swim:swims:swam:swimming jump:jumps:jumped:jumping "
                      "wait:waits:waited:waiting eat:eats:ate:eating")
STATES = ("hungry", "tired", "small", "big", "loud", "quiet", "old", "young", "clean", "wet")

# Real capitals; "Dodoma is the capital of Tanzania".
REAL_CAPITALS = (("Tanzania", "Dodoma"), ("Kenya", "Nairobi"), ("Uganda", "Kampala"),
                 ("Rwanda", "Kigali"), ("Ghana", "Accra"), ("Nigeria", "Abuja"),
                 ("Egypt", "Cairo"), ("Morocco", "Rabat"), ("France", "Paris"),
                 ("Spain", "Madrid"), ("Italy", "Rome"), ("Germany", "Berlin"),
                 ("Poland", "Warsaw"), ("Greece", "Athens"), ("Norway", "Oslo"),
                 ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Japan", "Tokyo"),
                 ("China", "Beijing"), ("India", "Delhi"), ("Peru", "Lima"),
                 ("Chile", "Santiago"), ("Canada", "Ottawa"), ("Cuba", "Havana"),
                 ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Vietnam", "Hanoi"),
                 ("Thailand", "Bangkok"), ("Australia", "Canberra"), ("Portugal", "Lisbon"),
                 ("Austria", "Vienna"), ("Hungary", "Budapest"), ("Ireland", "Dublin"),
                 ("Senegal", "Dakar"))

POSITIVE = ("good", "great", "wonderful", "excellent", "delicious", "lovely", "fantastic",
            "amazing", "pleasant", "superb", "perfect", "brilliant", "splendid", "charming",
            "delightful", "marvelous", "tasty", "friendly")
NEGATIVE = ("bad", "awful", "terrible", "horrible", "disgusting", "boring", "poor", "dreadful",
            "mediocre", "bland", "rude", "dirty", "nasty", "stale", "dull", "lousy", "gross",
            "unpleasant")

# ---------------------------------------------------------------- pseudo-words
_ONSETS = ("b", "bl", "br", "d", "dr", "f", "fl", "g", "gl", "gr", "k", "kl", "l", "m", "n", "p",
           "pl", "pr", "s", "sl", "sn", "t", "tr", "v", "w", "z")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "", "", "n", "r", "k", "t")


def pseudo_words(count: int, rng: random.Random, taken: list[str] | tuple[str, ...] = (),
                 syllables: tuple[int, ...] = (2,)) -> list[str]:
    """``count`` distinct pronounceable pseudo-words, none in ``taken``.

    >>> pseudo_words(3, random.Random(0))
    ['woglun', 'zinklu', 'gretdut']
    """
    seen = {w.lower() for w in taken}
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                       for _ in range(rng.choice(syllables)))
        if word not in seen and len(word) >= 4:
            seen.add(word)
            words.append(word)
    return words


# ---------------------------------------------------------------- the lexicon
@dataclass(frozen=True)
class Lexicon:
    """Every word of the world, with the seen/held-out split.

    ``capitals`` pairs (country, capital); ``heldout_places`` are country names
    whose country and capital never occur in a labelled training set.
    """

    people: tuple[Person, ...]
    adjectives: tuple[Adjective, ...]
    capitals: tuple[tuple[str, str], ...]
    heldout_places: tuple[str, ...]
    pseudo_animals: tuple[Noun, ...]
    pseudo_foods: tuple[Noun, ...]
    animals: tuple[Noun, ...] = ANIMALS
    foods: tuple[Noun, ...] = FOODS
    kin: tuple[Noun, ...] = KIN
    objects: tuple[Noun, ...] = OBJECTS
    aspects: tuple[str, ...] = ASPECTS
    jobs: tuple[str, ...] = JOBS
    transitive: tuple[Verb, ...] = TRANSITIVE
    intransitive: tuple[Verb, ...] = INTRANSITIVE
    states: tuple[str, ...] = STATES
    _number: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        number = self._number
        for noun in (*self.animals, *self.foods, *self.kin, *self.objects, *self.pseudo_animals,
                     *self.pseudo_foods):
            number[noun.singular], number[noun.plural] = SING, PLUR
        for verb in (*self.transitive, *self.intransitive):
            number[verb.third], number[verb.base] = SING, PLUR
        for person in self.people:
            number[person.name] = SING
        for country, city in self.capitals:
            number[country] = number[city] = SING
        for word, num in (("is", SING), ("are", PLUR), ("was", SING), ("were", PLUR),
                          ("has", SING), ("have", PLUR), ("he", SING), ("she", SING), ("it", SING),
                          ("they", PLUR), ("lives", SING), ("works", SING), ("live", PLUR),
                          ("work", PLUR), ("He", SING), ("She", SING), ("It", SING),
                          ("They", PLUR)):
            number[word] = num

    def noun_number(self, word: str) -> str:
        """``"Sing"``, ``"Plur"`` or ``""`` (no number, e.g. ``"that"``) for nouns, names and pronouns."""
        return self._number.get(word, "") if not _is_verb_form(word, self) else ""

    def verb_number(self, word: str) -> str:
        """The number a finite verb form agrees with (``"sleeps"`` -> ``"Sing"``), or ``""``."""
        return self._number.get(word, "") if _is_verb_form(word, self) else ""

    def number(self, word: str) -> str:
        """Number feature of any word (nouns, pronouns and finite verbs), or ``""``."""
        return self._number.get(word, "")

    def vocabulary(self) -> list[str]:
        """Every word form of the lexicon, sorted."""
        words = set(self._number)
        words.update(p.name for p in self.people)
        words.update(a.word for a in self.adjectives)
        for country, city in self.capitals:
            words.update((country, city))
        words.update((*self.aspects, *self.jobs, *self.states))
        words.update(v.past for v in (*self.transitive, *self.intransitive))
        words.update(v.ing for v in (*self.transitive, *self.intransitive))
        return sorted(words)


_VERB_FORMS = ("is", "are", "was", "were", "has", "have", "lives", "works", "live", "work")


def _is_verb_form(word: str, lex: Lexicon) -> bool:
    if word in _VERB_FORMS:
        return True
    return any(word in (v.third, v.base) for v in (*lex.transitive, *lex.intransitive))


def build_lexicon(seed: int = 0, num_pseudo_people: int = 64, num_pseudo_places: int = 16,
                  num_pseudo_adjectives: int = 12, num_pseudo_nouns: int = 12,
                  heldout_fraction: float = 0.25) -> Lexicon:
    """Build the lexicon: seed lists plus generated pseudo-words, with a held-out split.

    ``heldout_fraction`` of the real names, adjectives and countries (chosen by
    ``seed``) are held out; all pseudo-adjectives and half of the pseudo-names and
    pseudo-places are held out too.

    >>> lex = build_lexicon()
    >>> [p.name for p in lex.people if p.heldout][:3] == [p.name for p in build_lexicon().people if p.heldout][:3]
    True
    """
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    rng = random.Random(seed)
    taken = [*FEMALE_NAMES, *MALE_NAMES, *POSITIVE, *NEGATIVE, *JOBS, *ASPECTS, *STATES,
             *(c for pair in REAL_CAPITALS for c in pair),
             *(f for n in (*ANIMALS, *KIN, *OBJECTS, *FOODS) for f in (n.singular, n.plural)),
             *(f for v in (*TRANSITIVE, *INTRANSITIVE) for f in (v.base, v.third, v.past, v.ing))]
    fresh = pseudo_words(num_pseudo_people + 2 * num_pseudo_places + num_pseudo_adjectives
                         + 2 * num_pseudo_nouns, rng, taken)

    def take(n: int) -> list[str]:
        out = fresh[:n]
        del fresh[:n]
        return out

    def heldout_mask(n: int) -> list[bool]:
        k = max(1, round(n * heldout_fraction))
        mask = [i < k for i in range(n - 2)]
        rng.shuffle(mask)
        return [False, False] + mask  # the first two words of a list ("good", "great") stay seen

    people = [Person(name, gender, held, False)
              for names, gender in ((FEMALE_NAMES, "f"), (MALE_NAMES, "m"))
              for name, held in zip(names, heldout_mask(len(names)))]
    for i, word in enumerate(take(num_pseudo_people)):
        people.append(Person(word.capitalize(), GENDERS[i % 2], i % 4 >= 2, True))

    adjectives = [Adjective(word, polarity, held, False)
                  for words, polarity in ((POSITIVE, "positive"), (NEGATIVE, "negative"))
                  for word, held in zip(words, heldout_mask(len(words)))]
    for i, word in enumerate(take(num_pseudo_adjectives)):
        adjectives.append(Adjective(word, POLARITIES[i % 2], True, True))

    countries = [word.capitalize()
                 + rng.choice(("nia", "land", "ra") if word[-1] in "aeiou" else ("ia", "land", "stan"))
                 for word in take(num_pseudo_places)]
    cities = [word.capitalize() for word in take(num_pseudo_places)]
    capitals = list(REAL_CAPITALS) + list(zip(countries, cities))
    real_mask = heldout_mask(len(REAL_CAPITALS))
    heldout_places = [c for (c, _), held in zip(REAL_CAPITALS, real_mask) if held]
    heldout_places += countries[: num_pseudo_places // 2]

    nouns = take(2 * num_pseudo_nouns)
    pseudo_animals = tuple(Noun(w, w + "s") for w in nouns[:num_pseudo_nouns])
    pseudo_foods = tuple(Noun(w, w + "s") for w in nouns[num_pseudo_nouns: 2 * num_pseudo_nouns])
    return Lexicon(people=tuple(people), adjectives=tuple(adjectives), capitals=tuple(capitals),
                   heldout_places=tuple(heldout_places), pseudo_animals=pseudo_animals,
                   pseudo_foods=pseudo_foods)

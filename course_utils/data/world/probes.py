"""Cloze probes: what can a model learn from word guessing? One ``[MASK]`` per item.

Phenomena: ``syntax`` ("The cats near the dog [MASK] hungry." -> "are"),
``coreference`` ("Ann lives in Paris. [MASK] works as a teacher." -> "She"),
``knowledge`` ("Dodoma is the capital of [MASK]." -> "Tanzania"),
``commonsense`` ("Ann is [MASK] because she lost her keys." -> "sad") and
``numbers`` ("Ann had 3 apples. She bought 2 more. Now she has [MASK] apples." -> "5").

Each row keeps the full ``tokens`` and the ``mask_index`` of the answer, so
``tokens[mask_index] == answer``. ``unseen`` marks items built from held-out
material (held-out names or places, agreement pairs the corpus never uses,
held-out causes); the corpus states every fact, so these test what pretraining
learned from contexts, not what fine-tuning saw.

>>> probes = cloze_probes("knowledge", 4)
>>> all(t.count("[MASK]") == 1 for t in probes["text"])
True
"""

from __future__ import annotations

import random

import pandas as pd

from course_utils.data.world.corpus import number_story
from course_utils.data.world.grammar import Character, Sentence, detokenize, realize
from course_utils.data.world.knowledge import EFFECTS, World, default_world
from course_utils.data.world.tasks import agreement_pair
from course_utils.data.world.templates import CAUSE_SENTENCE, COMMONSENSE, KNOWLEDGE, NUMBERS, SIZES, article

PHENOMENA = ("syntax", "coreference", "knowledge", "commonsense", "numbers")
MASK = "[MASK]"


def _row(sentences: list[Sentence] | list[tuple[str, ...]], sentence: int, index: int, distractors: list[str],
         phenomenon: str, unseen: bool) -> dict[str, object]:
    """Mask token ``index`` of sentence ``sentence``; the text joins the sentences with spaces."""
    word_lists = [list(s.words if isinstance(s, Sentence) else s) for s in sentences]
    offset = sum(len(w) for w in word_lists[:sentence])
    tokens = tuple(w for words in word_lists for w in words)
    answer = word_lists[sentence][index]
    word_lists[sentence][index] = MASK
    text = " ".join(detokenize(words) for words in word_lists)
    return {"text": text, "answer": answer, "distractors": tuple(distractors), "phenomenon": phenomenon,
            "unseen": unseen, "tokens": tokens, "mask_index": offset + index}


def _syntax(rng: random.Random, world: World, unseen: bool) -> dict[str, object]:
    singular, plural = agreement_pair(rng, world, unseen)
    text = singular if rng.random() < 0.5 else plural
    words = tuple(text[:-1].split()) + (".",)  # agreement sentences have no inner punctuation
    index = max(i for i, w in enumerate(words) if w in ("is", "are"))  # the main clause's verb
    return _row([words], 0, index, ["are" if words[index] == "is" else "is"], "syntax", unseen)


def _coreference(rng: random.Random, world: World, unseen: bool) -> dict[str, object]:
    person = rng.choice([p for p in world.lexicon.people if p.heldout == unseen])
    cast = {"A": Character(person.name, person.gender)}
    job = world.job[person.name]
    values = {"X": world.home[person.name], "job": job, "a": article(job)}
    intro = rng.choice(("lives_in", "is_a", "name_works_in"))
    first = realize(KNOWLEDGE[intro], values, cast)
    if intro == "lives_in" and rng.random() < 0.3:
        second = realize(KNOWLEDGE["works_as"], values, cast)
    else:  # "She missed the bus." (no cause with a possessive, which would give the answer away)
        cause = rng.choice([c for c in world.causes if "{A.poss}" not in c.fragment])
        second = realize(CAUSE_SENTENCE[cause.key], {}, cast)
    return _row([first, second], 1, 0, ["He" if person.gender == "f" else "She"], "coreference", unseen)


def _knowledge(rng: random.Random, world: World, unseen: bool) -> dict[str, object]:
    lex = world.lexicon
    countries = [c for c, _ in lex.capitals if (c in lex.heldout_places) == unseen]
    country = rng.choice(countries)
    city = world.capital_of[country]
    key = rng.choice(("capital_is", "capital_of_is", "possessive", "city_in", "has_capital"))
    sentence = realize(KNOWLEDGE[key], {"X": city, "C": country, "size": rng.choice(SIZES)})
    others = rng.sample([c for c, _ in lex.capitals if c != country], 3)
    if rng.random() < 0.5:  # ask for the country
        index = sentence.words.index(country)
        distractors = others
    else:
        index = sentence.words.index(city)
        distractors = [world.capital_of[c] for c in others]
    return _row([sentence], 0, index, distractors, "knowledge", unseen)


def _commonsense(rng: random.Random, world: World, unseen: bool) -> dict[str, object]:
    person = rng.choice([p for p in world.lexicon.people if not p.heldout])
    cause = rng.choice([c for c in world.causes if c.heldout == unseen])
    sentence = realize(COMMONSENSE["because", cause.key], {"effect": cause.effect},
                       {"A": Character(person.name, person.gender)})
    distractors = rng.sample([e for e in EFFECTS if e != cause.effect], 3)
    return _row([sentence], 0, 2, distractors, "commonsense", unseen)


def _numbers(rng: random.Random, world: World, unseen: bool) -> dict[str, object]:
    lex = world.lexicon
    person = rng.choice([p for p in lex.people if not p.heldout])
    other = rng.choice([p for p in lex.people if p.gender != person.gender and not p.heldout])
    cast = {"A": Character(person.name, person.gender), "B": Character(other.name, other.gender)}
    item = rng.choice(lex.foods)
    steps = number_story(rng)
    while steps[-1][1] < 2:  # "has 1 apple" would give the answer away
        steps = number_story(rng)
    sentences = [realize(NUMBERS[op], {"n": str(n), "item": item.form(n != 1)}, cast) for op, n in steps]
    result = steps[-1][1]
    distractors = sorted({str(max(0, result + d)) for d in (-2, -1, 1, 2)} - {str(result)})
    return _row(sentences, len(sentences) - 1, 3, distractors, "numbers", False)


_MAKERS = {"syntax": _syntax, "coreference": _coreference, "knowledge": _knowledge,
           "commonsense": _commonsense, "numbers": _numbers}


def cloze_probes(phenomenon: str, num_items: int, seed: int = 0, world: World | None = None) -> pd.DataFrame:
    """``num_items`` distinct cloze items for ``phenomenon``; half unseen where it has held-out material.

    Columns: ``text`` (with one ``[MASK]``), ``answer``, ``distractors``,
    ``phenomenon``, ``unseen``, ``tokens``, ``mask_index``.
    """
    if phenomenon not in _MAKERS:
        raise ValueError(f"unknown phenomenon {phenomenon!r}; allowed: {', '.join(PHENOMENA)}")
    if not isinstance(num_items, int) or num_items < 1:
        raise ValueError(f"num_items must be a positive int, got {num_items!r}")
    world = world or default_world()
    rng = random.Random(seed)
    rows, seen_texts, failures = [], set(), 0
    while len(rows) < num_items:
        unseen = phenomenon != "numbers" and len(rows) % 2 == 1 and failures < 1_000
        row = _MAKERS[phenomenon](rng, world, unseen)
        if row["text"] in seen_texts:
            failures += 1
            if failures > 10_000:
                raise RuntimeError(f"could not draw {num_items} distinct {phenomenon} probes; ask for fewer")
            continue
        seen_texts.add(row["text"])
        rows.append(row)
    return pd.DataFrame(rows)


def all_probes(num_items: int, seed: int = 0, world: World | None = None) -> pd.DataFrame:
    """Taught in notebook 04, section 6. ``cloze_probes`` of every phenomenon, stacked."""
    return pd.concat([cloze_probes(p, num_items, seed, world) for p in PHENOMENA], ignore_index=True)

"""The sentence templates of the world, one group per phenomenon, with their dependency trees.

Notation (see ``grammar.py``): ``word@head:rel``, heads are 0-based positions
in the template, ``{slot}`` is filled at realisation, ``{A}``/``{A.subj}``/...
mention character ``A``. Every template is parsed (and its tree checked) at import.

>>> from course_utils.data.world.grammar import Character, realize
>>> s = realize(AGREEMENT["pp"], {"n2": "dog", "be": "are", "state": "hungry"},
...             {"G": Character(noun_phrase("cats"), "n", True)})
>>> s.text
'The cats near the dog are hungry.'
"""

from __future__ import annotations

from course_utils.data.world.grammar import Phrase, Template, compile_template, splice
from course_utils.data.world.knowledge import CAUSES


def noun_phrase(noun: str, determiner: str = "the") -> Phrase:
    """``the cats`` as a phrase rooted at the noun."""
    return Phrase((determiner, noun), (1, -1), ("det", ""))


def article(word: str) -> str:
    """``a`` or ``an``."""
    return "an" if word[0] in "aeiou" else "a"


def _compile(group: dict[str, str]) -> dict[str, Template]:
    return {key: compile_template(source) for key, source in group.items()}


# ---- syntax: subject-verb agreement across attractors. {G} is the subject (a group
# character, "the cats"), {n2} the attractor noun, {be}/{v} agree with {G}.
AGREEMENT = _compile({
    "pp": "{G}@5:nsubj near@3:case the@3:det {n2}@0:nmod {be}@5:cop {state}@root .@5:punct",
    "obj_rel": "{G}@6:nsubj that@4:obj the@3:det {n2}@4:nsubj {v2}@0:acl:relcl {be}@6:cop "
               "{state}@root .@6:punct",
    "subj_rel": "{G}@6:nsubj that@2:nsubj {v1}@0:acl:relcl the@4:det {n2}@2:obj {be}@6:cop "
                "{state}@root .@6:punct",
    "passive_rel": "{G}@8:nsubj that@3:nsubj:pass {be}@3:aux:pass {pp}@0:acl:relcl by@6:case "
                   "my@6:nmod:poss {kin}@3:obl {be2}@8:aux {ing}@root .@8:punct",
    "simple": "{G}@1:nsubj {v}@root .@1:punct",
    "progressive": "{G}@2:nsubj {be}@2:aux {ing}@root in@5:case the@5:det {place}@2:obl .@2:punct",
    "pronoun": "{G.subj}@2:nsubj {be}@2:cop {state}@root .@2:punct",
    "pronoun_verb": "{G.subj}@1:nsubj {v}@root in@4:case the@4:det {place}@1:obl .@1:punct",
    "kin_verb": "my@1:nmod:poss {kin}@2:nsubj {v}@root {G.obj}@2:obj every@5:det day@2:obl:tmod .@2:punct",
})
# In "passive_rel" the relative clause's auxiliary {be} and the main auxiliary {be2} both agree with {G}.

# ---- world knowledge: paraphrases of "{X} is the capital of {C}".
KNOWLEDGE = _compile({
    "capital_is": "{X}@3:nsubj is@3:cop the@3:det capital@root of@5:case {C}@3:nmod .@3:punct",
    "capital_of_is": "the@1:det capital@5:nsubj of@3:case {C}@1:nmod is@5:cop {X}@root .@5:punct",
    "possessive": "{C}@2:nmod:poss 's@0:case capital@9:nsubj ,@4:punct {X}@2:appos ,@4:punct "
                  "is@9:cop a@9:det {size}@9:amod city@root .@9:punct",
    "city_in": "{X}@4:nsubj is@4:cop a@4:det {size}@4:amod city@root in@6:case {C}@4:nmod .@4:punct",
    "has_capital": "{C}@1:nsubj has@root its@3:nmod:poss capital@1:obj in@5:case {X}@1:obl .@1:punct",
    "lives_capital": "{A}@1:nsubj lives@root in@3:case {X}@1:obl ,@6:punct the@6:det capital@3:appos "
                     "of@8:case {C}@6:nmod .@1:punct",
    "lives_in": "{A}@1:nsubj lives@root in@3:case {X}@1:obl .@1:punct",
    "works_as": "{A.subj}@1:nsubj works@root as@4:case {a}@4:det {job}@1:obl .@1:punct",
    "is_a": "{A}@3:nsubj is@3:cop {a}@3:det {job}@root .@3:punct",
    "name_works_in": "{A}@1:nsubj works@root as@4:case {a}@4:det {job}@1:obl in@6:case {X}@1:obl .@1:punct",
})

# ---- coreference between two people of different genders, so each pronoun has one reading.
COREFERENCE = _compile({
    "invited": "{A}@2:nsubj is@2:cop happy@root that@5:mark {B}@5:nsubj invited@2:ccomp "
               "{A.poss}@7:nmod:poss friends@5:obj .@2:punct",
    "called": "{A.subj}@1:nsubj called@root {B}@1:obj because@5:mark {A.subj}@5:nsubj needed@1:advcl "
              "help@5:obj .@1:punct",
    "gave": "{B}@1:nsubj gave@root {A.obj}@1:iobj {a}@4:det {object}@1:obj .@1:punct",
    "met": "{A.subj}@1:nsubj met@root {B}@1:obj in@4:case {X}@1:obl .@1:punct",
    "thanked": "{A.subj}@1:nsubj thanked@root {B}@1:obj for@5:case {B.poss}@5:nmod:poss help@1:obl "
               ".@1:punct",
    "told": "{B}@1:nsubj told@root {A.obj}@1:iobj that@5:mark {B.subj}@5:nsubj liked@1:ccomp "
            "{A.poss}@7:nmod:poss {object}@5:obj .@1:punct",
})

# ---- commonsense: cause and effect; {CAUSE} is replaced by each cause's verb phrase.
_COMMONSENSE_FRAMES = {
    "because": "{A}@2:nsubj is@2:cop {effect}@root because@5:mark {A.subj}@5:nsubj {CAUSE}@2:advcl .@2:punct",
    "so": "{A}@1:nsubj {CAUSE}@root ,@6:punct so@6:advmod {A.subj}@6:nsubj is@6:cop "
          "{effect}@1:parataxis .@1:punct",
    "pronoun_because": "{A.subj}@2:nsubj is@2:cop {effect}@root because@5:mark {A.subj}@5:nsubj "
                       "{CAUSE}@2:advcl .@2:punct",
    "after": "after@2:mark {A.subj}@2:nsubj {CAUSE}@6:advcl ,@6:punct {A.subj}@6:nsubj is@6:cop "
             "{effect}@root .@6:punct",
}
COMMONSENSE = {(frame, cause.key): compile_template(splice(source, "CAUSE", cause.fragment))
               for frame, source in _COMMONSENSE_FRAMES.items() for cause in CAUSES}
CAUSE_SENTENCE = {cause.key: compile_template(splice("{A.subj}@1:nsubj {CAUSE}@root .@1:punct", "CAUSE",
                                                     cause.fragment)) for cause in CAUSES}
EFFECT_SENTENCE = compile_template("{A.subj}@2:nsubj is@2:cop {effect}@root .@2:punct")

# ---- numbers: small arithmetic stories.
NUMBERS = _compile({
    "had": "{A}@1:nsubj had@root {n}@3:nummod {item}@1:obj .@1:punct",
    "bought": "{A.subj}@1:nsubj bought@root {n}@3:nummod more@1:obj .@1:punct",
    "got": "{B}@1:nsubj gave@root {A.obj}@1:iobj {n}@4:nummod more@1:obj .@1:punct",
    "ate": "{A.subj}@1:nsubj ate@root {n}@3:nummod {item}@1:obj .@1:punct",
    "gave": "{A.subj}@1:nsubj gave@root {n}@3:nummod {item}@1:obj to@5:case {B}@1:obl .@1:punct",
    "now": "now@2:advmod {A.subj}@2:nsubj has@root {n}@4:nummod {item}@2:obj .@2:punct",
})
NUMBER_OPS = {"bought": +1, "got": +1, "ate": -1, "gave": -1}

# ---- sentiment: restaurant and hotel reviews.
SENTIMENT = _compile({
    "visit": "I@1:nsubj {went}@root to@4:case a@4:det {venue}@1:obl in@6:case {X}@4:nmod .@1:punct",
    "plain": "the@1:det {aspect}@3:nsubj {was}@3:cop {adj}@root .@3:punct",
    "negated": "the@1:det {aspect}@4:nsubj {was}@4:cop not@4:advmod {adj}@root .@4:punct",
    "plain_adv": "the@1:det {aspect}@4:nsubj {was}@4:cop {adv}@4:advmod {adj}@root .@4:punct",
    "negated_adv": "the@1:det {aspect}@5:nsubj {was}@5:cop not@5:advmod {adv}@5:advmod {adj}@root .@5:punct",
    "and": "the@1:det {aspect}@3:nsubj was@3:cop {adj}@root and@5:cc {adj2}@3:conj .@3:punct",
    "come_back": "the@1:det {aspect}@3:nsubj was@3:cop {adj}@root ,@8:punct so@8:advmod I@8:nsubj "
                 "will@8:aux come@3:parataxis back@8:compound:prt .@3:punct",
    "money_back": "the@1:det {aspect}@3:nsubj was@3:cop {adj}@root ,@6:punct I@6:nsubj want@3:parataxis "
                  "my@8:nmod:poss money@6:obj back@6:advmod .@3:punct",
    "not_come_back": "the@1:det {aspect}@4:nsubj was@4:cop not@4:advmod {adj}@root ,@9:punct so@9:advmod "
                     "I@9:nsubj will@9:aux come@4:parataxis back@9:compound:prt .@4:punct",
    "not_money_back": "the@1:det {aspect}@4:nsubj was@4:cop not@4:advmod {adj}@root ,@7:punct "
                      "I@7:nsubj want@4:parataxis my@9:nmod:poss money@7:obj back@7:advmod .@4:punct",
    "truly": "I@1:nsubj {loved}@root it@1:obj ,@8:punct the@5:det {aspect}@8:nsubj was@8:cop "
             "truly@8:advmod {adj}@1:parataxis .@1:punct",
    "but": "the@1:det {aspect}@3:nsubj {was}@3:cop {adj}@root but@8:cc the@6:det {aspect2}@8:nsubj "
           "{was}@8:cop {adj2}@3:conj .@3:punct",
    "but_not_worth": "the@1:det {aspect}@3:nsubj was@3:cop {adj}@root but@6:cc not@6:advmod "
                     "worth@3:conj the@8:det {cost}@6:obj .@3:punct",
    "but_worth": "the@1:det {aspect}@3:nsubj was@3:cop {adj}@root but@5:cc worth@3:conj the@7:det "
                 "{cost}@5:obj .@3:punct",
})
COSTS = ("price", "wait", "money", "trip")
ADVERBS = ("really", "very", "quite", "truly")
VENUES = ("restaurant", "hotel", "cafe", "bakery")
PLACES = ("garden", "park", "barn", "field", "yard")
SIZES = ("big", "large", "busy", "modern", "small")

# ---- tagging: frames where the slot's type cannot be read off the frame itself.
AMBIGUOUS = _compile({
    "talked_about": "we@1:nsubj talked@root about@3:case {E}@1:obl .@1:punct",
    "famous": "{E}@2:nsubj is@2:cop famous@root .@2:punct",
    "heard_of": "I@1:nsubj heard@root of@3:case {E}@1:obl yesterday@1:advmod .@1:punct",
    "saw": "my@1:nmod:poss {kin}@2:nsubj saw@root {E}@2:obj on@5:case TV@2:obl .@2:punct",
    "remember": "I@1:nsubj remember@root {E}@1:obj well@1:advmod .@1:punct",
})

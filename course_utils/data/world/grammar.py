"""Annotated sentences built from templates that carry their own dependency trees.

A template is a string of tokens ``word@head:rel``; ``head`` is the 0-based
position of the head token in the template and ``root`` marks the root::

    "the@1:det {n}@2:nsubj {v}@root .@2:punct"

``{name}`` is a slot filled at realisation: with a word, or with a
``Phrase`` (several tokens with their own local tree, whose root takes
the slot's head and relation). ``{A}``, ``{A.subj}``, ``{A.obj}``, ``{A.poss}``
and ``{A.refl}`` mention a ``Character`` of the cast: its name, or the
pronoun ``she``/``her``/``her``/``herself`` (by gender and number).

Heads in the output are 0-based token positions and ``-1`` for the root.

>>> s = realize(compile_template("the@1:det {n}@2:nsubj {v}@root .@2:punct"), {"n": "cats", "v": "sleep"})
>>> s.words, s.heads, s.rels
(('The', 'cats', 'sleep', '.'), (1, 2, -1, 2), ('det', 'nsubj', 'root', 'punct'))
>>> detokenize(("Tanzania", "'s", "capital", ",", "Dodoma", "."))
"Tanzania's capital, Dodoma."
"""

from __future__ import annotations

from dataclasses import dataclass

PRONOUN_FORMS = ("subj", "obj", "poss", "refl")
_PRONOUNS = {
    ("f", False): ("she", "her", "her", "herself"),
    ("m", False): ("he", "him", "his", "himself"),
    ("n", False): ("it", "it", "its", "itself"),
    ("f", True): ("they", "them", "their", "themselves"),
    ("m", True): ("they", "them", "their", "themselves"),
    ("n", True): ("they", "them", "their", "themselves"),
}


@dataclass(frozen=True)
class Phrase:
    """Several tokens with a local tree: ``heads`` are positions inside the phrase, ``-1`` at its root.

    >>> Phrase(("the", "cats"), (1, -1), ("det", "")).root
    1
    """

    words: tuple[str, ...]
    heads: tuple[int, ...]
    rels: tuple[str, ...]

    @property
    def root(self) -> int:
        return self.heads.index(-1)


@dataclass(frozen=True)
class Character:
    """Someone (or a group) that sentences of a document refer to by name or pronoun."""

    name: str | Phrase  # "Ann", or Phrase(("the", "cats"), ...)
    gender: str  # "f", "m" or "n" (neuter: animals, things)
    plural: bool = False

    def pronoun(self, form: str) -> str:
        return _PRONOUNS[self.gender, self.plural][PRONOUN_FORMS.index(form)]


@dataclass(frozen=True)
class Token:
    """One token with its dependency arc (``head`` is -1 at the root)."""

    index: int
    text: str
    head: int
    rel: str


@dataclass(frozen=True)
class CorefLink:
    """Pronoun ``token`` of a sentence refers to ``antecedent_token`` of sentence ``antecedent_sentence``.

    Sentence indices count within the document, so the antecedent may sit in an earlier sentence.
    """

    token: int
    antecedent_sentence: int
    antecedent_token: int


@dataclass(frozen=True)
class Sentence:
    """Tokens with gold annotations, stored as parallel tuples (cheap to build by the million)."""

    words: tuple[str, ...]
    heads: tuple[int, ...]
    rels: tuple[str, ...]
    phenomenon: str = ""  # "agreement", "coreference", "knowledge", "commonsense", "numbers", "sentiment", ...
    coref: tuple[CorefLink, ...] = ()

    @property
    def tokens(self) -> tuple[Token, ...]:
        return tuple(Token(i, w, h, r) for i, (w, h, r) in enumerate(zip(self.words, self.heads, self.rels)))

    @property
    def text(self) -> str:
        """Taught in notebook 04, section 6. The sentence as plain text (see ``detokenize``)."""
        return detokenize(self.words)

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class Document:
    """A short story: several related sentences (same characters, pronouns referring back)."""

    sentences: tuple[Sentence, ...]
    kind: str  # which document generator wrote it

    @property
    def text(self) -> str:
        """Taught in notebook 04, section 1. The story as plain text, one sentence a line."""
        return "\n".join(s.text for s in self.sentences)


def detokenize(words: tuple[str, ...] | list[str]) -> str:
    """Join tokens with spaces, attaching punctuation and ``'s`` to the word before."""
    return (" ".join(words).replace(" .", ".").replace(" ,", ",").replace(" 's", "'s")
            .replace(" ?", "?").replace(" !", "!"))


# ---------------------------------------------------------------- templates
@dataclass(frozen=True)
class Template:
    """A parsed template: per token (literal or slot, head, rel), plus the source text."""

    source: str
    items: tuple[tuple[str, bool, int, str], ...]  # (word or slot name, is_slot, head, rel)


def compile_template(source: str) -> Template:
    """Parse ``"word@head:rel ..."``, checking that the heads form one tree.

    >>> compile_template("{x}@root").items
    (('x', True, -1, 'root'),)
    """
    items = []
    for position, spec in enumerate(source.split()):
        word, at, arc = spec.rpartition("@")
        if not at or not word:
            raise ValueError(f"template token {spec!r} (position {position}) is not word@head:rel or word@root")
        if arc == "root":
            head, rel = -1, "root"
        else:
            head_text, _, rel = arc.partition(":")
            if not head_text.isdigit() or not rel:
                raise ValueError(f"template token {spec!r}: head must be a position or 'root', with a relation")
            head = int(head_text)
        is_slot = word.startswith("{") and word.endswith("}")
        items.append((word[1:-1] if is_slot else word, is_slot, head, rel))
    heads = [item[2] for item in items]
    problem = tree_problem(heads)
    if problem:
        raise ValueError(f"template {source!r}: {problem}")
    return Template(source, tuple(items))


def tree_problem(heads: tuple[int, ...] | list[int]) -> str:
    """``""`` if ``heads`` (``-1`` = root) form a tree with exactly one root, else what is wrong.

    >>> tree_problem([1, -1, 1]), tree_problem([1, 0])
    ('', 'no root')
    """
    n = len(heads)
    roots = [i for i, h in enumerate(heads) if h == -1]
    if len(roots) != 1:
        return "no root" if not roots else f"{len(roots)} roots at {roots}"
    for i, h in enumerate(heads):
        if h != -1 and not 0 <= h < n:
            return f"token {i} has head {h}, outside 0..{n - 1}"
        if h == i:
            return f"token {i} is its own head"
    for start in range(n):
        seen, node = 0, start
        while node != -1:
            node, seen = heads[node], seen + 1
            if seen > n:
                return f"cycle through token {start}"
    return ""


@dataclass
class Mention:
    """Where a realised sentence mentions a character: its token and whether by pronoun."""

    character: str
    token: int
    pronoun: bool


def realize(template: Template, values: dict[str, str | Phrase], cast: dict[str, Character] | None = None,
            phenomenon: str = "", mentions: list[Mention] | None = None) -> Sentence:
    """Fill a template's slots; append character mentions to ``mentions`` if given.

    The first word is capitalised. Coreference links are added by the document
    builder, which knows earlier sentences (see ``corpus.py``).
    """
    words: list[str] = []
    heads: list[int] = []
    rels: list[str] = []
    slot_heads: list[int] = []  # template head of each output token, or -2 if resolved already
    position: list[int] = []  # output position of each template token (its root for phrases)
    for name, is_slot, head, rel in template.items:
        if is_slot:
            value = values.get(name)
            if value is None:
                key, _, form = name.partition(".")
                if cast is None or key not in cast:
                    given = ", ".join(sorted(values)) + (", cast " + ", ".join(cast) if cast else "")
                    raise ValueError(f"template {template.source!r} needs a value for slot {name!r}; "
                                     f"given: {given or 'nothing'}")
                character = cast[key]
                value = character.pronoun(form) if form else character.name
                if mentions is not None:
                    root = len(words) + (value.root if isinstance(value, Phrase) else 0)
                    mentions.append(Mention(key, root, bool(form)))
        else:
            value = name
        if isinstance(value, Phrase):
            start = len(words)
            position.append(start + value.root)
            for w, h, r in zip(value.words, value.heads, value.rels):
                words.append(w)
                if h == -1:
                    heads.append(head)
                    rels.append(rel)
                    slot_heads.append(1)
                else:
                    heads.append(start + h)
                    rels.append(r)
                    slot_heads.append(0)
        else:
            position.append(len(words))
            words.append(value)
            heads.append(head)
            rels.append(rel)
            slot_heads.append(1)
    for i, from_template in enumerate(slot_heads):
        if from_template and heads[i] != -1:
            heads[i] = position[heads[i]]
    first = words[0]
    if first[0].islower():
        words[0] = first[0].upper() + first[1:]
    return Sentence(tuple(words), tuple(heads), tuple(rels), phenomenon)


def splice(source: str, slot: str, fragment: str) -> str:
    """Put a multi-token ``fragment`` (its own ``word@head:rel`` tree) where ``{slot}`` stands.

    The fragment's root takes the slot's head and relation; heads pointing at the
    slot now point at the fragment's root.

    >>> splice("she@1:nsubj {VP}@root .@1:punct", "VP", "lost@root her@2:nmod:poss keys@0:obj")
    'she@1:nsubj lost@root her@3:nmod:poss keys@1:obj .@1:punct'
    >>> splice("after@1:mark {VP}@3:advcl she@3:nsubj rests@root", "VP", "ran@root far@0:advmod")  # a head after the slot
    'after@1:mark ran@4:advcl far@1:advmod she@4:nsubj rests@root'
    """
    tokens = source.split()
    marker = "{" + slot + "}@"
    at = [i for i, t in enumerate(tokens) if t.startswith(marker)]
    if len(at) != 1:
        raise ValueError(f"template {source!r} must contain slot {{{slot}}} exactly once")
    at = at[0]
    parts = [t.rpartition("@") for t in fragment.split()]
    roots = [i for i, (_, _, arc) in enumerate(parts) if arc == "root"]
    if len(roots) != 1:
        raise ValueError(f"fragment {fragment!r} needs exactly one root")
    shift = len(parts) - 1

    def moved(head: int) -> int:
        return at + roots[0] if head == at else head + shift if head > at else head

    def arc_of(spec: str) -> tuple[str, str]:
        word, _, arc = spec.rpartition("@")
        return word, arc

    out = []
    for i, spec in enumerate(tokens):
        word, arc = arc_of(spec)
        if i == at:
            for fword, _, farc in parts:
                if farc == "root":  # the fragment's root takes the slot's arc, its head moved like any other
                    slot_head, _, slot_rel = arc.partition(":")
                    out.append(f"{fword}@{arc}" if arc == "root" else f"{fword}@{moved(int(slot_head))}:{slot_rel}")
                else:
                    head, _, rel = farc.partition(":")
                    out.append(f"{fword}@{at + int(head)}:{rel}")
            continue
        if arc != "root":
            head, _, rel = arc.partition(":")
            arc = f"{moved(int(head))}:{rel}"
        out.append(f"{word}@{arc}")
    return " ".join(out)

"""The small world's generator: determinism, gold trees, agreement, coreference, held-out words."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.data.world.corpus import corpus_text, count_words, generate_corpus
from course_utils.data.world.grammar import compile_template, realize, splice, tree_problem
from course_utils.data.world.knowledge import default_world
from course_utils.data.world.lexicon import build_lexicon

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world():
    return default_world()


@pytest.fixture(scope="module")
def docs():
    return generate_corpus(num_words=30_000, seed=3)


def sentences(docs):
    return [s for d in docs for s in d.sentences]


def test_same_seed_same_corpus_across_hash_seeds():
    code = ("import hashlib\nfrom course_utils.data.world.corpus import corpus_text, generate_corpus\n"
            "print(hashlib.sha256(corpus_text(generate_corpus(num_words=3000, seed=7)).encode()).hexdigest())")
    code_tasks = ("import hashlib\nfrom course_utils.data.world import TASK_NAMES, all_probes, load_task\n"
                  "parts = [load_task(t, 'smoke')[s].to_csv() for t in TASK_NAMES for s in ('train', 'test')]\n"
                  "parts.append(all_probes(10).to_csv())\n"
                  "print(hashlib.sha256(''.join(parts).encode()).hexdigest())")
    digests, task_digests = set(), set()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                             check=True)
        digests.add(out.stdout.strip())
        out = subprocess.run([sys.executable, "-c", code_tasks], capture_output=True, text=True, env=env,
                             cwd=ROOT, check=True)
        task_digests.add(out.stdout.strip())
    assert len(task_digests) == 1, "tasks or probes depend on hash randomisation"
    import hashlib
    digests.add(hashlib.sha256(corpus_text(generate_corpus(num_words=3000, seed=7)).encode()).hexdigest())
    assert len(digests) == 1


def test_different_seeds_differ():
    first, second = generate_corpus(num_documents=20, seed=1), generate_corpus(num_documents=20, seed=2)
    assert corpus_text(first) != corpus_text(second)


def test_size_arguments():
    assert len(generate_corpus(num_documents=5)) == 5
    docs = generate_corpus(num_words=2_000)
    assert 2_000 <= count_words(docs) < 2_100
    for bad in (dict(), dict(num_documents=3, num_words=3), dict(num_documents=0), dict(num_words=-5)):
        with pytest.raises(ValueError, match="num_documents"):
            generate_corpus(**bad)


def test_documents_have_several_sentences_and_text_layout(docs):
    assert all(len(d.sentences) >= 3 for d in docs)
    text = corpus_text(docs[:3])
    blocks = text.strip("\n").split("\n\n")
    assert [len(b.split("\n")) for b in blocks] == [len(d.sentences) for d in docs[:3]]


def test_every_sentence_is_a_tree_with_one_root(docs):
    for s in sentences(docs):
        assert len(s.words) == len(s.heads) == len(s.rels)
        assert tree_problem(s.heads) == "", (s.text, s.heads)
        assert s.rels[s.heads.index(-1)] == "root"


def test_number_stories_add_up(docs):
    checked = 0
    for d in docs:
        count = None
        for s in d.sentences:
            if s.phenomenon != "numbers":
                continue
            w = s.words
            number = int(next(t for t in w if t.isdigit()))
            if w[1] == "had":
                count = number
            elif w[0] == "Now":
                assert number == count, d.text
                checked += 1
            elif w[1] == "ate" or (w[1] == "gave" and "to" in w):
                count -= number
            else:  # "She bought 2 more." / "Sam gave her 2 more."
                assert w[-2] == "more", s.text
                count += number
    assert checked > 50


def test_template_errors_are_clear():
    with pytest.raises(ValueError, match="roots"):
        compile_template("a@root b@root")
    with pytest.raises(ValueError, match="word@head:rel"):
        compile_template("a")
    with pytest.raises(ValueError, match="exactly once"):
        splice("a@root", "X", "b@root")
    with pytest.raises(ValueError, match="needs a value for slot 'n'"):
        realize(compile_template("{n}@root"), {"m": "cats"})


def _finite_verb(s, head):
    """The token carrying tense and number for a predicate: an aux/cop child, or the head itself."""
    for i, (h, r) in enumerate(zip(s.heads, s.rels)):
        if h == head and r in ("aux", "cop", "aux:pass"):
            return i
    return head


def test_subject_verb_agreement(docs, world):
    lex = world.lexicon
    checked = 0
    for s in sentences(docs):
        for i, rel in enumerate(s.rels):
            if rel not in ("nsubj", "nsubj:pass"):
                continue
            subject_number = lex.noun_number(s.words[i]) or lex.noun_number(s.words[i].lower())
            verb = _finite_verb(s, s.heads[i])
            verb_number = lex.verb_number(s.words[verb])
            if subject_number and verb_number:
                assert subject_number == verb_number, (s.text, s.words[i], s.words[verb])
                checked += 1
    assert checked > 1_000


def test_agreement_with_attractors_occurs_with_both_numbers(docs, world):
    lex = world.lexicon
    mismatched = 0
    for s in sentences(docs):
        if s.phenomenon == "agreement" and "near" in s.words:
            subject = s.words[1]
            attractor = s.words[s.words.index("near") + 2]
            mismatched += lex.noun_number(subject) != lex.noun_number(attractor)
    assert mismatched > 20


def test_coreference_links_match_gender_and_number(docs, world):
    lex = world.lexicon
    gender = {p.name: p.gender for p in lex.people}
    expected = {"f": {"she", "her", "herself"}, "m": {"he", "him", "his", "himself"}}
    links = 0
    for d in docs:
        for si, s in enumerate(d.sentences):
            for link in s.coref:
                assert link.antecedent_sentence < si or (link.antecedent_sentence == si
                                                         and link.antecedent_token < link.token)
                pronoun = s.words[link.token].lower()
                antecedent = d.sentences[link.antecedent_sentence].words[link.antecedent_token]
                if antecedent in gender:
                    assert pronoun in expected[gender[antecedent]], (s.text, antecedent)
                else:  # an animal group: "the cats" ... "they"
                    number = lex.noun_number(antecedent)
                    assert pronoun in ({"they", "them", "their"} if number == "Plur" else {"it", "its"}), s.text
                links += 1
    assert links > 500


def test_facts_are_stated_consistently(docs, world):
    checked = 0
    for s in sentences(docs):
        w = s.words
        if w[1:4] == ("is", "the", "capital"):  # "Dodoma is the capital of Tanzania."
            assert world.capital_of[w[5]] == w[0], s.text
            checked += 1
        if w[:3] == ("The", "capital", "of"):  # "The capital of Tanzania is Dodoma."
            assert world.capital_of[w[3]] == w[5], s.text
            checked += 1
        if w[1:3] == ("lives", "in") and w[0] in world.home:
            assert world.home[w[0]] == w[3], s.text
            checked += 1
    assert checked > 200


def test_heldout_facts_are_stated_in_the_corpus(docs, world):
    stated = {(s.words[5], s.words[0]) for s in sentences(docs) if s.words[1:4] == ("is", "the", "capital")}
    stated |= {(s.words[3], s.words[5]) for s in sentences(docs) if s.words[:3] == ("The", "capital", "of")}
    heldout = [(c, world.capital_of[c]) for c in world.lexicon.heldout_places]
    assert sum(pair in stated for pair in heldout) >= 0.9 * len(heldout)


def test_heldout_adjectives_occur_in_revealing_contexts(docs, world):
    heldout = {a.word: a.polarity for a in world.lexicon.adjectives if a.heldout}
    revealing = {"positive": 0, "negative": 0}
    for s in sentences(docs):
        w = s.words
        if len(w) > 3 and w[3] in heldout and w[2] in ("was", "is"):
            if "come" in w:
                assert heldout[w[3]] == "positive", s.text
                revealing["positive"] += 1
            if "want" in w:
                assert heldout[w[3]] == "negative", s.text
                revealing["negative"] += 1
    assert min(revealing.values()) > 5


def test_heldout_agreement_pairs_never_in_corpus(docs, world):
    pairs = set(world.heldout_pairs)
    lex = world.lexicon
    singular = {n.plural: n.singular for n in lex.animals + lex.pseudo_animals}
    singular.update({n.singular: n.singular for n in lex.animals + lex.pseudo_animals})
    for s in sentences(docs):
        if s.phenomenon == "agreement" and "near" in s.words:
            pair = (singular[s.words[1]], singular[s.words[s.words.index("near") + 2]])
            assert pair not in pairs


def test_phenomena_are_all_frequent(docs):
    from collections import Counter
    counts = Counter(s.phenomenon for s in sentences(docs))
    for phenomenon in ("agreement", "coreference", "knowledge", "commonsense", "numbers", "sentiment"):
        assert counts[phenomenon] > 100, counts


def test_lexicon_is_deterministic_and_validates():
    assert build_lexicon(5) == build_lexicon(5)
    with pytest.raises(ValueError, match="heldout_fraction"):
        build_lexicon(heldout_fraction=1.5)


# ---------------------------------------------------------------- the long tail of everyday words
@pytest.mark.parametrize("base, forms", [
    ("carry", ("carries", "carried", "carrying")), ("fix", ("fixes", "fixed", "fixing")),
    ("drop", ("drops", "dropped", "dropping")), ("tie", ("ties", "tied", "tying")),
    ("make", ("makes", "made", "making")), ("buy", ("buys", "bought", "buying")),
    ("wear", ("wears", "wore", "wearing")), ("unwrap", ("unwraps", "unwrapped", "unwrapping")),
    ("stuff", ("stuffs", "stuffed", "stuffing")), ("label", ("labels", "labeled", "labeling")),
])
def test_verb_forms(base, forms):
    from course_utils.data.world.everyday import inflect
    verb = inflect(base)
    assert (verb.third, verb.past, verb.ing) == forms


def test_every_everyday_verb_and_thing_is_spelled_like_english():
    from course_utils.data.world.everyday import THING_VERBS, THINGS
    for verb in THING_VERBS:  # no tripled letters, no "-eing" except after "ee"/"ye"/"oe"
        for form in (verb.third, verb.past, verb.ing):
            assert not any(a == b == c for a, b, c in zip(form, form[1:], form[2:])), form
        assert not verb.ing.endswith("eing") or verb.base.endswith(("ee", "ye", "oe")), verb
    assert len({t.singular for t in THINGS}) == len(THINGS) and len({v.base for v in THING_VERBS}) == len(THING_VERBS)


def test_each_person_document_has_one_everyday_sentence(docs):
    for doc in docs:
        count = sum(s.phenomenon == "everyday" for s in doc.sentences)
        assert count == (doc.kind == "person"), (doc.kind, [s.text for s in doc.sentences])


def test_the_vocabulary_has_a_long_tail(world):
    """A few thousand words in all, most of them rare (the everyday tail), as in real text."""
    from collections import Counter

    from course_utils.data.world.everyday import everyday_words
    words = set(world.lexicon.vocabulary()) | set(everyday_words())
    assert len(words) >= 1_900
    counts = Counter(w for d in generate_corpus(num_words=100_000, seed=0) for s in d.sentences for w in s.words)
    rare = sum(1 for w in words if counts[w] < 10)
    assert rare > len(words) / 2, (rare, len(words))

"""Word-level BPE: the lecture's numbers, the tie-break rules, the incremental
trainer against a from-scratch reference, and parity with subword-nmt and
Hugging Face tokenizers."""

from __future__ import annotations

import doctest
import json
import random
from collections import defaultdict

import pytest

from course_utils import tokenization
from course_utils.tokenization import (
    LECTURE_CORPUS,
    TIE_BREAKS,
    BPETokenizer,
    count_pairs,
    merge_pair,
    split_word,
    train_bpe,
    word_counts,
)

LECTURE_PAIR_COUNTS = {
    ("d", "e"): 3, ("l", "o"): 7, ("t", "</w>"): 8, ("e", "r"): 2, ("n", "e"): 5,
    ("w", "</w>"): 5, ("e", "s"): 8, ("o", "w"): 7, ("w", "e"): 7, ("e", "w"): 5,
    ("r", "</w>"): 2, ("w", "i"): 3, ("i", "d"): 3, ("s", "t"): 8,
}  # fmt: skip

ENGLISH = """
The tokenizer is the first part of a language model and often the least loved. It
turns text into a list of numbers, and every later layer only ever sees those numbers.
A word that the tokenizer cuts into many small pieces costs more compute, fits less
often into the context window, and is harder for the model to learn. Byte pair
encoding starts from single characters and merges the most frequent neighbours again
and again, until the vocabulary has the size we asked for. Frequent words end up as a
single token, rare words as a few pieces, and nothing is ever out of vocabulary when
the alphabet holds every byte. WordPiece, used by BERT, picks merges by a likelihood
score instead of a raw count, and at inference it takes the longest piece it knows
from the left. Both ideas are older than the transformer: they come from compression
and from speech recognition, where a small and fixed set of units had to cover an open
set of words. When you read a tokenizer, look at what it does with spaces, with
numbers, with upper case, and with languages that are not English; most surprises in
a trained model can be traced back to one of these choices. In this notebook we build
the pieces ourselves, check them against the libraries everybody uses, and then train
a small model on top of them, so that nothing in the pipeline stays a black box. The
counts are small, the ties are many, and the rules for breaking them matter more than
one would think: two correct implementations can learn different merges from the same
text, and both are right, because they settle ties in different ways.
"""


def vocab_of(corpus, end_of_word="</w>"):
    return {split_word(w, end_of_word): c for w, c in word_counts(corpus).items()}


# --- the textbook steps ---------------------------------------------------


@pytest.mark.parametrize("module", ["base", "bpe_core", "word_bpe", "byte_bpe", "wordpiece"])
def test_docstring_examples(module):
    result = doctest.testmod(getattr(tokenization, module))
    assert result.attempted > 0 and result.failed == 0


def test_lecture_corpus():
    lines = ["low lower newest"] * 2 + ["low widest newest"] * 3
    assert LECTURE_CORPUS == "\n".join(lines)
    assert word_counts(LECTURE_CORPUS) == {"low": 5, "lower": 2, "newest": 5, "widest": 3}
    assert list(word_counts(LECTURE_CORPUS)) == ["low", "lower", "newest", "widest"]


def test_word_counts_accepts_text_lines_and_counts():
    assert word_counts(" b a\tb\n\n a ") == {"b": 2, "a": 2}
    assert list(word_counts(["b a", "c b"])) == ["b", "a", "c"]
    assert word_counts(line for line in ["x y", "x"]) == {"x": 2, "y": 1}
    assert word_counts({"low": 5, "new": 2}) == {"low": 5, "new": 2}
    assert word_counts("") == {}


def test_split_word():
    assert split_word("low") == ("l", "o", "w", "</w>")
    assert split_word("low", end_of_word=None) == ("l", "o", "w")
    assert split_word("é!", end_of_word="_") == ("é", "!", "_")


def test_count_pairs_on_the_lecture_corpus():
    counts = count_pairs(vocab_of(LECTURE_CORPUS))
    assert counts == LECTURE_PAIR_COUNTS
    first_six = [("l", "o"), ("o", "w"), ("w", "</w>"), ("w", "e"), ("e", "r"), ("r", "</w>")]
    assert list(counts)[:6] == first_six


def test_count_pairs_counts_overlaps():
    assert count_pairs({("a", "a", "a", "b"): 2}) == {("a", "a"): 4, ("a", "b"): 2}


def test_merge_pair():
    assert merge_pair(("a", "a", "a", "b"), ("a", "a")) == ("aa", "a", "b")
    assert merge_pair(("a", "b", "a", "b"), ("a", "b")) == ("ab", "ab")
    assert merge_pair(("l", "o", "w"), ("o", "l")) == ("l", "o", "w")
    assert merge_pair(("x",), ("x", "x")) == ("x",)


# --- training: expected results -------------------------------------------


def test_lecture_merges_with_first_tie_break():
    tok = train_bpe(LECTURE_CORPUS, 10)
    assert tok.merges == [
        ("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o"), ("lo", "w"),
        ("low", "</w>"), ("n", "e"), ("ne", "w"), ("new", "est</w>"), ("w", "i"),
    ]  # fmt: skip
    assert tok.tie_break == "first" and tok.steps == []


def test_lecture_first_merge_with_lexical_tie_break():
    assert train_bpe(LECTURE_CORPUS, 1, tie_break="lexical").merges == [("t", "</w>")]


def test_wikipedia_example_under_each_tie_break():
    """'aaabdaaabac' after merging aa: 'aa a b d aa a b a c' ties (aa, a) and (a, b) at 2.

    "first" takes (aa, a), which occurs first; "lexical" takes (aa, a) as
    'aa' > 'a'; "id" takes (a, b), ids (0, 1) < (4, 0), as Wikipedia does.
    """
    merges = {
        tie_break: train_bpe("aaabdaaabac", 3, tie_break=tie_break, end_of_word=None).merges
        for tie_break in TIE_BREAKS
    }
    assert merges["id"] == [("a", "a"), ("a", "b"), ("aa", "ab")]
    assert merges["first"] == [("a", "a"), ("aa", "a"), ("aaa", "b")]
    assert merges["lexical"] == [("a", "a"), ("aa", "a"), ("aaa", "b")]


def test_stops_early_when_no_pair_is_left():
    assert train_bpe("ab ab", 100).merges == [("a", "b"), ("ab", "</w>")]
    assert train_bpe("a", 5, end_of_word=None).merges == []
    assert train_bpe(LECTURE_CORPUS, 0).merges == []


def test_recorded_steps():
    tok = train_bpe(LECTURE_CORPUS, 10, record_steps=True)
    assert len(tok.steps) == 10
    first = tok.steps[0]
    assert first.pair == ("e", "s") and first.count == 8
    assert first.pair_counts == LECTURE_PAIR_COUNTS
    assert list(first.pair_counts) == list(count_pairs(vocab_of(LECTURE_CORPUS)))
    assert first.segmentation == vocab_of(LECTURE_CORPUS)
    vocab = vocab_of(LECTURE_CORPUS)
    for step, merge in zip(tok.steps, tok.merges):
        assert step.segmentation == vocab and list(step.segmentation) == list(vocab)
        assert list(step.pair_counts.items()) == list(count_pairs(vocab).items())
        assert step.pair == merge and step.count == step.pair_counts[merge]
        vocab = {merge_pair(w, merge): c for w, c in vocab.items()}
    with pytest.raises(AttributeError):
        first.count = 1  # frozen


# --- the incremental trainer against a from-scratch reference -------------


def reference_merges(vocab, num_merges, tie_break, alphabet=()):
    """Recount every pair after every merge, and apply the tie-break rule literally."""
    ids = {s: i for i, s in enumerate(sorted(set(alphabet).union(*vocab)))}
    merges = []
    for _ in range(num_merges):
        counts = count_pairs(vocab)
        if not counts:
            break
        top = max(counts.values())
        tied = [pair for pair, count in counts.items() if count == top]  # first-occurrence order
        if tie_break == "first":
            best = tied[0]
        elif tie_break == "lexical":
            best = max(tied)
        else:
            best = min(tied, key=lambda p: (ids[p[0]], ids[p[1]]))
        merges.append(best)
        ids.setdefault(best[0] + best[1], len(ids))
        vocab = {merge_pair(w, best): c for w, c in vocab.items()}
    return merges


def random_counts(rng, letters, n_words, max_len):
    lengths = (rng.randint(1, max_len) for _ in range(n_words))
    return {"".join(rng.choices(letters, k=length)): rng.randint(1, 4) for length in lengths}


@pytest.mark.parametrize("tie_break", TIE_BREAKS)
@pytest.mark.parametrize("end_of_word", ["</w>", None])
def test_incremental_trainer_matches_the_reference(tie_break, end_of_word):
    rng = random.Random(1)
    for letters in ["ab", "abc", "abcdefgh"]:
        for _ in range(15):
            counts = random_counts(rng, letters, rng.randint(1, 25), 9)
            vocab = {split_word(w, end_of_word): c for w, c in counts.items()}
            got = train_bpe(counts, 60, tie_break=tie_break, end_of_word=end_of_word).merges
            assert got == reference_merges(vocab, 60, tie_break), counts


@pytest.mark.parametrize("tie_break", TIE_BREAKS)
def test_incremental_trainer_matches_the_reference_on_english(tie_break):
    vocab = vocab_of(ENGLISH)
    assert train_bpe(ENGLISH, 300, tie_break=tie_break).merges == reference_merges(vocab, 300, tie_break)


# --- parity with subword-nmt ("lexical") and tokenizers ("id") ------------


def subword_nmt_merges(vocab, num_merges):
    """Drive subword-nmt's own learn_bpe steps over our vocabulary.

    subword-nmt's ``learn_bpe`` glues ``</w>`` to the last character
    (``w</w>``), so its merge list cannot be compared with ours directly.
    Instead we give its building blocks (``get_pair_statistics``,
    ``replace_pair``, ``update_pair_statistics``) our separate-``</w>``
    vocabulary and pick each merge exactly as its loop does,
    ``max(stats, key=lambda x: (stats[x], x))``. We leave out its
    ``prune_stats`` speed-up and stop, as we do, when no pair is left.
    """
    from subword_nmt import learn_bpe

    sorted_vocab = sorted(vocab.items(), key=lambda x: x[1], reverse=True)
    stats, indices = learn_bpe.get_pair_statistics(sorted_vocab)
    merges = []
    for _ in range(num_merges):
        best = max(stats, key=lambda x: (stats[x], x))
        if stats[best] <= 0:
            break
        merges.append(best)
        changes = learn_bpe.replace_pair(best, sorted_vocab, indices)
        learn_bpe.update_pair_statistics(best, changes, stats, indices)
        stats[best] = 0
    return merges


@pytest.mark.parametrize("corpus", [LECTURE_CORPUS, ENGLISH, LECTURE_CORPUS + ENGLISH])
def test_lexical_tie_break_matches_subword_nmt(corpus):
    expected = subword_nmt_merges(vocab_of(corpus), 400)
    assert train_bpe(corpus, 400, tie_break="lexical").merges == expected
    # the corpora have many ties, so the rule matters: "first" learns other merges
    assert train_bpe(corpus, 400, tie_break="first").merges != expected


def tokenizers_merges(counts, num_merges, end_of_word):
    """Hugging Face tokenizers' BPE on the same words and counts.

    tokenizers reads text, so each word is repeated ``count`` times; ``<`` (not in
    the corpus) ends each word as a one-character stand-in for ``</w>``, which
    sorts like ``</w>`` among the characters and so gets the same initial id.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    end = "<" if end_of_word else ""
    assert not any("<" in word for word in counts)
    alphabet = {c for word in counts for c in word + end}
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=len(alphabet) + num_merges, min_frequency=0, show_progress=False, special_tokens=[]
    )
    tokenizer.train_from_iterator([(w + end + " ") * c for w, c in counts.items()], trainer=trainer)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    merges = [m.split(" ") if isinstance(m, str) else m for m in merges]
    unmask = (lambda s: s.replace("<", end_of_word)) if end_of_word else (lambda s: s)
    return [(unmask(a), unmask(b)) for a, b in merges]


def test_id_tie_break_matches_tokenizers_on_the_wikipedia_example():
    ours = train_bpe("aaabdaaabac", 3, tie_break="id", end_of_word=None).merges
    assert ours == tokenizers_merges({"aaabdaaabac": 1}, 3, None)


@pytest.mark.parametrize("end_of_word", ["</w>", None])
def test_id_tie_break_matches_tokenizers(end_of_word):
    rng = random.Random(2)
    corpora = [word_counts(LECTURE_CORPUS), word_counts(ENGLISH)]
    corpora += [random_counts(rng, "abc", rng.randint(2, 20), 10) for _ in range(30)]
    for counts in corpora:
        ours = train_bpe(counts, 200, tie_break="id", end_of_word=end_of_word).merges
        assert ours == tokenizers_merges(counts, len(ours), end_of_word), counts


# --- the tokenizer --------------------------------------------------------


def test_tokenizer_vocab_and_encoding():
    tok = train_bpe(LECTURE_CORPUS, 10)
    assert tok.alphabet == ["</w>", "d", "e", "i", "l", "n", "o", "r", "s", "t", "w"]
    assert tok.vocab[: len(tok.alphabet)] == tok.alphabet
    assert tok.vocab[len(tok.alphabet) :] == [a + b for a, b in tok.merges] + ["<unk>"]
    assert tok.token_to_id == {t: i for i, t in enumerate(tok.vocab)}
    assert tok.encode_word("lowest") == ["low", "est</w>"]
    assert tok.tokenize("lowest newer") == ["low", "est</w>", "new", "e", "r", "</w>"]
    assert tok.encode("low lo") == [tok.token_to_id[t] for t in ["low</w>", "lo", "</w>"]]
    assert tok.detokenize(tok.tokenize("lowest newer")) == "lowest newer"
    assert tok.decode(tok.encode("lowest newer")) == "lowest newer"
    assert tok.decode(tok.encode("  lowest \n newer ")) == "lowest newer"


def test_unknown_characters_become_unk():
    tok = train_bpe(LECTURE_CORPUS, 10)
    assert tok.encode_word("lowz") == ["low", "<unk>", "</w>"]
    assert tok.encode("z") == [tok.token_to_id["<unk>"], tok.token_to_id["</w>"]]
    assert BPETokenizer(tok.merges, tok.alphabet, unk_token="?").encode_word("Z") == ["?", "</w>"]


def test_merges_apply_by_rank_like_gpt2():
    tok = BPETokenizer([("b", "c"), ("a", "b"), ("a", "bc")], ["a", "b", "c"], end_of_word=None)
    assert tok.encode_word("abc") == ["abc"]  # (b, c) has the lowest rank, so it goes first
    assert tok.encode_word("abab") == ["ab", "ab"]


def test_encoding_reproduces_the_training_segmentation():
    tok = train_bpe(ENGLISH, 300, record_steps=True)
    final = {merge_pair(w, tok.merges[-1]): c for w, c in tok.steps[-1].segmentation.items()}
    for word, symbols in zip(word_counts(ENGLISH), final):
        assert tuple(tok.encode_word(word)) == symbols


def test_save_and_load_round_trip(tmp_path):
    tok = train_bpe(ENGLISH, 50, tie_break="lexical")
    path = tmp_path / "bpe.json"
    tok.save(path)
    loaded = BPETokenizer.load(path)
    assert loaded == tok
    assert loaded.vocab == tok.vocab and loaded.encode(ENGLISH) == tok.encode(ENGLISH)
    assert [p.name for p in tmp_path.iterdir()] == ["bpe.json"]  # no temporary file left behind
    data = json.loads(path.read_text())
    assert data["format"] == "course_utils.word_bpe" and data["version"] == 1
    no_eow = train_bpe("abc abd", 2, end_of_word=None)
    no_eow.save(path)
    assert BPETokenizer.load(path) == no_eow


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "bpe.json"
    train_bpe("ab", 1).save(path)
    before = path.read_text()

    def failing_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", failing_dump)
    with pytest.raises(OSError, match="disk full"):
        train_bpe(LECTURE_CORPUS, 5).save(path)
    assert path.read_text() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["bpe.json"]


VALID_FILE = {
    "format": "course_utils.word_bpe", "version": 1, "tie_break": "first", "end_of_word": "</w>",
    "unk_token": "<unk>", "alphabet": ["</w>", "a", "b"], "merges": [["a", "b"]],
}  # fmt: skip


def file_with(**changes):
    return json.dumps({**VALID_FILE, **changes})


def test_load_reads_a_valid_file(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(file_with())
    assert BPETokenizer.load(path).tokenize("abba") == ["ab", "b", "a", "</w>"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json {", "not a JSON"),
        ('{"format": "something else"}', "expected format 'course_utils.word_bpe'"),
        ("[1, 2]", "expected format"),
        ('{"format": "course_utils.word_bpe", "version": 1}', "missing keys"),
        (file_with(merges=[["a", "b", "c"]]), "each merge must be a pair of non-empty strings"),
        (file_with(merges=[["a", ""]]), "each merge must be a pair of non-empty strings"),
        (file_with(merges="a b"), "merges must be a list of"),
        (file_with(tie_break="best"), "tie_break 'best' is not one of"),
        (file_with(version=2), "unsupported version 2"),
        (file_with(alphabet=[1]), "alphabet must be a list of non-empty strings"),
        (file_with(unk_token=None), "unk_token must be a string"),
        (file_with(end_of_word=3), "end_of_word must be a string or null"),
    ],
)
def test_load_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        BPETokenizer.load(path)


# --- errors ---------------------------------------------------------------


@pytest.mark.parametrize("num_merges", [-1, 2.5, "10", True])
def test_bad_num_merges(num_merges):
    with pytest.raises(ValueError, match=r"num_merges must be an int >= 0"):
        train_bpe(LECTURE_CORPUS, num_merges)


@pytest.mark.parametrize("corpus", ["", "  \n\t ", [], [""], {}])
def test_empty_corpus(corpus):
    with pytest.raises(ValueError, match="no words"):
        train_bpe(corpus, 3)


@pytest.mark.parametrize(
    "corpus, message",
    [
        (b"low lower", "corpus must be text: a str, an iterable of str lines, or a mapping"),
        (42, "corpus must be text"),
        (["low", 3], "line 1 is a int; lines must be str"),
        ([b"low"], "lines must be str"),
        ({"low": 2.0}, "counts must be positive ints"),
        ({"low": 0}, "counts must be positive ints"),
        ({"low": -3}, "counts must be positive ints"),
        ({"low": True}, "counts must be positive ints"),
        ({"low": "5"}, "counts must be positive ints"),
        ({1: 5}, "words must be non-empty str"),
        ({"two words": 5}, "without whitespace"),
    ],
)
def test_corpus_that_is_not_text(corpus, message):
    with pytest.raises(ValueError, match=message):
        train_bpe(corpus, 3)


def test_unknown_tie_break_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown tie_break 'max'; allowed: first, lexical, id"):
        train_bpe(LECTURE_CORPUS, 3, tie_break="max")


def test_empty_end_of_word():
    with pytest.raises(ValueError, match="end_of_word must be a non-empty str or None"):
        train_bpe(LECTURE_CORPUS, 3, end_of_word="")


def test_pair_counts_stay_exact_with_overlaps():
    """Runs like 'a a a a' are where incremental updates usually go wrong."""
    counts = {"aaaa": 3, "aaa": 2, "abab": 1, "aaaaaaa": 1, "baaab": 2}
    tok = train_bpe(counts, 20, end_of_word=None, record_steps=True)
    vocab = {split_word(w, None): c for w, c in counts.items()}
    for step in tok.steps:
        true_counts = defaultdict(int, count_pairs(vocab))
        assert step.count == true_counts[step.pair] == max(true_counts.values())
        vocab = {merge_pair(w, step.pair): c for w, c in vocab.items()}

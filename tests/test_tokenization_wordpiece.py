"""WordPiece: the lecture's examples and parity with transformers' BertTokenizer."""

from __future__ import annotations

import string

import pytest

from course_utils.tokenization import WordPieceTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "hello", "how", "are", "u", "td", "##ay", "the", "a", "is", "it", "in", "to", "of", "and",
    "token", "##izer", "##ization", "##s", "##ing", "##ed", "un", "##able", "play", "##ful",
    "simple", "simplest", "international", "inter", "##national", "example", "examples",
    "cafe", "naive", "don", "t", "##n", "##t", "1", "2", "##0", "##3", "zurich", "中", "文",
]  # fmt: skip
LETTERS = string.ascii_lowercase
PIECES = list(LETTERS) + ["##" + c for c in LETTERS] + list(string.punctuation)
VOCAB = list(dict.fromkeys(SPECIALS + WORDS + PIECES))  # no duplicates, as in a real vocab.txt

SENTENCES = [
    "Hello how are U tday?",
    "Simplest internationalization examples",
    "The tokenizer's job: split text (quickly!) into pieces.",
    "Don't worry -- it is UNPLAYFUL, un-playable & naïve.",
    "Café in Zürich costs 2,30 CHF; 2023 was 10% dearer.",
    "Emoji 🤗 and Greek Ωμέγα are unknown, but 中文 is split.",
    "tabs\tand\nnewlines\r\nand   spaces",
    "x" * 101 + " short",
    "",
]


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("wordpiece") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return path


def test_lecture_examples():
    tok = WordPieceTokenizer(["[UNK]", "hello", "how", "are", "u", "t", "td", "##a", "##ay", "##y", "?"])
    assert tok.tokenize("Hello how are U tday?") == ["hello", "how", "are", "u", "td", "##ay", "?"]
    tok = WordPieceTokenizer(
        ["[UNK]", "simple", "simplest", "inter", "international", "##national", "##ization"]
        + ["##s", "example", "examples"]
    )
    assert tok.tokenize("Simplest internationalization examples") == [
        "simplest", "international", "##ization", "examples",
    ]  # fmt: skip


def test_unknown_words_and_ids():
    tok = WordPieceTokenizer(["hello", "world", "##s", "!"])
    assert tok.vocab == ["hello", "world", "##s", "!", "[UNK]"]  # unk added at the end
    assert tok.tokenize("Hello, worlds!") == ["hello", "[UNK]", "world", "##s", "!"]
    assert tok.encode("Hello worlds") == [0, 1, 2]
    assert tok.tokenize("helloworld") == ["[UNK]"]  # "world" may not continue a word without ##
    assert tok.decode(tok.tokenize("hello worlds !")) == "hello worlds !"


def test_options():
    vocab = ["Hello", "hello", "<?>", "@@s"]
    tok = WordPieceTokenizer(vocab, unk_token="<?>", prefix="@@", lowercase=False)
    assert tok.tokenize("Hello hellos HELLO") == ["Hello", "hello", "@@s", "<?>"]
    assert tok.encode("Hello") == [0]
    short = WordPieceTokenizer(["a", "##a"], max_chars_per_word=3)
    assert short.tokenize("aaa aaaa") == ["a", "##a", "##a", "[UNK]"]


def test_basic_tokenization():
    tok = WordPieceTokenizer([])
    assert tok.basic_tokenize("Héllo, U.S.A!") == ["hello", ",", "u", ".", "s", ".", "a", "!"]
    # ASCII symbols count as punctuation too
    assert tok.basic_tokenize("$5^2 ~ 25") == ["$", "5", "^", "2", "~", "25"]
    assert tok.basic_tokenize("中文字") == ["中", "文", "字"]
    assert tok.basic_tokenize("a\u00a0b\x00c") == ["a", "bc"]


@pytest.mark.parametrize("sentence", SENTENCES)
def test_matches_bert_tokenizer(vocab_file, sentence):
    from transformers import BertTokenizer

    ours = WordPieceTokenizer(VOCAB)
    reference = BertTokenizer(vocab=str(vocab_file))
    assert ours.tokenize(sentence) == reference.tokenize(sentence)
    assert ours.encode(sentence) == reference.encode(sentence, add_special_tokens=False)


@pytest.mark.parametrize("sentence", SENTENCES)
@pytest.mark.parametrize("lowercase", [True, False])
def test_matches_the_python_bert_tokenizer(vocab_file, sentence, lowercase):
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    ours = WordPieceTokenizer(VOCAB, lowercase=lowercase)
    reference = BertTokenizerLegacy(str(vocab_file), do_lower_case=lowercase)
    assert ours.tokenize(sentence) == reference.tokenize(sentence)

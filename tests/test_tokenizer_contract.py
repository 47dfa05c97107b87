"""One contract for the three tokenizers (as minbpe's test_tokenizer.py checks its classes).

tokenize(text) -> list[str], encode(text) -> list[int], decode(ids) -> str, vocab and
token_to_id, save and load. What decode(encode(text)) gives back is each class's promise:

- byte-level BPE: the text itself, always;
- word-level BPE: the words joined by single spaces, ``<unk>`` for unknown characters;
- WordPiece: BERT's basic tokenization joined by single spaces (lowercased, accents
  stripped), ``[UNK]`` for each word with an unknown character;
- characters: the text itself, ``<unk>`` for each character the text it was built from lacked.
"""

from __future__ import annotations

import pytest
import torch

from course_utils.tokenization import (
    END_OF_TEXT,
    BPETokenizer,
    ByteBPETokenizer,
    CharTokenizer,
    Tokenizer,
    WordPieceTokenizer,
    basic_tokenize,
    train_bpe,
    train_byte_bpe,
    train_wordpiece,
)

TRAINING_TEXT = """
Every tokenizer in this course turns text into a list of numbers and back. The numbers are
the positions of tokens in a vocabulary; the vocabulary is learned from a text like this one.
Frequent words become single tokens, rare words are cut into pieces, and what happens to a
character that the text never showed depends on the tokenizer: a byte-level one writes its
bytes, the others write an unknown token. Numbers like 42, 2024 or 3.14 are text as well!
Punctuation (commas, colons: and so on) is split off, and "quotes" too. Is that clear? Yes.
""" * 3

ORDINARY = [
    "The vocabulary is learned from a text.",
    "Frequent words become single tokens, rare words are cut into pieces!",
    "numbers like 42 and 3.14: are they text?",
    "  several   spaces\tand\na new line  ",
]
UNSEEN = ["Ωμέγα", "漢字 and 🤗 emoji", "naïve café", "jumbled zqxj"]


def expected_round_trip(tok: Tokenizer, text: str) -> str:
    """What each tokenizer's decode(encode(text)) promises to give back."""
    if isinstance(tok, ByteBPETokenizer):
        return text
    if isinstance(tok, CharTokenizer):
        return "".join(c if c in tok.token_to_id else tok.unk_token for c in text)
    if isinstance(tok, BPETokenizer):
        known = set(tok.alphabet)
        return " ".join("".join(c if c in known else tok.unk_token for c in word) for word in text.split())
    assert isinstance(tok, WordPieceTokenizer)
    known = {c for c in tok.vocab if len(c) == 1 and tok.prefix + c in tok.token_to_id}
    words = basic_tokenize(text, tok.lowercase)
    return " ".join(w if set(w) <= known else tok.unk_token for w in words)


TOKENIZERS = {
    "word_bpe": lambda: train_bpe(TRAINING_TEXT, 150),
    "byte_bpe": lambda: train_byte_bpe(TRAINING_TEXT, 150, special_tokens=[END_OF_TEXT]),
    "wordpiece": lambda: train_wordpiece(TRAINING_TEXT, 250),
    "char": lambda: CharTokenizer.from_text(TRAINING_TEXT + "\t", special_tokens=[END_OF_TEXT], unk_token="<unk>"),
}
KEEPS_WHITESPACE = (ByteBPETokenizer, CharTokenizer)  # their tokens hold every character, spaces too


@pytest.fixture(scope="module", params=list(TOKENIZERS))
def tok(request):
    return TOKENIZERS[request.param]()


def test_every_tokenizer_keeps_the_contract(tok):
    assert isinstance(tok, Tokenizer)
    for method in ("tokenize", "encode", "decode", "detokenize", "save"):
        assert callable(getattr(tok, method))
    assert callable(type(tok).load)


@pytest.mark.parametrize("text", ORDINARY)
def test_round_trip_on_ordinary_text(tok, text):
    ids = tok.encode(text)
    assert all(type(i) is int for i in ids)
    assert ids == [tok.token_to_id[token] for token in tok.tokenize(text)]
    assert tok.decode(ids) == expected_round_trip(tok, text)
    assert tok.detokenize(tok.tokenize(text)) == tok.decode(ids)
    if not isinstance(tok, ByteBPETokenizer):
        assert "<unk>" not in tok.decode(ids) and "[UNK]" not in tok.decode(ids)


def test_frequent_words_are_single_tokens(tok):
    if isinstance(tok, CharTokenizer):
        pytest.skip("a character tokenizer has one token per character")
    tokens = tok.tokenize("a tokenizer and the vocabulary")
    for word in ["tokenizer", "the", "vocabulary"]:
        spelled = {BPETokenizer: word + "</w>", ByteBPETokenizer: "Ġ" + word}.get(type(tok), word)
        assert spelled in tokens


@pytest.mark.parametrize("text", ["", " ", "  \n\t\r\n "])
def test_empty_and_whitespace(tok, text):
    assert tok.decode(tok.encode(text)) == expected_round_trip(tok, text)
    if not isinstance(tok, KEEPS_WHITESPACE):
        assert tok.tokenize(text) == [] and tok.encode(text) == []
    assert tok.decode([]) == ""
    assert tok.tokenize("") == []


@pytest.mark.parametrize("text", UNSEEN)
def test_unseen_characters(tok, text):
    decoded = tok.decode(tok.encode(text))
    assert decoded == expected_round_trip(tok, text)
    if isinstance(tok, ByteBPETokenizer):
        assert decoded == text  # every byte is in the vocabulary
    elif text == "Ωμέγα" or isinstance(tok, CharTokenizer):
        assert tok.unk_token in tok.tokenize(text)


def test_special_tokens_stay_whole(tok):
    for special in getattr(tok, "special_tokens", ()):
        tokens = tok.tokenize(f"the {special} text")
        assert special in tokens and tok.encode(special) == [tok.token_to_id[special]]
        assert tok.decode(tok.encode(special)) == special


def test_vocab_and_token_to_id_agree(tok):
    assert len(set(tok.vocab)) == len(tok.vocab)
    assert tok.token_to_id == {token: i for i, token in enumerate(tok.vocab)}
    assert all(isinstance(token, str) and token for token in tok.vocab)


def test_save_and_load_round_trip(tok, tmp_path):
    path = tmp_path / ("vocab.txt" if isinstance(tok, WordPieceTokenizer) else "tokenizer.json")
    tok.save(path)
    loaded = type(tok).load(path)
    assert loaded == tok
    assert loaded.vocab == tok.vocab and loaded.token_to_id == tok.token_to_id
    for text in ORDINARY + UNSEEN:
        assert loaded.encode(text) == tok.encode(text)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_decode_takes_ids_of_any_integer_kind(tok):
    ids = tok.encode(ORDINARY[0])
    assert tok.decode(torch.tensor(ids)) == tok.decode(ids) == tok.decode(tuple(ids))


def test_decode_of_bad_ids_names_the_range(tok):
    last = len(tok.vocab) - 1
    for bad in ([last + 1], [0, -1], [10**9]):
        with pytest.raises(ValueError, match=rf"unknown token ids .*; ids go from 0 to {last}$"):
            tok.decode(bad)
    with pytest.raises(ValueError, match="token ids must be ints; got 'the'; detokenize"):
        tok.decode(["the"])
    with pytest.raises(ValueError, match="token ids must be ints; got 1.5"):
        tok.decode([1.5])
    with pytest.raises(ValueError, match="ids must be a list of token ids"):
        tok.decode("the")


@pytest.mark.parametrize("text", [None, b"bytes", 42, ["a", "list"]])
def test_text_must_be_a_str(tok, text):
    with pytest.raises(ValueError, match="text must be a str"):
        tok.tokenize(text)
    with pytest.raises(ValueError, match="text must be a str"):
        tok.encode(text)

"""Byte-level BPE: GPT-2's byte map and regex, and exact parity with Hugging Face tokenizers."""

from __future__ import annotations

import json
import random

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from course_utils.tokenization import (
    END_OF_TEXT,
    ByteBPETokenizer,
    bytes_to_unicode,
    pretokenize,
    train_byte_bpe,
)
from course_utils.tokenization.base import split_special_tokens
from course_utils.tokenization.byte_bpe import to_byte_symbols

ENGLISH = [
    "In 2023, the model saw 1.4 trillion tokens (about 5.6 TB of text).",
    "The learning rate was 3e-4, warmed up over 2,000 steps; then it decayed.",
    "Don't panic: it's only a tokenizer, and we'll test it.",
    "She said, \"Call me at 555-0199 before 9:30 a.m.\"",
    "Prices rose by 12% (from $4.99 to $5.59) in Q3.",
    "Well... that's odd!? Who'd have thought -- not I.",
    "The quick brown fox jumps over the lazy dog.",
    "Read chapters 1-3, skip 4, and re-read 5 & 6.",
    "Tokenizers love frequent words like the, and, of, to, in.",
    "Version 0.23.3 fixed 17 bugs; version 0.24 will add 3 features.",
]
EMOJI = [
    "Great job 🎉🎉! Let's ship it 🚀 today.",
    "I ❤️ tokenizers 🤗, but not 🐛 bugs.",
    "Weather: ☀️ then 🌧️, 21°C → 17°C.",
    "Family: 👨‍👩‍👧‍👦 (one emoji, seven code points).",
    "Flags 🇰🇪 🇰🇷 🇩🇪 and hands 👍🏽👍🏿.",
]
KOREAN_SWAHILI = [
    "안녕하세요, 만나서 반갑습니다.",
    "오늘은 날씨가 정말 좋네요.",
    "저는 한국어를 공부하고 있어요.",
    "이 책은 아주 재미있습니다.",
    "우리는 함께 점심을 먹었습니다.",
    "Habari za asubuhi, rafiki yangu.",
    "Ninaambia watoto hadithi.",
    "Leo tunakwenda sokoni kununua matunda.",
    "Mvua ilinyesha usiku mzima.",
    "Walimu wanafundisha wanafunzi darasani.",
    "Kiswahili ni lugha ya Afrika Mashariki.",
]
SPACES = [
    "a  b   c",
    "\n\n\n",
    "def f(x):\n    return x  \n\n",
    "\tindented\t\ttabs\t",
    "trailing spaces   ",
    "   leading spaces",
    "line\r\nwindows\r\n",
    "x",
]


def make_text(sentences, size, seed):
    """About ``size`` characters of shuffled sentences with varied separators."""
    rng = random.Random(seed)
    parts, length = [], 0
    while length < size:
        parts.append(rng.choice(sentences) + rng.choice([" ", " ", "\n", "  ", "\n\n", "\t"]))
        length += len(parts[-1])
    return "".join(parts)


TEXTS = {
    "english": make_text(ENGLISH, 4000, 0),
    "emoji": make_text(EMOJI + ENGLISH[:3], 3000, 1),
    "korean_swahili": make_text(KOREAN_SWAHILI, 3000, 2),
    "spaces": make_text(SPACES + ENGLISH[:2], 2000, 3),
}
MIXED = make_text(ENGLISH + EMOJI + KOREAN_SWAHILI + SPACES, 20000, 4)


def train_tokenizers(text, num_merges):
    """The reference: tokenizers' BPE with GPT-2's byte-level pre-tokenizer."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=256 + num_merges,
        min_frequency=0,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator([text], trainer=trainer)
    return tokenizer


def merges_of(tokenizer):
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


@pytest.fixture(scope="module")
def mixed_pair():
    """Both tokenizers trained on MIXED, for the encoding tests."""
    return train_byte_bpe(MIXED, 400), train_tokenizers(MIXED, 400)


# --- building blocks ------------------------------------------------------


def test_bytes_to_unicode_is_gpt2s_map():
    from transformers.convert_slow_tokenizer import bytes_to_unicode as gpt2_bytes_to_unicode

    mapping = bytes_to_unicode()
    assert mapping == gpt2_bytes_to_unicode()
    assert list(mapping) == list(range(256)) and len(set(mapping.values())) == 256
    for byte in [*range(33, 127), *range(161, 173), *range(174, 256)]:
        assert mapping[byte] == chr(byte)
    others = [byte for byte in range(256) if mapping[byte] != chr(byte)]
    assert [mapping[b] for b in others] == [chr(256 + n) for n in range(68)]
    assert mapping[ord(" ")] == "Ġ" and mapping[ord("\n")] == "Ċ"


def test_pretokenize():
    pieces = ["Hello", ",", " world", "!", " ", " It", "'s", " 2024", "."]
    assert pretokenize("Hello, world!  It's 2024.") == pieces
    assert pretokenize("a  b\n\n") == ["a", " ", " b", "\n\n"]
    assert pretokenize("") == []


@pytest.mark.parametrize("text", [*TEXTS.values(), "".join(SPACES), "🤗🚀"])
def test_pretokenize_matches_tokenizers(text):
    reference = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True).pre_tokenize_str(text)
    assert [to_byte_symbols(piece) for piece in pretokenize(text)] == [piece for piece, _ in reference]


# --- training parity ------------------------------------------------------


@pytest.mark.parametrize("name", TEXTS)
@pytest.mark.parametrize("num_merges", [50, 300])
def test_merges_match_tokenizers(name, num_merges):
    text = TEXTS[name]
    assert 2000 <= len(text.encode()) < 16000
    assert train_byte_bpe(text, num_merges).merges == merges_of(train_tokenizers(text, num_merges))


def test_merges_match_tokenizers_until_no_pair_is_left():
    ours = train_byte_bpe(MIXED, 2000).merges
    assert 600 < len(ours) < 2000  # every piece of MIXED ends up as a single token
    assert ours == merges_of(train_tokenizers(MIXED, 2000))


def test_merges_match_tokenizers_on_wordfreq_words():
    import wordfreq

    rng = random.Random(5)
    words = wordfreq.top_n_list("en", 5000)
    endings = ["", "", "", ",", ".", "!", " 42", "'s"]
    text = " ".join(rng.choice(words) + rng.choice(endings) for _ in range(6000))
    ours = train_byte_bpe(text, 1000).merges
    assert len(ours) == 1000
    assert ours == merges_of(train_tokenizers(text, 1000))


def test_every_byte_is_in_the_vocabulary():
    tok = train_byte_bpe("ab", 5)
    assert tok.merges == [("a", "b")]  # stops early: no pair left
    assert sorted(tok.vocab[:256]) == sorted(bytes_to_unicode().values()) == tok.vocab[:256]
    assert tok.vocab[256:] == ["ab"]
    assert train_byte_bpe("ab", 0).tokenize("zz") == ["z", "z"]


# --- encoding -------------------------------------------------------------


ROUND_TRIP = [
    "",
    "   ",
    "\n\n",
    "a  b   c",
    "🤗🚀",
    "안녕하세요 세계",
    "Ninaambia watoto hadithi.",
    "mixed\n\tnew\r\nlines \t and\ttabs\n",
    "Unseen: Ωμέγα, ÆØÅ, 漢字, \x00\x7f",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_decode_inverts_encode(text, mixed_pair):
    ours, _ = mixed_pair
    assert ours.decode(ours.encode(text)) == text
    assert train_byte_bpe("x", 0).decode(train_byte_bpe("x", 0).encode(text)) == text


@pytest.mark.parametrize("text", ROUND_TRIP + ENGLISH[:3] + EMOJI[:2] + KOREAN_SWAHILI[::4])
def test_encode_matches_tokenizers(text, mixed_pair):
    ours, reference = mixed_pair
    encoding = reference.encode(text)
    assert ours.tokenize(text) == encoding.tokens
    assert ours.encode(text) == encoding.ids
    assert ours.vocab == sorted(reference.get_vocab(), key=reference.get_vocab().get)


def test_decode_replaces_a_cut_character():
    tok = train_byte_bpe("🤗", 0)
    ids = tok.encode("🤗")
    assert len(ids) == 4
    assert tok.decode(ids[:2]) == "\ufffd"
    with pytest.raises(ValueError, match="unknown token ids"):
        tok.decode([10_000])


# --- saving, loading and errors -------------------------------------------


def test_save_and_load_round_trip(tmp_path, mixed_pair):
    ours, _ = mixed_pair
    path = tmp_path / "byte_bpe.json"
    ours.save(path)
    loaded = ByteBPETokenizer.load(path)
    assert loaded == ours and loaded.vocab == ours.vocab
    assert loaded.encode(MIXED) == ours.encode(MIXED)
    assert [p.name for p in tmp_path.iterdir()] == ["byte_bpe.json"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "not a JSON"),
        ('{"format": "course_utils.word_bpe", "version": 1, "merges": []}', "expected format"),
        ('{"format": "course_utils.byte_bpe", "version": 1}', "missing keys"),
        ('{"format": "course_utils.byte_bpe", "version": 1, "merges": [["a"]]}', "pair of non-empty"),
        ('{"format": "course_utils.byte_bpe", "version": 1, "merges": [["a", "あ"]]}', "mapped byte"),
        ('{"format": "course_utils.byte_bpe", "version": 3, "merges": []}', "version"),
    ],
)
def test_load_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        ByteBPETokenizer.load(path)


@pytest.mark.parametrize("text", [b"bytes", 42, None, ["a list"], ""])
def test_text_must_be_a_non_empty_str(text):
    with pytest.raises(ValueError, match="text must be a non-empty str"):
        train_byte_bpe(text, 3)


@pytest.mark.parametrize("num_merges", [-5, 1.0])
def test_bad_num_merges(num_merges):
    with pytest.raises(ValueError, match="num_merges must be an int >= 0"):
        train_byte_bpe("some text", num_merges)


# --- special tokens (GPT-2's <|endoftext|>) --------------------------------


def documents_with(special, seed):
    """The texts of TEXTS as documents, each ended by ``special``, sometimes glued to a word."""
    rng = random.Random(seed)
    documents = [make_text(ENGLISH + EMOJI + KOREAN_SWAHILI, 800, seed + i) for i in range(12)]
    return "".join(doc.rstrip() + rng.choice(["", " ", "\n"]) + special for doc in documents)


SPECIAL_TEXT = documents_with(END_OF_TEXT, 10)


def train_tokenizers_with_specials(text, num_merges, special_tokens, split=True):
    """tokenizers' BpeTrainer with ``special_tokens``.

    Its trainer reads special tokens in the training text as ordinary text (it
    learns merges such as ``<`` + ``|``); GPT-2 keeps them out of training. So the
    reference reads the parts of ``text`` between special tokens (``split=True``),
    which is what keeping them out means.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=len(special_tokens) + 256 + num_merges,
        min_frequency=0,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(special_tokens),
    )
    parts = split_special_tokens(text, special_tokens) if split else [text]
    tokenizer.train_from_iterator([p for p in parts if p not in special_tokens], trainer=trainer)
    return tokenizer


@pytest.fixture(scope="module")
def special_pair():
    return (train_byte_bpe(SPECIAL_TEXT, 300, special_tokens=[END_OF_TEXT]),
            train_tokenizers_with_specials(SPECIAL_TEXT, 300, [END_OF_TEXT]))


def test_special_tokens_take_no_part_in_training(special_pair):
    ours, reference = special_pair
    assert SPECIAL_TEXT.count(END_OF_TEXT) == 12 and "<" not in SPECIAL_TEXT.replace(END_OF_TEXT, "")
    assert ours.merges == merges_of(reference)
    assert ours.vocab == sorted(reference.get_vocab(), key=reference.get_vocab().get)
    assert ours.vocab[0] == END_OF_TEXT and ours.token_to_id[END_OF_TEXT] == 0
    assert not any("<" in a + b or "|" in a + b for a, b in ours.merges)  # no piece of the token
    # Trained on the raw text, tokenizers would merge pieces of the special token:
    raw = merges_of(train_tokenizers_with_specials(SPECIAL_TEXT, 300, [END_OF_TEXT], split=False))
    assert ("<", "|") in raw and ("<", "|") not in ours.merges


@pytest.mark.parametrize(
    "text",
    [
        END_OF_TEXT,
        END_OF_TEXT * 3,
        "The end.<|endoftext|>A new start",
        "glued<|endoftext|>words and <|endoftext|> spaced ones <|endoftext|>\n",
        "a broken <|endoftext|| or <|endof text|> stays text",
        "🤗<|endoftext|>🚀",
    ],
)
def test_special_tokens_are_encoded_whole_as_tokenizers_does(special_pair, text):
    ours, reference = special_pair
    encoding = reference.encode(text)
    assert ours.tokenize(text) == encoding.tokens
    assert ours.encode(text) == encoding.ids
    assert ours.tokenize(text).count(END_OF_TEXT) == text.count(END_OF_TEXT)
    assert ours.decode(ours.encode(text)) == text
    assert reference.decode(encoding.ids, skip_special_tokens=False) == text


def test_two_special_tokens_match_tokenizers():
    specials = ["<|endoftext|>", "<|pad|>"]
    text = documents_with("<|pad|>", 20) + documents_with(END_OF_TEXT, 30)
    ours = train_byte_bpe(text, 150, special_tokens=specials)
    reference = train_tokenizers_with_specials(text, 150, specials)
    assert ours.merges == merges_of(reference)
    assert ours.vocab[:2] == specials
    sample = "a<|pad|><|endoftext|>b <|pad|>"
    assert ours.encode(sample) == reference.encode(sample).ids
    assert ours.tokenize(sample) == ["a", "<|pad|>", "<|endoftext|>", "b", "Ġ", "<|pad|>"]


def test_decode_around_special_tokens():
    tok = train_byte_bpe("🤗 x", 0, special_tokens=[END_OF_TEXT])
    ids = tok.encode("🤗" + END_OF_TEXT)
    assert tok.decode(ids) == "🤗<|endoftext|>"
    assert tok.decode(ids[:2] + ids[-1:]) == "\ufffd<|endoftext|>"  # a cut character stays cut
    assert tok.decode([0, 0]) == END_OF_TEXT * 2


def test_save_and_load_keep_special_tokens(tmp_path, special_pair):
    ours, _ = special_pair
    path = tmp_path / "byte_bpe.json"
    ours.save(path)
    loaded = ByteBPETokenizer.load(path)
    assert loaded == ours and loaded.special_tokens == (END_OF_TEXT,)
    assert loaded.encode(SPECIAL_TEXT) == ours.encode(SPECIAL_TEXT)
    assert loaded != ByteBPETokenizer(ours.merges)  # the special token makes a difference
    path.write_text('{"format": "course_utils.byte_bpe", "version": 1, "merges": [["a", "b"]]}')
    assert ByteBPETokenizer.load(path) == ByteBPETokenizer([("a", "b")])  # a file from before


def test_only_special_tokens_learns_no_merges():
    tok = train_byte_bpe(END_OF_TEXT * 4, 10, special_tokens=[END_OF_TEXT])
    assert tok.merges == [] and len(tok.vocab) == 257


@pytest.mark.parametrize(
    "special_tokens, message",
    [
        ("<|endoftext|>", "not one string"),
        (["a"], "already byte-level tokens"),
        ([""], "non-empty strings"),
        ([END_OF_TEXT, END_OF_TEXT], "repeat a token"),
        ([3], "non-empty strings"),
    ],
)
def test_bad_special_tokens(special_tokens, message):
    with pytest.raises(ValueError, match=message):
        train_byte_bpe("some text", 3, special_tokens=special_tokens)

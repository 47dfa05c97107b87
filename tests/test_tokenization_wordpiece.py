"""WordPiece: the lecture's examples, parity with transformers' BertTokenizer, and a
vocabulary learned from any text (BERT's vocab.txt)."""

from __future__ import annotations

import string

import pytest

from course_utils.tokenization import BERT_SPECIAL_TOKENS, WordPieceTokenizer, train_wordpiece

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
    assert tok.decode(tok.encode("hello worlds !")) == "hello worlds !"
    assert tok.detokenize(tok.tokenize("hello worlds !")) == "hello worlds !"


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


# --- a vocabulary learned from any text ------------------------------------

PLAIN_ENGLISH = """
The citizens of the old town met in the square every morning. The baker opened his shop before
the sun rose, and the citizens bought bread on their way to the fields. Nobody in the town could
remember a morning without the smell of bread from the baker's oven.

One winter the river froze and the mill stopped turning. The baker had no flour, and the
citizens had no bread. The mayor called the citizens to the square and asked them what the town
should do. A young citizen said that the town should send a cart to the next valley, where the
mill still turned. The older citizens laughed, because the road to the valley was closed by snow.

The young citizen went anyway. She walked for three days through the snow, and on the fourth day
she came back with a cart full of flour. The baker baked bread for the whole town, and the
citizens ate it together in the square. The mayor said that the town owed her a debt it could
never pay, and the citizens agreed.

Since that winter the citizens of the town keep a store of flour in the town hall. Every citizen
gives a little in the autumn, and nobody in the town goes without bread when the river freezes.
"""


@pytest.fixture(scope="module")
def learned():
    return train_wordpiece(PLAIN_ENGLISH, 300)


def test_learned_vocabulary_starts_with_berts_special_tokens(learned):
    from course_utils.data.world.vocabulary import SPECIAL_TOKENS

    assert BERT_SPECIAL_TOKENS == SPECIAL_TOKENS == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert learned.vocab[:5] == list(SPECIAL_TOKENS)
    assert learned.special_tokens == SPECIAL_TOKENS and learned.unk_token == "[UNK]"
    assert len(learned.vocab) == 300 and len(set(learned.vocab)) == 300
    assert learned.tokenize("the [MASK] of [SEP]") == ["the", "[MASK]", "of", "[SEP]"]


def test_common_words_are_single_tokens(learned):
    for word in ["the", "citizens", "citizen", "town", "bread", "baker", "and", "of"]:
        assert learned.tokenize(word) == [word], learned.tokenize(word)
    assert learned.tokenize("The Citizens") == ["the", "citizens"]
    tokens = learned.tokenize(PLAIN_ENGLISH)
    words = learned.basic_tokenize(PLAIN_ENGLISH)
    assert len(tokens) < 1.3 * len(words)  # far from one token per character
    assert "[UNK]" not in tokens


def test_learned_vocabulary_covers_every_word_of_its_characters(learned):
    # every character is in the vocabulary as a word start and as a continuation
    for c in set("".join(learned.basic_tokenize(PLAIN_ENGLISH))):
        assert c in learned.token_to_id and "##" + c in learned.token_to_id
    unseen = "The fourth valley, a cart of snow, flour and bread, baked anew."
    assert learned.decode(learned.encode(unseen)) == " ".join(learned.basic_tokenize(unseen))
    assert learned.tokenize("Ωμέγα bread") == ["[UNK]", "bread"]


def test_learned_pieces_are_merges_in_order():
    tok = train_wordpiece("low low low lower lowest", 5 + 2 * 7 + 3)
    assert tok.vocab[5:12] == ["e", "l", "o", "r", "s", "t", "w"]
    assert tok.vocab[12:19] == ["##" + c for c in "elorstw"]
    assert tok.vocab[19:] == ["lo", "low", "lowe"]  # l + ##o (5 times), lo + ##w (5), low + ##e (2)
    assert tok.tokenize("lowest slow") == ["lowe", "##s", "##t", "s", "##l", "##o", "##w"]


def test_learned_vocabulary_matches_bert_tokenizer(learned, tmp_path):
    from transformers import BertTokenizer

    path = tmp_path / "vocab.txt"
    learned.save(path)
    assert path.read_text(encoding="utf-8").split("\n")[:-1] == learned.vocab
    reference = BertTokenizer(vocab=str(path))
    for sentence in PLAIN_ENGLISH.strip().split("\n") + ["Citizens [MASK] the mill!", "Zürich 🤗"]:
        assert learned.tokenize(sentence) == reference.tokenize(sentence)
        assert learned.encode(sentence) == reference.encode(sentence, add_special_tokens=False)
    assert WordPieceTokenizer.load(path) == learned


def test_special_tokens_in_the_text_take_no_part_in_training():
    text = "the [MASK] cat sat [SEP] " * 20
    tok = train_wordpiece(text, 40)
    assert tok.tokenize(text)[:6] == ["the", "[MASK]", "cat", "sat", "[SEP]", "the"]
    assert not any(c in tok.vocab for c in ["[", "]", "m", "##k", "mask"])


def test_training_options():
    text = "Tea and Toast, tea and toast. " * 5
    cased = train_wordpiece(text, 80, lowercase=False, special_tokens=["<unk>"], unk_token="<unk>",
                            prefix="@@")
    assert cased.vocab[0] == "<unk>" and "T" in cased.vocab and "@@o" in cased.vocab
    assert cased.tokenize("Tea tea TEA") == ["Tea", "tea", "<unk>"]
    assert train_wordpiece(text, 80) == train_wordpiece(text, 80)  # deterministic


@pytest.mark.parametrize(
    "text, vocab_size, message",
    [
        ("ab ab", 8, "vocab_size 8 is too small .* give at least 9"),
        ("ab ab", 8.0, "vocab_size must be an int"),
        ("  \n\t", 50, "no words"),
        ("[MASK] [CLS]", 50, "no words"),
        (b"bytes", 50, "text must be a str"),
    ],
)
def test_training_errors(text, vocab_size, message):
    with pytest.raises(ValueError, match=message):
        train_wordpiece(text, vocab_size)


# --- documents from any text, with a vocabulary of their own ----------------


def test_documents_from_text_learns_a_vocabulary_of_that_text(learned):
    from course_utils.pretraining import documents_from_text

    documents = documents_from_text(PLAIN_ENGLISH, vocab_size=300)
    assert documents == documents_from_text(PLAIN_ENGLISH, learned)
    assert len(documents) == 4 and [len(doc) for doc in documents] == [3, 5, 4, 2]
    first = documents[0][0]
    assert learned.decode(first) == "the citizens of the old town met in the square every morning ."
    citizens = learned.token_to_id["citizens"]
    assert sum(ids.count(citizens) for doc in documents for ids in doc) == 8


def test_documents_from_text_with_the_world_tokenizer_still_spells_english_out():
    """The reason to learn a vocabulary: the world's vocabulary cuts English into letters."""
    from course_utils.data.world.vocabulary import world_tokenizer
    from course_utils.pretraining import documents_from_text

    world = world_tokenizer()
    assert world.tokenize("First Citizen")[:3] == ["f", "##i", "##r"]
    documents = documents_from_text("Ann is a cook. She is happy.", world)
    assert [world.decode(ids) for ids in documents[0]] == ["ann is a cook .", "she is happy ."]


# --- vocab.txt files ----------------------------------------------------------


def test_save_and_load_vocab_txt(tmp_path, vocab_file):
    tok = WordPieceTokenizer.load(vocab_file)
    assert tok.vocab == VOCAB and tok.special_tokens == tuple(SPECIALS)  # BERT's five, as in the file
    assert tok == WordPieceTokenizer(VOCAB, special_tokens=SPECIALS)
    assert tok.tokenize("[CLS] hello [MASK]") == ["[CLS]", "hello", "[MASK]"]
    cased = WordPieceTokenizer.load(vocab_file, lowercase=False, special_tokens=())
    assert cased.lowercase is False and cased.special_tokens == () and cased != tok
    path = tmp_path / "windows.txt"
    path.write_bytes(b"[UNK]\r\nhello\r\n##s\r\n")
    assert WordPieceTokenizer.load(path).vocab == ["[UNK]", "hello", "##s"]


def test_vocab_txt_errors(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\n\nb\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2 is empty"):
        WordPieceTokenizer.load(path)
    with pytest.raises(ValueError, match="no line break"):
        WordPieceTokenizer(["a", "two\nlines"]).save(path)
    with pytest.raises(ValueError, match=r"special tokens \['\[MASK\]'\] are not in the vocabulary"):
        WordPieceTokenizer(["a"], special_tokens=["[MASK]"])

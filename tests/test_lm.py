"""The GPT pretraining pieces of course_utils.lm (notebook 06): the next-token loss against
Hugging Face's GPT2LMHeadModel and a hand loop, the token stream and its windows, the
character tokenizer, the unigram control, a smoke pretraining run and zero-shot scoring."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.lm import (
    IGNORE_INDEX,
    WORLD_END_OF_DOCUMENT,
    LMBatch,
    LMData,
    evaluate_lm,
    lm_loss,
    lm_stream,
    NgramLM,
    model_at,
    next_token_loss,
    ngram_baseline,
    pretrain_lm,
    sequence_log_prob,
    split_stream,
    text_lm_stream,
    unigram_baseline,
    world_lm_stream,
)
from course_utils.models import GPTModel, get_config
from course_utils.tokenization import END_OF_TEXT, CharTokenizer, Tokenizer, train_byte_bpe

PARAGRAPHS = """The cat sat on the mat. The cat saw a rat. The rat ran to the hat.

A dog sat on a log. The dog saw the cat. The cat ran up a tree and sat there.

The sun is hot. The sea is wet. A fish can swim in the sea, and a cat can not.
""" * 4

# 1 = real token, 0 = padding (right-padded rows)
MASK = torch.tensor([[1] * 8, [1] * 5 + [0] * 3, [1] * 3 + [0] * 5])


def random_ids(shape, vocab_size, seed=1):
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def tiny_gpt(vocab_size, seed=0, max_positions=32):
    torch.manual_seed(seed)
    config = get_config("gpt-tiny", vocab_size=vocab_size, d_model=32, num_layers=1, num_heads=2,
                        d_ff=64, max_positions=max_positions)
    return GPTModel(config)


# ---------------------------------------------------------------- the loss
def test_next_token_loss_equals_transformers_labels_loss(gpt_config, randomize):
    transformers = pytest.importorskip("transformers")
    from course_utils.interop import to_transformers

    ours = randomize(GPTModel(gpt_config), 0).eval()
    theirs = to_transformers(ours).eval()
    assert isinstance(theirs, transformers.GPT2LMHeadModel)
    ids = random_ids(MASK.shape, gpt_config.vocab_size)
    with torch.no_grad():
        plain = next_token_loss(ours(ids).logits, ids)
        torch.testing.assert_close(plain, theirs(ids, labels=ids).loss, atol=1e-5, rtol=1e-5)
        padded = next_token_loss(ours(ids, attention_mask=MASK).logits, ids, MASK)
        labels = ids.masked_fill(MASK == 0, IGNORE_INDEX)
        expected = theirs(ids, attention_mask=MASK, labels=labels).loss
    torch.testing.assert_close(padded, expected, atol=1e-5, rtol=1e-5)


def test_next_token_loss_equals_a_hand_loop():
    logits = torch.randn(3, 8, 11, generator=torch.Generator().manual_seed(0))
    ids = random_ids((3, 8), 11)
    terms = []
    for b in range(3):
        for t in range(7):
            if MASK[b, t + 1]:  # the target, token t + 1, is real
                terms.append(-logits[b, t].log_softmax(-1)[ids[b, t + 1]])
    torch.testing.assert_close(next_token_loss(logits, ids, MASK), torch.stack(terms).mean())
    unmasked = torch.stack([-logits[b, t].log_softmax(-1)[ids[b, t + 1]] for b in range(3) for t in range(7)])
    torch.testing.assert_close(next_token_loss(logits, ids), unmasked.mean())


def test_next_token_loss_checks_its_inputs():
    with pytest.raises(ValueError, match="expected logits"):
        next_token_loss(torch.zeros(2, 5, 7), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 positions"):
        next_token_loss(torch.zeros(2, 1, 7), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="attention_mask must have"):
        next_token_loss(torch.zeros(2, 5, 7), torch.zeros(2, 5, dtype=torch.long), torch.ones(2, 4))


def test_lm_loss_on_windows_is_the_next_token_loss_of_the_whole_window():
    model = tiny_gpt(20).eval()
    data = LMData(random_ids((200,), 20), block_size=12, seed=0)
    window = data.windows(4, torch.Generator().manual_seed(5))  # (B, T+1)
    batch = data.batch(4, torch.Generator().manual_seed(5))
    with torch.no_grad():
        whole = next_token_loss(model(window).logits, window)  # causal: the extra position changes nothing
        torch.testing.assert_close(lm_loss(model, batch), whole, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------- the stream and its windows
def test_lm_stream_takes_every_shape_of_documents():
    assert lm_stream([4, 5]).tolist() == [4, 5]
    assert lm_stream([[4, 5], [6]], end_id=0).tolist() == [4, 5, 0, 6, 0]
    assert lm_stream([[[4], [5, 6]], [[7]]], end_id=1).tolist() == [4, 5, 6, 1, 7, 1]
    assert lm_stream(torch.tensor([3, 2])).dtype == torch.long
    with pytest.raises(ValueError, match="documents is empty"):
        lm_stream([])
    with pytest.raises(ValueError, match="no token ids"):
        lm_stream([[], []])


def test_windows_are_seeded():
    stream = torch.arange(500)
    a, b, c = (LMData(stream, 16, seed=s) for s in (0, 0, 1))
    first = [a.batch(8) for _ in range(3)]
    again = [b.batch(8) for _ in range(3)]
    for x, y in zip(first, again):
        assert torch.equal(x.inputs, y.inputs) and torch.equal(x.targets, y.targets)
    assert not torch.equal(first[0].inputs, c.batch(8).inputs)
    assert first[0].inputs.shape == first[0].targets.shape == (8, 16)
    assert first[0].inputs.dtype == torch.long


def test_windows_are_contiguous_and_never_cross_the_stream_end():
    stream = torch.arange(100, 120)  # 20 tokens, each its own position + 100
    data = LMData(stream, block_size=6, seed=3)
    windows = data.windows(2000)  # (B, 7)
    assert windows.shape == (2000, 7)
    assert torch.equal(windows - windows[:, :1], torch.arange(7).expand(2000, 7))  # contiguous
    starts = windows[:, 0] - 100
    assert int(starts.min()) == 0 and int(starts.max()) == 20 - 7  # every start that fits, no other
    assert int(windows.max()) == 119  # the last token is reachable
    batch = data.batch(5)
    assert torch.equal(batch.targets - batch.inputs, torch.ones(5, 6, dtype=torch.long))


def test_a_stream_exactly_one_window_long_has_one_window():
    data = LMData(torch.arange(9), block_size=8)
    batch = data.batch(3)
    assert torch.equal(batch.inputs, torch.arange(8).expand(3, 8))
    assert torch.equal(batch.targets, torch.arange(1, 9).expand(3, 8))


def test_lm_data_checks_its_inputs():
    with pytest.raises(ValueError, match="needs 9 .* smaller block_size"):
        LMData(torch.arange(8), block_size=8)
    with pytest.raises(ValueError, match="must be 1-D"):
        LMData(torch.zeros(2, 20, dtype=torch.long), block_size=4)
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        LMData(torch.arange(20), block_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        LMData(torch.arange(20), block_size=4).batch(0)


def test_fixed_batches_repeat_and_leave_the_training_draws_alone():
    data, twin = LMData(torch.arange(300), 10, seed=7), LMData(torch.arange(300), 10, seed=7)
    one, two = data.fixed_batches(3, 4), data.fixed_batches(3, 4)
    assert all(torch.equal(x.inputs, y.inputs) for x, y in zip(one, two))
    assert torch.equal(data.batch(4).inputs, twin.batch(4).inputs)


def test_split_stream_keeps_the_end_for_validation():
    train_part, validation_part = split_stream(torch.arange(100), 0.1)
    assert torch.equal(torch.cat([train_part, validation_part]), torch.arange(100))
    assert len(validation_part) == 10
    with pytest.raises(ValueError, match="validation_fraction"):
        split_stream(torch.arange(10), 1.0)


def test_world_stream_separates_documents_with_end_of_text():
    from course_utils.lm import gpt_tokenizer
    from course_utils.pretraining import world_documents

    tok = gpt_tokenizer()
    stream = world_lm_stream(300)  # the GPT's tokenizer by default
    end_id = tok.token_to_id[WORLD_END_OF_DOCUMENT]
    assert WORLD_END_OF_DOCUMENT == "<|endoftext|>" and int(stream[-1]) == end_id
    documents = world_documents(300, tok)
    assert int((stream == end_id).sum()) == len(documents)
    first = sum(len(sentence) for sentence in documents[0])
    assert stream[:first].tolist() == [i for sentence in documents[0] for i in sentence]
    assert tok.decode(stream[:first].tolist()).endswith(".")
    assert int((stream == tok.token_to_id["[SEP]"]).sum()) == 0  # BERT's tokens are not used


def test_world_stream_needs_an_end_of_text_token(tok):
    with pytest.raises(KeyError, match="gpt_tokenizer"):
        world_lm_stream(300, tok)  # the world's BERT tokenizer has no <|endoftext|>


def test_text_stream_with_a_byte_bpe_and_end_of_text():
    tok = train_byte_bpe(PARAGRAPHS, 40, special_tokens=[END_OF_TEXT])
    stream = text_lm_stream(PARAGRAPHS, tok, end_token=END_OF_TEXT)
    end_id = tok.token_to_id[END_OF_TEXT]
    # 12 paragraphs, but each copy's last paragraph runs into the next copy's first: 9 blocks
    assert int((stream == end_id).sum()) == 3 * 4 - 3
    pieces = tok.decode(stream.tolist()).split(END_OF_TEXT)
    assert pieces[0] == "The cat sat on the mat. The cat saw a rat. The rat ran to the hat."
    assert text_lm_stream(PARAGRAPHS, tok).tolist() == tok.encode(PARAGRAPHS)  # one document
    with pytest.raises(KeyError, match="not in the tokenizer's vocabulary"):
        text_lm_stream(PARAGRAPHS, CharTokenizer.from_text(PARAGRAPHS), end_token=END_OF_TEXT)


# ---------------------------------------------------------------- the character tokenizer
def test_char_tokenizer_round_trip_and_contract(tmp_path):
    tok = CharTokenizer.from_text(PARAGRAPHS)
    assert isinstance(tok, Tokenizer)
    assert tok.vocab == sorted(set(PARAGRAPHS)) and len(tok.vocab) == len(set(PARAGRAPHS))
    assert tok.token_to_id == {token: i for i, token in enumerate(tok.vocab)}
    ids = tok.encode(PARAGRAPHS)
    assert len(ids) == len(PARAGRAPHS) and all(type(i) is int for i in ids)
    assert tok.decode(ids) == PARAGRAPHS
    assert tok.tokenize("a cat") == ["a", " ", "c", "a", "t"]
    assert tok.decode(torch.tensor(ids[:5])) == PARAGRAPHS[:5]
    assert tok.tokenize("") == [] and tok.decode([]) == ""
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    loaded = CharTokenizer.load(path)
    assert loaded == tok and loaded.vocab == tok.vocab
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_char_tokenizer_special_and_unknown_tokens():
    tok = CharTokenizer.from_text("ab<|endoftext|>ba", special_tokens=[END_OF_TEXT])
    assert tok.vocab == [END_OF_TEXT, "a", "b"]
    assert tok.tokenize("a<|endoftext|>b") == ["a", END_OF_TEXT, "b"]
    assert tok.decode(tok.encode("b<|endoftext|>a")) == "b<|endoftext|>a"
    with pytest.raises(ValueError, match=r"characters \['z'\] are not in this tokenizer's alphabet"):
        tok.encode("az")
    with_unk = CharTokenizer.from_text("ab", unk_token="<unk>")
    assert with_unk.vocab == ["<unk>", "a", "b"] and with_unk.decode(with_unk.encode("abz")) == "ab<unk>"


def test_char_tokenizer_errors(tmp_path):
    with pytest.raises(ValueError, match="text must be a str"):
        CharTokenizer.from_text("ab").encode(None)
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(("ab",))
    with pytest.raises(ValueError, match="also characters of the alphabet"):
        CharTokenizer(("a", "b"), special_tokens=("a",))
    with pytest.raises(ValueError, match="unknown token ids"):
        CharTokenizer.from_text("ab").decode([2])
    with pytest.raises(ValueError, match="needs some text"):
        CharTokenizer.from_text("")
    path = tmp_path / "wrong.json"
    train_byte_bpe("a cat", 2).save(path)
    with pytest.raises(ValueError, match="expected format 'course_utils.char'"):
        CharTokenizer.load(path)


# ---------------------------------------------------------------- the control
def test_unigram_baseline_is_add_one_smoothed_frequencies():
    train_ids, test_ids = torch.tensor([0, 0, 0, 1, 2]), torch.tensor([0, 1, 3])
    p = torch.tensor([4, 2, 2, 1], dtype=torch.double) / 9  # counts + 1 over 5 + 4
    expected = -(p[0].log() + p[1].log() + p[3].log()).item() / 3
    result = unigram_baseline(train_ids, test_ids, vocab_size=4)
    assert result["cross_entropy"] == pytest.approx(expected)
    assert result["perplexity"] == pytest.approx(math.exp(expected))
    uniform = unigram_baseline([], [0, 1], vocab_size=5)  # nothing seen: every token 1/5
    assert uniform["cross_entropy"] == pytest.approx(math.log(5))
    with pytest.raises(ValueError, match="test_ids has ids outside 0 .. 3"):
        unigram_baseline(train_ids, [4], vocab_size=4)
    with pytest.raises(ValueError, match="test_ids is empty"):
        unigram_baseline(train_ids, [], vocab_size=4)


# ---------------------------------------------------------------- pretraining
def test_ngram_baseline_orders_and_smoothing():
    ids = random_ids((400,), 7, seed=3)
    torch.testing.assert_close(ngram_baseline(ids, ids[:50], 7, n=1)["cross_entropy"],
                               unigram_baseline(ids, ids[:50], 7)["cross_entropy"])
    # a stream where each token decides the next: a bigram model is nearly sure, a unigram is not
    cycle = torch.arange(5).repeat(60)
    assert ngram_baseline(cycle, cycle, 5, n=2)["perplexity"] < 1.1 < 4.5 < unigram_baseline(cycle, cycle, 5)["perplexity"]
    # unseen contexts fall back on the lower order, so nothing has probability 0
    assert math.isfinite(ngram_baseline(cycle, torch.tensor([4, 2, 2, 2]), 5, n=3)["cross_entropy"])
    with pytest.raises(ValueError, match="n must be"):
        ngram_baseline(cycle, cycle, 5, n=0)
    with pytest.raises(ValueError, match="outside"):
        ngram_baseline(cycle, cycle, 3, n=2)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ngram_lm_scores_text_as_the_baseline_does(n):
    train, test = random_ids((500,), 6, seed=4), random_ids((40,), 6, seed=5)
    model = NgramLM(train, 6, n)
    log_probs = model(test[None]).logits[0]  # (T, V): position t predicts token t + 1
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(len(test)), atol=1e-5)
    scored = log_probs[:-1].gather(-1, test[1:, None]).sum().double()
    first = torch.log(model.unigram[test[0]])  # the baseline scores the first token by frequency
    expected = -ngram_baseline(train, test, 6, n)["cross_entropy"] * len(test)
    torch.testing.assert_close(scored + first, torch.tensor(expected, dtype=torch.double), atol=1e-4, rtol=0)
    assert sequence_log_prob(model, test[None]).shape == (1,)  # usable wherever a GPT scores text


def test_smoke_pretraining_beats_the_unigram_baseline():
    tok = CharTokenizer.from_text(PARAGRAPHS)
    train_part, validation_part = split_stream(text_lm_stream(PARAGRAPHS, tok), 0.1)
    data, validation = LMData(train_part, 16, seed=0), LMData(validation_part, 16, seed=1)
    model = tiny_gpt(len(tok.vocab))
    history = pretrain_lm(model, data, steps=60, learning_rate=1e-2, warmup_steps=5, batch_size=16,
                          eval_data=validation, eval_every=20, checkpoint_steps=(0, 60), show_progress=False)
    unigram = unigram_baseline(train_part, validation_part, len(tok.vocab))["cross_entropy"]
    assert len(history["train_loss"]) == 60
    assert history["eval_steps"] == [0, 20, 40, 60]
    assert history["eval_loss"][0] == pytest.approx(math.log(len(tok.vocab)), abs=0.3)  # untrained: uniform
    assert history["eval_loss"][-1] < unigram < history["eval_loss"][0]
    assert history["eval_perplexity"][-1] == pytest.approx(math.exp(history["eval_loss"][-1]))
    assert sorted(history["checkpoints"]) == [0, 60] and not model.training
    final = model_at(model, history["checkpoints"][60])
    assert evaluate_lm(final, validation.fixed_batches(4, 16)) == pytest.approx(history["eval_loss"][-1])
    untrained = model_at(model, history["checkpoints"][0])
    assert evaluate_lm(untrained, validation.fixed_batches(4, 16)) == pytest.approx(history["eval_loss"][0])


def test_pretraining_is_deterministic_from_the_seeds():
    stream = text_lm_stream(PARAGRAPHS, CharTokenizer.from_text(PARAGRAPHS))
    runs = [pretrain_lm(tiny_gpt(40, seed=2), LMData(stream, 8, seed=4), steps=5, batch_size=4,
                        show_progress=False)["train_loss"] for _ in range(2)]
    assert runs[0] == runs[1]


def test_pretrain_lm_checks_its_arguments():
    model, data = tiny_gpt(40), LMData(torch.arange(40), 8)
    with pytest.raises(ValueError, match="eval_every needs eval_data"):
        pretrain_lm(model, data, steps=2, eval_every=1)
    with pytest.raises(ValueError, match=r"checkpoint_steps \[5\] are outside 0 .. steps=2"):
        pretrain_lm(model, data, steps=2, checkpoint_steps=[5])


# ---------------------------------------------------------------- zero-shot scoring
def test_sequence_log_prob_equals_a_hand_loop():
    model = tiny_gpt(30, seed=1)
    model.train()
    ids = random_ids(MASK.shape, 30, seed=3)
    starts = torch.tensor([2, 1, 2])
    got = sequence_log_prob(model, ids, MASK, start=starts, batch_size=2)
    assert model.training  # mode restored
    model.eval()
    expected = []
    with torch.no_grad():
        for b in range(3):
            length = int(MASK[b].sum())
            log_probs = model(ids[b:b + 1, :length]).logits[0].log_softmax(-1)  # (L, V), no padding
            expected.append(sum(log_probs[t - 1, ids[b, t]] for t in range(int(starts[b]), length)))
    torch.testing.assert_close(got, torch.stack(expected), atol=1e-5, rtol=1e-5)
    assert got.shape == (3,) and not got.requires_grad
    one_start = sequence_log_prob(model, ids, MASK, start=1)
    torch.testing.assert_close(one_start[0], sequence_log_prob(model, ids[:1])[0])


def test_sequence_log_prob_checks_start():
    model, ids = tiny_gpt(30), random_ids((2, 6), 30)
    with pytest.raises(ValueError, match="start must be between 1 and L - 1 = 5"):
        sequence_log_prob(model, ids, start=0)
    with pytest.raises(ValueError, match="input_ids must be"):
        sequence_log_prob(model, ids[0])


def test_lm_batch_moves_to_a_device():
    batch = LMBatch(torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 2, dtype=torch.long))
    moved = batch.to("cpu")
    assert isinstance(moved, LMBatch) and torch.equal(moved.targets, batch.targets)

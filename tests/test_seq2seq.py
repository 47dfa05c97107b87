"""T5 and BART pretraining and text-to-text fine-tuning (course_utils.seq2seq, notebook 07):
the tokenizer's special ids, chunks and noised pairs, padded batches, the teacher-forcing loss
against a hand loop and Hugging Face's T5/BART ``labels`` loss, a short pretraining run, the
checkpoint cache, multitask fine-tuning and its exact-match tables, and the argument checks."""

from __future__ import annotations

import dataclasses
import random

import pandas as pd
import pytest
import torch

from course_utils.config import SCALES, Seq2SeqSizes, get_scale, scale_table
from course_utils.data.world import load_task
from course_utils.models import EncoderDecoderModel
from course_utils.noising import IGNORE_INDEX, t5_sentinel_ids
from course_utils.seq2seq import (
    EOS_TOKEN,
    FLAVOURS,
    MASK_TOKEN,
    OBJECTIVES,
    PAD_TOKEN,
    DenoisingData,
    Seq2SeqBatch,
    _seq2seq_key,
    encode_text_to_text,
    evaluate_seq2seq,
    evaluate_text_to_text,
    exact_match,
    exact_match_table,
    finetune_text_to_text,
    generate_ids,
    majority_text_to_text,
    noised_pair,
    predict_text_to_text,
    pretrain_seq2seq,
    pretrained_bart,
    pretrained_seq2seq,
    pretrained_t5,
    rank_fills,
    seq2seq_batch,
    seq2seq_loss,
    seq2seq_tokenizer,
    shift_right,
    special_ids,
    split_chunks,
    target_log_probs,
    text_chunks,
    tiny_seq2seq,
    tiny_seq2seq_config,
    world_chunks,
)

SMOKE = get_scale("smoke").seq2seq


@pytest.fixture(scope="module")
def s2s_tok():
    return seq2seq_tokenizer(SMOKE.num_sentinels)


@pytest.fixture(scope="module")
def chunks(s2s_tok):
    return world_chunks(5_000, s2s_tok, SMOKE.max_length - 1)


@pytest.fixture(scope="module")
def frames():
    return load_task("text_to_text", "smoke")


def random_batch(vocab_size: int, seed: int = 0) -> Seq2SeqBatch:
    """Three pairs of different lengths, padded: the second input and the first and third targets are short."""
    gen = torch.Generator().manual_seed(seed)
    lengths = [(7, 3), (4, 6), (7, 2)]
    pairs = [(torch.randint(5, vocab_size, (s,), generator=gen).tolist(),
              torch.randint(5, vocab_size, (t,), generator=gen).tolist()) for s, t in lengths]
    return seq2seq_batch(pairs, pad_id=0)


# ---------------------------------------------------------------- sizes
def test_every_scale_has_seq2seq_sizes_and_smoke_is_the_default():
    assert SCALES["smoke"].seq2seq == Seq2SeqSizes()
    laptop, gpu = SCALES["laptop"].seq2seq, SCALES["gpu"].seq2seq
    assert SMOKE.pretrain_steps < laptop.pretrain_steps < gpu.pretrain_steps
    assert SMOKE.d_model <= laptop.d_model <= gpu.d_model
    for sizes in (SMOKE, laptop, gpu):
        assert sizes.max_new_tokens + 1 <= sizes.max_length  # BART's positions hold a written target
        assert sizes.d_model % sizes.num_heads == 0
    assert "seq2seq.pretrain_steps" in scale_table().index


# ---------------------------------------------------------------- tokenizer and pairs
def test_tokenizer_keeps_world_ids_and_puts_sentinels_last_as_t5(tok, s2s_tok):
    assert s2s_tok.vocab[: len(tok.vocab)] == tok.vocab
    ids = special_ids(s2s_tok)
    assert ids.pad == tok.token_to_id[PAD_TOKEN] == 0  # the decoder's start, as T5's pad
    assert ids.sentinels == t5_sentinel_ids(len(s2s_tok.vocab), SMOKE.num_sentinels)
    assert s2s_tok.tokenize(f"Ann {MASK_TOKEN} Rome <extra_id_1> . {EOS_TOKEN}") == [
        "ann", MASK_TOKEN, "rome", "<extra_id_1>", ".", EOS_TOKEN]
    assert seq2seq_tokenizer(3).token_to_id[EOS_TOKEN] == ids.eos  # same id, whatever the sentinels


def test_text_chunks_pack_whole_sentences_within_documents(chunks):
    documents = [[[1, 2, 3], [4, 5], [6, 7, 8, 9]], [[10]], [[11, 12, 13, 14, 15, 16]]]
    assert text_chunks(documents, 5) == [[1, 2, 3, 4, 5], [6, 7, 8, 9], [10], [11, 12, 13, 14, 15]]
    assert max(map(len, chunks)) <= SMOKE.max_length - 1 and min(map(len, chunks)) >= 1
    train_chunks, validation_chunks = split_chunks(chunks, 0.1)
    assert train_chunks + validation_chunks == chunks and len(validation_chunks) == round(len(chunks) * 0.1)


def test_span_corruption_pairs_rebuild_the_text_and_infilling_targets_are_the_text(s2s_tok, chunks):
    ids = special_ids(s2s_tok)
    rng = random.Random(0)
    for chunk in chunks[:50]:
        source, target = noised_pair(chunk, "span_corruption", ids, rng)
        assert source[-1] == target[-1] == ids.eos
        rebuilt, spans = [], {}  # fill each sentinel of the input with what follows it in the target
        sentinel = None
        for token in target[:-1]:
            if token in ids.sentinels:
                sentinel = token
                spans[sentinel] = []
            else:
                spans[sentinel].append(token)
        for token in source[:-1]:
            rebuilt += spans[token] if token in ids.sentinels else [token]
        assert rebuilt == chunk
        infilled, original = noised_pair(chunk, "text_infilling", ids, rng, max_length=SMOKE.max_length)
        assert original == [*chunk, ids.eos] and infilled[-1] == ids.eos
        assert len(infilled) <= SMOKE.max_length


def test_batches_are_padded_right(s2s_tok, chunks):
    data = DenoisingData(chunks, s2s_tok, "span_corruption", SMOKE.max_length, seed=3)
    batch = data.batch(8)
    real_inputs = batch.attention_mask.sum(1)
    real_targets = (batch.labels != IGNORE_INDEX).sum(1)
    assert batch.input_ids.shape == batch.attention_mask.shape and batch.labels.shape[0] == 8
    assert int(real_inputs.max()) == batch.input_ids.shape[1] and int(real_targets.max()) == batch.labels.shape[1]
    eos = special_ids(s2s_tok).eos
    for row in range(8):  # </s> is the last real token; padding after it only
        n, m = int(real_inputs[row]), int(real_targets[row])
        assert batch.input_ids[row, n - 1] == eos and (batch.input_ids[row, n:] == 0).all()
        assert (batch.attention_mask[row, :n] == 1).all() and (batch.attention_mask[row, n:] == 0).all()
        assert batch.labels[row, m - 1] == eos and (batch.labels[row, m:] == IGNORE_INDEX).all()
    again = DenoisingData(chunks, s2s_tok, "span_corruption", SMOKE.max_length, seed=3).batch(8)
    assert all(torch.equal(a, b) for a, b in zip(batch, again))  # one seed, the same chunks and noise
    first, second = data.fixed_batches(2, 4), data.fixed_batches(2, 4)
    assert all(torch.equal(a, b) for x, y in zip(first, second) for a, b in zip(x, y))
    part = batch.subset(torch.tensor([1, 2]))  # cut to its own longest input and target
    assert part.input_ids.shape[1] == int(real_inputs[1:3].max()) and len(part) == 2


def test_shift_right_is_the_start_then_the_labels_without_the_last():
    labels = torch.tensor([[7, 8, 9, 1], [7, 1, IGNORE_INDEX, IGNORE_INDEX]])
    assert shift_right(labels, start_id=0, pad_id=0).tolist() == [[0, 7, 8, 9], [0, 7, 1, 0]]


# ---------------------------------------------------------------- the loss
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_loss_equals_a_hand_loop(flavour, randomize):
    model = randomize(EncoderDecoderModel(tiny_seq2seq_config(flavour, 50, SMOKE)), 0).eval()
    batch = random_batch(50)
    terms = []
    with torch.no_grad():
        for row in range(len(batch)):  # one example at a time, without padding
            source = batch.input_ids[row, : int(batch.attention_mask[row].sum())][None]
            target = batch.labels[row][batch.labels[row] != IGNORE_INDEX]
            decoder_input = torch.cat([torch.tensor([0]), target[:-1]])[None]  # start, then target[:-1]
            log_probs = model(source, decoder_input).logits[0].log_softmax(-1)  # (T, V)
            terms += [-log_probs[t, target[t]] for t in range(len(target))]
        torch.testing.assert_close(seq2seq_loss(model, batch), torch.stack(terms).mean(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_target_log_probs_are_each_rows_summed_loss(flavour, randomize):
    model = randomize(EncoderDecoderModel(tiny_seq2seq_config(flavour, 50, SMOKE)), 0).train()
    batch = random_batch(50)
    scores = target_log_probs(model, batch)
    assert scores.shape == (len(batch),) and model.training  # the mode comes back as it was
    for row in range(len(batch)):  # one row alone, no padding: minus its mean loss times its length
        alone = seq2seq_batch([(batch.input_ids[row, : int(batch.attention_mask[row].sum())].tolist(),
                                batch.labels[row][batch.labels[row] != IGNORE_INDEX].tolist())], pad_id=0)
        with torch.no_grad():
            expected = -seq2seq_loss(model.eval(), alone) * alone.labels.numel()
        model.train()
        torch.testing.assert_close(scores[row], expected, atol=1e-4, rtol=1e-5)


def test_rank_fills_scores_each_end_as_a_span_corruption_target(s2s_tok, randomize):
    ids = special_ids(s2s_tok)
    model = randomize(EncoderDecoderModel(tiny_seq2seq_config("t5", len(s2s_tok.vocab), SMOKE)), 0)
    prefix = s2s_tok.encode("the capital of france is")
    candidates = [s2s_tok.encode("paris ."), s2s_tok.encode("rome ."), s2s_tok.encode("the big city .")]
    scores = rank_fills(model, prefix, candidates, ids)
    source = [*prefix, ids.sentinels[0], ids.eos]  # T5's texts end with a noise span
    for k, end in enumerate(candidates):
        alone = target_log_probs(model, seq2seq_batch([(source, [ids.sentinels[0], *end, ids.eos])], ids.pad))
        torch.testing.assert_close(scores[k], alone[0], atol=1e-4, rtol=1e-5)
    assert not torch.allclose(scores[0], scores[1])
    with pytest.raises(ValueError, match="candidate"):
        rank_fills(model, prefix, [], ids)
    with pytest.raises(ValueError, match="candidate"):
        rank_fills(model, prefix, [[]], ids)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_loss_equals_transformers_labels_loss(flavour, randomize):
    transformers = pytest.importorskip("transformers")
    from course_utils.interop import to_transformers

    ours = randomize(EncoderDecoderModel(tiny_seq2seq_config(flavour, 50, SMOKE)), 1).eval()
    theirs = to_transformers(ours).eval()
    assert isinstance(theirs, (transformers.T5ForConditionalGeneration, transformers.BartForConditionalGeneration))
    theirs.config.pad_token_id = theirs.config.decoder_start_token_id = 0  # our [PAD] starts the decoder
    batch = random_batch(50, seed=2)
    with torch.no_grad():
        expected = theirs(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss
        torch.testing.assert_close(seq2seq_loss(ours, batch), expected, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- pretraining
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_pretraining_lowers_the_validation_loss(flavour, s2s_tok, chunks):
    train_chunks, validation_chunks = split_chunks(chunks)
    data = DenoisingData(train_chunks, s2s_tok, OBJECTIVES[flavour], SMOKE.max_length)
    validation = DenoisingData(validation_chunks, s2s_tok, OBJECTIVES[flavour], SMOKE.max_length)
    model = tiny_seq2seq(flavour, SMOKE, seed=0)
    history = pretrain_seq2seq(model, data, 25, learning_rate=3e-3, warmup_steps=5, batch_size=16,
                               eval_data=validation, eval_every=10, show_progress=False)
    assert history["eval_steps"] == [0, 10, 20, 25] and len(history["train_loss"]) == 25
    assert history["eval_loss"][-1] < history["eval_loss"][0] - 0.5
    assert history["eval_loss"][-1] == pytest.approx(evaluate_seq2seq(model, validation.fixed_batches(4, 16)))


def test_pretrained_models_train_once_then_load(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    model, metadata = pretrained_t5("smoke")
    assert "trained and saved" in capsys.readouterr().out
    again, metadata_again = pretrained_t5("smoke")
    assert "loaded" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert metadata_again["eval_loss"] == metadata["eval_loss"] and metadata["objective"] == "span_corruption"
    assert set(metadata["unigram"]) == {"cross_entropy", "perplexity"}  # the control, beside the curve
    bart, bart_metadata = pretrained_bart("smoke")
    assert bart.config.embedding_norm and bart_metadata["objective"] == "text_infilling"
    assert len(list(tmp_path.glob("checkpoints/t5-smoke-*.pt"))) == 1
    assert len(list(tmp_path.glob("checkpoints/bart-smoke-*.pt"))) == 1
    assert not model.training and next(model.parameters()).device.type == "cpu"


def test_the_key_holds_the_pretraining_sizes_only(s2s_tok):
    scale = get_scale("smoke")
    config = tiny_seq2seq_config("t5", len(s2s_tok.vocab), scale)

    def key(**changes) -> str:
        changed = dataclasses.replace(scale, seq2seq=dataclasses.replace(scale.seq2seq, **changes))
        return _seq2seq_key("t5", changed, config, s2s_tok.vocab, 0)

    assert key() == key(finetune_epochs=9, finetune_learning_rate=1.0, seeds=7, max_new_tokens=5)
    assert key() != key(pretrain_steps=31) and key() != key(learning_rate=1e-4)
    assert key() != _seq2seq_key("bart", scale, config, s2s_tok.vocab, 0)


# ---------------------------------------------------------------- text to text
def test_encode_text_to_text_ends_sources_and_targets_with_eos(frames, s2s_tok):
    data = encode_text_to_text(frames["train"], s2s_tok, max_length=12)
    eos = special_ids(s2s_tok).eos
    assert len(data) == len(frames["train"]) and data.input_ids.shape[1] == 12
    for row in range(len(data)):
        n = int(data.attention_mask[row].sum())
        target = data.labels[row][data.labels[row] != IGNORE_INDEX].tolist()
        assert data.input_ids[row, n - 1] == eos and target[-1] == eos
        expected = s2s_tok.encode(frames["train"].target[row])[:11]
        assert target[:-1] == expected


def test_multitask_finetuning_beats_the_majority_answer(frames, s2s_tok):
    train = frames["train"][frames["train"].task.isin(["sentiment", "nli"])].reset_index(drop=True)
    sizes = dataclasses.replace(SMOKE, finetune_epochs=20, finetune_learning_rate=3e-3, finetune_batch_size=16)
    model = tiny_seq2seq("t5", sizes, seed=0)
    data = encode_text_to_text(train, s2s_tok)
    run = finetune_text_to_text(model, data, sizes, validation=data.subset(torch.arange(40)), show_progress=False)
    assert sum(run.losses[-5:]) / 5 < run.losses[0] / 4 and len(run.validation) == 20
    table = evaluate_text_to_text(model, train, s2s_tok)  # fits its own training set
    control = majority_text_to_text(train, train)
    assert list(table.index) == ["nli", "sentiment", "all"]
    assert list(table.columns) == ["seen", "unseen", "all", "items"]
    assert table.loc["all", "all"] > control.loc["all", "all"] + 0.15
    predictions = predict_text_to_text(model, train.head(8), s2s_tok)  # decoded text, without </s>
    right = predictions[predictions["correct"]]
    assert len(right) and (right["prediction"] == right["target"].str.lower()).all()
    assert not predictions["prediction"].str.contains(EOS_TOKEN).any()


def test_exact_match_compares_whole_targets(s2s_tok):
    model = tiny_seq2seq("bart", SMOKE, seed=1)
    batch = random_batch(len(s2s_tok.vocab), seed=4)
    sources = [row[row.bool()].tolist() for row in batch.input_ids * batch.attention_mask]  # without padding
    written = generate_ids(model, batch, max_new_tokens=5)
    assert exact_match(model, seq2seq_batch(list(zip(sources, written)), pad_id=0), max_new_tokens=5).all()
    longer = seq2seq_batch([(source, [*w, 7]) for source, w in zip(sources, written)], pad_id=0)
    assert not exact_match(model, longer, max_new_tokens=6).any()  # the written ids are only a prefix


def test_exact_match_table_and_majority_control():
    train = pd.DataFrame({"source": ["a", "b", "c", "d"], "target": ["yes", "yes", "no", "Rome"],
                          "task": ["s", "s", "s", "qa"], "unseen": [False] * 4})
    test = pd.DataFrame({"source": ["e", "f", "g"], "target": ["yes", "no", "rome"], "task": ["s", "s", "qa"],
                         "unseen": [False, True, True]})
    table = majority_text_to_text(train, test)
    assert table.loc["s", "seen"] == 1.0 and table.loc["s", "unseen"] == 0.0 and table.loc["qa", "all"] == 1.0
    assert table.loc["all", "all"] == pytest.approx(2 / 3) and table.loc["all", "items"] == 3


# ---------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_clear_errors(tok, s2s_tok, chunks, frames):
    ids = special_ids(s2s_tok)
    with pytest.raises(ValueError, match="allowed: t5, bart"):
        pretrained_seq2seq("gpt", "smoke")
    with pytest.raises(ValueError, match="allowed: t5, bart"):
        tiny_seq2seq_config("t6", 10)
    with pytest.raises(ValueError, match="allowed: span_corruption, text_infilling"):
        noised_pair([5, 6], "token_masking", ids, random.Random(0))
    with pytest.raises(ValueError, match="sentinels"):
        noised_pair(list(range(200)), "span_corruption", special_ids(seq2seq_tokenizer(2)), random.Random(0))
    with pytest.raises(ValueError, match="num_sentinels"):
        seq2seq_tokenizer(0)
    with pytest.raises(KeyError, match="seq2seq_tokenizer"):
        special_ids(tok)  # the world's tokenizer has no </s> nor sentinels
    with pytest.raises(ValueError, match="empty"):
        seq2seq_batch([], pad_id=0)
    with pytest.raises(ValueError, match="empty input or target"):
        seq2seq_batch([([5, 1], [])], pad_id=0)
    with pytest.raises(ValueError, match="max_length"):
        DenoisingData(chunks, s2s_tok, "text_infilling", max_length=1)
    with pytest.raises(ValueError, match="batch_size"):
        DenoisingData(chunks, s2s_tok, "text_infilling", SMOKE.max_length).batch(0)
    with pytest.raises(KeyError, match="source, target, task, unseen"):
        encode_text_to_text(frames["train"].drop(columns="target"), s2s_tok)
    with pytest.raises(ValueError, match="DataFrame"):
        encode_text_to_text(["sentiment: good"], s2s_tok)
    with pytest.raises(ValueError, match="Seq2SeqBatch"):
        finetune_text_to_text(tiny_seq2seq("t5", SMOKE), frames["train"], SMOKE)
    with pytest.raises(ValueError, match="seed"):
        pretrained_t5("smoke", seed=-1)
    with pytest.raises(ValueError, match="eval_data"):
        pretrain_seq2seq(tiny_seq2seq("t5", SMOKE), DenoisingData(chunks, s2s_tok, "span_corruption", 40), 1,
                         eval_every=1)
    with pytest.raises(KeyError, match="predict_text_to_text"):
        exact_match_table(frames["train"])

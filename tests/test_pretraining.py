"""The tiny BERT's pretraining pipeline: vocabulary, documents, batches, losses, cached model."""

from __future__ import annotations

import pytest
import torch

from course_utils.config import get_scale
from course_utils.data.world import TASK_NAMES, all_probes, load_task
from course_utils.data.world.vocabulary import (
    SPECIAL_TOKENS,
    read_vocabulary,
    world_tokenizer,
    world_vocabulary,
)
from course_utils.noising import IGNORE_INDEX, IS_NEXT, NOT_NEXT
from course_utils.pretraining import (
    PretrainingData,
    documents_from_text,
    pretrained_bert,
    pretraining_losses,
    tiny_bert_config,
    world_documents,
)
from course_utils.models import BertForPreTraining


@pytest.fixture(scope="module")
def tok():
    return world_tokenizer()


@pytest.fixture(scope="module")
def documents(tok):
    return world_documents(5_000, tok, seed=0)


def test_committed_vocabulary_matches_the_world():
    assert read_vocabulary() == world_vocabulary(), (
        "data/world_vocab.txt is stale: run python -m course_utils.data.world.vocabulary"
    )


def test_vocabulary_starts_with_the_special_tokens(tok):
    assert tuple(tok.vocab[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS
    assert len(set(tok.vocab)) == len(tok.vocab)


def test_every_task_and_probe_word_is_one_known_token(tok):
    """At the largest scale too: its probes have numbers the laptop corpus never uses."""
    texts = []
    for name in TASK_NAMES:
        for frame in load_task(name, "gpu").values():
            for column in ("text", "premise", "hypothesis", "question", "answer", "source", "target"):
                if column in frame:
                    texts += [str(t) for t in frame[column]]
    probes = all_probes(500)
    texts += list(probes["text"]) + list(probes["answer"]) + [d for ds in probes["distractors"] for d in ds]
    for text in texts:
        for word in tok.basic_tokenize(text.replace("[MASK]", "")):
            assert tok.tokenize_word(word) == [word], f"{word!r} of {text!r} is not one token"


def test_mask_token_is_kept_whole(tok):
    ids = tok.encode("Dodoma is the capital of [MASK].")
    assert ids.count(tok.token_to_id["[MASK]"]) == 1


def test_world_documents_encode_each_sentence_text(tok):
    from course_utils.data.world import generate_corpus
    expected = [[tok.encode(" ".join(s.words)) for s in d.sentences]
                for d in generate_corpus(num_words=3_000, seed=4)]
    assert world_documents(3_000, tok, seed=4) == expected


def test_documents_from_text(tok):
    docs = documents_from_text("Ann is a cook! Is she happy?\n\n\nThe dog sleeps.", tok)
    assert [len(d) for d in docs] == [2, 1]
    assert tok.decode([tok.vocab[i] for i in docs[0][1]]) == "is she happy ?"


@pytest.mark.parametrize("objective", ["mlm+nsp", "mlm"])
def test_batches(tok, documents, objective):
    data = PretrainingData(documents, tok, max_length=24, objective=objective, seed=1)
    batch = data.batch(200)
    ids, types, mask, labels, nsp = batch
    assert ids.shape == types.shape == mask.shape == labels.shape and ids.shape[1] <= 24
    specials = torch.isin(ids, torch.tensor(data.special_ids))
    # [CLS] first; padding where the mask is 0; nothing to predict at padding or [CLS]/[SEP]
    assert (ids[:, 0] == data.cls_id).all()
    assert ((ids == data.pad_id) == (mask == 0)).all()
    original = torch.where(labels != IGNORE_INDEX, labels, ids)
    assert not torch.isin(labels[labels != IGNORE_INDEX], torch.tensor(data.special_ids)).any()
    assert ((original == data.sep_id).sum(1) == 2).all()
    # token types: 0 up to the first [SEP], 1 after it, up to the second
    for row in range(ids.shape[0]):
        seps = (original[row] == data.sep_id).nonzero().flatten().tolist()
        assert types[row, : seps[0] + 1].eq(0).all() and types[row, seps[0] + 1 : seps[1] + 1].eq(1).all()
    assert specials.any()
    if objective == "mlm":
        assert set(nsp.tolist()) == {IS_NEXT}
    else:
        assert set(nsp.tolist()) == {IS_NEXT, NOT_NEXT}


def test_packed_batches_hold_several_sentences(tok, documents):
    """Packing (BERT's recipe, the default) fills the length: more real tokens and more
    sentence ends per pair than one sentence per segment."""
    stats = {}
    for packed in (True, False):
        batch = PretrainingData(documents, tok, max_length=32, seed=1, packed=packed).batch(500)
        original = torch.where(batch.labels != IGNORE_INDEX, batch.labels, batch.input_ids)
        stats[packed] = (batch.attention_mask.sum(1).float().mean().item(),
                         (original == tok.token_to_id["."]).sum(1).float().mean().item())
    assert stats[False][1] <= 2.0 + 1e-6 < 2.5 < stats[True][1], stats
    assert stats[True][0] > stats[False][0] + 3, stats


def test_batches_are_reproducible(tok, documents):
    a = PretrainingData(documents, tok, max_length=24, seed=3).batch(8)
    b = PretrainingData(documents, tok, max_length=24, seed=3).batch(8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_unknown_objective(tok, documents):
    with pytest.raises(ValueError, match="allowed: mlm\\+nsp, mlm"):
        PretrainingData(documents, tok, max_length=24, objective="nsp")


def test_losses_match_full_logits(tok, documents):
    torch.manual_seed(0)
    model = BertForPreTraining(tiny_bert_config(tok, get_scale("smoke"))).eval()
    batch = PretrainingData(documents, tok, max_length=24, seed=0).batch(8)
    mlm, nsp = pretraining_losses(model, batch)
    out = model(batch.input_ids, batch.token_type_ids, batch.attention_mask)
    expected = torch.nn.functional.cross_entropy(
        out.mlm_logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE_INDEX
    )
    torch.testing.assert_close(mlm, expected)
    torch.testing.assert_close(nsp, torch.nn.functional.cross_entropy(out.nsp_logits, batch.nsp_labels))


def test_pretrained_bert_trains_once_then_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    model, history = pretrained_bert("mlm", scale="smoke")
    steps = get_scale("smoke").bert.pretrain_steps
    assert len(history["mlm"]) == steps and history["objective"] == "mlm"
    first, last = sum(history["mlm"][:5]), sum(history["mlm"][-5:])
    assert last < first, "the masked-LM loss should fall during pretraining"
    again, history_again = pretrained_bert("mlm", scale="smoke")
    assert "loaded" in capsys.readouterr().out
    assert history_again == history
    for (name, p), q in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(p, q), name
    assert again.mlm.decoder.weight is again.bert.embeddings.word_embeddings.weight
    assert len(list(tmp_path.glob("checkpoints/bert-mlm-smoke-*.pt"))) == 1


def test_pretrained_bert_rejects_unknown_objective():
    with pytest.raises(ValueError, match="unknown objective"):
        pretrained_bert("clm")


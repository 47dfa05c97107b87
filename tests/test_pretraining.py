"""The tiny BERT's pretraining pipeline: vocabulary, documents, batches, losses, cached model."""

from __future__ import annotations

import pytest
import torch

from course_utils.config import get_scale
from course_utils.data.world import TASK_NAMES, all_probes, load_task
from course_utils.data.world.vocabulary import (
    SPECIAL_TOKENS,
    read_vocabulary,
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
    assert tok.decode(docs[0][1]) == "is she happy ?"


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
    assert again.mlm.decoder.weight is again.bert.embeddings.token_embeddings.weight
    assert len(list(tmp_path.glob("checkpoints/bert-mlm-smoke-*.pt"))) == 1


def test_pretrained_bert_rejects_unknown_objective():
    with pytest.raises(ValueError, match="unknown objective"):
        pretrained_bert("clm")



def test_world_documents_are_kept_and_can_reuse_a_corpus(tok):
    from course_utils.data.world import generate_corpus

    first = world_documents(3_000, tok, seed=7)
    assert world_documents(3_000, tok, seed=7) is first  # generated once per process
    corpus = generate_corpus(num_words=3_000, seed=8)
    from_corpus = world_documents(3_000, tok, seed=8, corpus=corpus)
    assert from_corpus[0][0] == tok.encode(corpus[0].sentences[0].text)


def test_learning_rate_decays_linearly_to_zero(monkeypatch):
    from course_utils import training

    captured = {}
    real = torch.optim.lr_scheduler.LambdaLR

    def spy(optimizer, lr_lambda):
        captured["rate"] = lr_lambda
        return real(optimizer, lr_lambda)

    monkeypatch.setattr(training.torch.optim.lr_scheduler, "LambdaLR", spy)
    model = torch.nn.Linear(2, 1)
    training.train(model, lambda: torch.zeros(1, 2), lambda m, b: m(b).sum(), steps=10,
                   learning_rate=1.0, warmup_steps=2, decay=True, fused=True)
    # the factor at step s (from 0): (s + 1) / 2 while warming up, then (10 - s) / 8
    assert [captured["rate"](s) for s in range(10)] == pytest.approx(
        [0.5, 1.0, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8])


def test_segment_lengths_and_length_baseline():
    from course_utils.pretraining import PretrainingBatch, nsp_length_baseline, segment_lengths

    # pair 0: [CLS] a a [SEP] b [SEP] (next); pair 1: [CLS] a [SEP] b b b [SEP] (not next)
    ids = torch.tensor([[2, 5, 5, 3, 6, 3, 0], [2, 5, 3, 6, 6, 6, 3]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1]])
    mask = (ids != 0).long()
    batch = PretrainingBatch(ids, types, mask, torch.full_like(ids, -100), torch.tensor([IS_NEXT, NOT_NEXT]))
    lengths = segment_lengths(batch)
    assert lengths["pair"].tolist() == [6, 7]
    assert lengths["segment A"].tolist() == [4, 3] and lengths["segment B"].tolist() == [2, 4]
    table = nsp_length_baseline(batch, batch).set_index("length of")
    assert (table["fit accuracy"] == 1.0).all() and (table["test accuracy"] == 1.0).all()
    assert table.loc["segment B", "rule"] == "NOT_NEXT if length >= 4"


def test_nsp_accuracy_of_a_model(tok, documents):
    from course_utils.pretraining import nsp_accuracy

    torch.manual_seed(0)
    model = BertForPreTraining(tiny_bert_config(tok, get_scale("smoke")))
    batch = PretrainingData(documents, tok, max_length=32, seed=0).batch(64)
    assert 0.0 <= nsp_accuracy(model, batch) <= 1.0 and not model.training


def test_summarize_ablation_reports_the_spread_and_the_evidence():
    import pandas as pd

    from course_utils.pretraining import nsp_ablation, summarize_ablation

    rows = [{"objective": o, "pretrain_seed": p, "task": t, "seed": s, "unseen": value}
            for o, base in (("mlm+nsp", 0.8), ("mlm", 0.6))
            for p in (0, 1) for s in (0, 1)
            for t, value in (("sentiment", base + 0.01 * (p + s)), ("nli", 0.5 + 0.2 * s))]
    table = summarize_ablation(pd.DataFrame(rows), {"sentiment": 200, "nli": 200})
    assert table.loc["sentiment", "difference"] == pytest.approx(0.2)
    assert table.loc["sentiment", "verdict"] == "evidence" and table.loc["nli", "verdict"] == "no evidence"
    # the same difference on 20 test items is within twice the binomial standard error
    assert summarize_ablation(pd.DataFrame(rows), {"sentiment": 20, "nli": 20}).loc["sentiment", "verdict"] \
        == "no evidence"
    with pytest.raises(KeyError, match="nli"):
        summarize_ablation(pd.DataFrame(rows), {"sentiment": 200})
    assert table.loc["sentiment", "runs per arm"] == 4
    assert table.loc["nli", "MLM + NSP"].startswith("0.600 ± ")
    with pytest.raises(ValueError, match="two pretraining seeds"):
        nsp_ablation(scale="smoke", pretrain_seeds=(0,))


def test_nsp_ablation_runs_both_arms_with_two_pretraining_seeds(tmp_path, monkeypatch):
    from course_utils.pretraining import nsp_ablation, summarize_ablation

    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    results = nsp_ablation(("sentiment",), scale="smoke", pretrain_seeds=(0, 1), finetune_seeds=(0,))
    assert len(results) == 4
    assert sorted(zip(results.objective, results.pretrain_seed)) == [
        ("mlm", 0), ("mlm", 1), ("mlm+nsp", 0), ("mlm+nsp", 1)]
    assert len(list(tmp_path.glob("checkpoints/*.pt"))) == 4  # every model lands in the cache
    table = summarize_ablation(results, {"sentiment": 100})
    assert list(table.index) == ["sentiment"] and table.loc["sentiment", "runs per arm"] == 2


def test_overlap_baseline_uses_shared_words(tok, documents):
    from course_utils.pretraining import nsp_overlap_baseline, nsp_overlap_features

    fit = PretrainingData(documents, tok, 32, seed=1).batch(300)
    test = PretrainingData(documents, tok, 32, seed=2).batch(300)
    features = nsp_overlap_features(fit, frequent=set())
    assert features.shape == (300, 5) and (features[:, 0] >= 0).all()
    # pairs from one document share more content words than pairs from two
    shared = features[:, 0]
    assert shared[fit.nsp_labels == IS_NEXT].mean() > shared[fit.nsp_labels == NOT_NEXT].mean()
    result = nsp_overlap_baseline(fit, test, frequent_words=20)
    assert result == nsp_overlap_baseline(fit, test, frequent_words=20)  # deterministic
    assert 0.55 < result["test accuracy"] <= 1.0
    with pytest.raises(ValueError, match="frequent_words"):
        nsp_overlap_baseline(fit, test, frequent_words=-1)

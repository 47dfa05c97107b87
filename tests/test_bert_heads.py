"""BERT heads: pretraining (MLM + NSP, tied decoder, masked positions), sequence and token
classification, create_model(head=...), and parameter counts against transformers."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from course_utils.models import (
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertMLMHead,
    BertModel,
    PreTrainingOutput,
    count_parameters,
    create_model,
    parameter_groups,
)

# 1 = real token, 0 = padding
MASK = torch.tensor([[1] * 8, [1] * 6 + [0] * 2, [1] * 3 + [0] * 5])


@pytest.fixture
def pretraining_model(bert_config):
    """``pretraining_model(seed=0, **overrides)``: a seeded BertForPreTraining of
    ``bert_config`` with ``overrides``, in eval mode."""

    def build(seed: int = 0, **overrides) -> BertForPreTraining:
        torch.manual_seed(seed)
        return BertForPreTraining(dataclasses.replace(bert_config, **overrides)).eval()

    return build


def random_ids(seed: int = 0, vocab: int = 100) -> torch.Tensor:
    return torch.randint(1, vocab, MASK.shape, generator=torch.Generator().manual_seed(seed))


def tied(model: BertForPreTraining) -> bool:
    return model.mlm.decoder.weight is model.bert.embeddings.token_embeddings.weight


# --- pretraining --------------------------------------------------------------


def test_pretraining_output_shapes(pretraining_model):
    model = pretraining_model()
    out = model(random_ids(), torch.zeros_like(MASK), MASK, need_weights=True)
    assert isinstance(out, PreTrainingOutput)
    assert out.mlm_logits.shape == (3, 8, 100)
    assert out.nsp_logits.shape == (3, 2)
    assert out.hidden.shape == (3, 8, 32)
    assert [a.shape for a in out.attentions] == [(3, 4, 8, 8)] * 2
    assert model(random_ids()).attentions is None


def test_masked_positions_score_only_those_positions(pretraining_model):
    model = pretraining_model()
    ids = random_ids()
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[1, 5], labels[2, 0] = 7, 8, 9
    masked = labels != -100
    full = model(ids, attention_mask=MASK)
    some = model(ids, attention_mask=MASK, masked_positions=masked)
    assert some.mlm_logits.shape == (3, 100)
    torch.testing.assert_close(some.mlm_logits, full.mlm_logits[masked], atol=1e-6, rtol=0)
    torch.testing.assert_close(some.nsp_logits, full.nsp_logits)
    torch.testing.assert_close(some.hidden, full.hidden)
    nothing = model(ids, masked_positions=torch.zeros_like(masked))
    assert nothing.mlm_logits.shape == (0, 100)


@pytest.mark.parametrize(
    "masked", [torch.ones(3, 8, dtype=torch.long), torch.ones(3, 7, dtype=torch.bool)],
    ids=["not-bool", "wrong-shape"],
)  # fmt: skip
def test_masked_positions_errors(masked, pretraining_model):
    with pytest.raises(ValueError, match="masked_positions must be a bool tensor"):
        pretraining_model()(random_ids(), masked_positions=masked)


def test_pretraining_needs_a_pooler(bert_config):
    with pytest.raises(ValueError, match="pooler=True"):
        BertForPreTraining(dataclasses.replace(bert_config, pooler=False))


def test_head_initialization(bert_config):
    model = BertForPreTraining(dataclasses.replace(bert_config, vocab_size=1000, d_model=256))
    assert torch.all(model.mlm.decoder.bias == 0)
    assert torch.all(model.mlm.dense.bias == 0) and torch.all(model.nsp.bias == 0)
    assert torch.all(model.mlm.norm.weight == 1) and torch.all(model.mlm.norm.bias == 0)
    for weight in (model.mlm.dense.weight, model.nsp.weight, model.mlm.decoder.weight):
        assert abs(weight.std().item() - 0.02) < 0.004


def test_mlm_head_alone(bert_config):
    head = BertMLMHead(bert_config)  # untied: its own decoder weight
    assert head(torch.randn(5, 32)).shape == (5, 100)
    with pytest.raises(ValueError, match="cannot be tied"):
        BertMLMHead(bert_config, token_embeddings=nn.Embedding(99, 32))


# --- tied decoder -------------------------------------------------------------


def test_decoder_is_tied_to_the_token_embeddings(pretraining_model):
    model = pretraining_model()
    assert tied(model)
    assert "mlm.decoder.weight" in model.state_dict()  # listed twice, stored once
    assert count_parameters(model) == sum(p.numel() for p in set(model.parameters()))


def test_tying_survives_load_state_dict_copies_and_conversions(pretraining_model):
    model, other = pretraining_model(seed=0), pretraining_model(seed=1)
    model.load_state_dict(other.state_dict())
    assert tied(model)
    assert torch.equal(model.mlm.decoder.weight, other.bert.embeddings.token_embeddings.weight)
    assert tied(copy.deepcopy(model))
    model.to(torch.float64)
    assert tied(model) and model.mlm.decoder.weight.dtype == torch.float64
    # Moving to or from the meta device makes new Parameter objects; the model re-ties them.
    model.to("meta")
    assert tied(model) and model.mlm.decoder.weight.is_meta
    model.to_empty(device="cpu")
    assert tied(model) and not model.mlm.decoder.weight.is_meta
    with torch.device("meta"):
        model = pretraining_model()
    assert tied(model.to_empty(device="cpu"))
    if torch.cuda.is_available():
        assert tied(model.to("cuda"))


def test_tied_weight_gets_gradients_from_both_uses(pretraining_model):
    """The tied matrix's gradient is the sum of the embedding's and the decoder's."""
    model = pretraining_model(dropout=0.0)
    ids, labels = random_ids(), random_ids(seed=1)

    def loss_of(m: BertForPreTraining) -> torch.Tensor:
        out = m(ids, attention_mask=MASK)
        return nn.functional.cross_entropy(out.mlm_logits.flatten(0, 1), labels.flatten())

    loss_of(model).backward()
    both = model.bert.embeddings.token_embeddings.weight.grad

    untied = copy.deepcopy(model)
    untied.zero_grad()
    untied.mlm.decoder.weight = nn.Parameter(untied.mlm.decoder.weight.detach().clone())
    loss_of(untied).backward()
    from_embedding = untied.bert.embeddings.token_embeddings.weight.grad
    from_decoder = untied.mlm.decoder.weight.grad
    assert from_embedding.abs().sum() > 0 and from_decoder.abs().sum() > 0
    torch.testing.assert_close(both, from_embedding + from_decoder)


def test_pretraining_model_learns(pretraining_model):
    """A few steps of MLM + NSP on a fixed batch lower the loss."""
    model = pretraining_model().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids, mlm_labels = random_ids(), random_ids(seed=1)
    nsp_labels = torch.tensor([0, 1, 0])
    masked = torch.rand(MASK.shape, generator=torch.Generator().manual_seed(2)) < 0.5
    losses = []
    for _ in range(20):
        out = model(ids, attention_mask=MASK, masked_positions=masked)
        loss = nn.functional.cross_entropy(out.mlm_logits, mlm_labels[masked])
        loss = loss + nn.functional.cross_entropy(out.nsp_logits, nsp_labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert tied(model)
    assert losses[-1] < 0.5 * losses[0], losses


# --- sequence and token classification ----------------------------------------


def test_sequence_classification_shapes_and_pairs(bert_config):
    torch.manual_seed(0)
    model = BertForSequenceClassification(bert_config, num_labels=3).eval()
    ids = random_ids()
    logits = model(ids, attention_mask=MASK)
    assert logits.shape == (3, 3)
    segments = (torch.arange(8) >= 4).long().expand(3, 8)  # sentence A, then sentence B
    assert not torch.allclose(model(ids, segments, MASK), logits)


def test_sequence_classification_reads_pooled_or_first_token(bert_config):
    torch.manual_seed(0)
    with_pooler = BertForSequenceClassification(bert_config, num_labels=2).eval()
    out = with_pooler.bert(random_ids())
    torch.testing.assert_close(with_pooler(random_ids()), with_pooler.classifier(out.pooled))

    without = BertForSequenceClassification(
        dataclasses.replace(bert_config, pooler=False), num_labels=2
    ).eval()
    hidden = without.bert(random_ids()).hidden
    torch.testing.assert_close(without(random_ids()), without.classifier(hidden[:, 0]))


def test_token_classification_shapes_and_padding(bert_config):
    torch.manual_seed(0)
    model = BertForTokenClassification(bert_config, num_labels=5).eval()
    ids = random_ids()
    logits = model(ids, attention_mask=MASK)
    assert logits.shape == (3, 8, 5)
    scrambled = torch.where(MASK.bool(), ids, (ids + 7) % 99 + 1)
    real = MASK.bool()
    torch.testing.assert_close(model(scrambled, attention_mask=MASK)[real], logits[real])


@pytest.mark.parametrize("cls", [BertForSequenceClassification, BertForTokenClassification])
def test_from_pretrained_body_copies_the_body(cls, pretraining_model):
    pretrained = pretraining_model()
    before = copy.deepcopy(pretrained.state_dict())
    model = cls.from_pretrained_body(pretrained.bert, num_labels=4)
    assert isinstance(model, cls) and model.num_labels == 4
    assert model.bert is not pretrained.bert
    body = {k: v for k, v in model.state_dict().items() if k.startswith("bert.")}
    assert body.keys() == {f"bert.{k}" for k in pretrained.bert.state_dict()}
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in body.items())

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out = model(random_ids(), attention_mask=MASK)
    out.sum().backward()
    optimizer.step()  # fine-tuning changes the copy only
    assert all(torch.equal(v, before[k]) for k, v in pretrained.state_dict().items())
    assert not torch.equal(
        model.bert.embeddings.LayerNorm.weight, pretrained.bert.embeddings.LayerNorm.weight
    )


def test_classifier_shares_a_given_body(bert_config):
    bert = BertModel(bert_config)
    assert BertForSequenceClassification(bert, num_labels=2).bert is bert


@pytest.mark.parametrize("num_labels", [0, -1, 2.0, True])
def test_num_labels_errors(num_labels, bert_config):
    with pytest.raises(ValueError, match="num_labels must be a positive int"):
        BertForSequenceClassification(bert_config, num_labels=num_labels)


def test_classifier_body_errors(pretraining_model):
    with pytest.raises(ValueError, match="a ModelConfig or a BertModel"):
        BertForTokenClassification(pretraining_model(), num_labels=2)  # the whole model
    with pytest.raises(ValueError, match="needs a BertModel"):
        BertForSequenceClassification.from_pretrained_body(pretraining_model(), num_labels=2)


# --- create_model and parameter counts ----------------------------------------


def test_create_model_heads():
    assert type(create_model("bert-tiny", vocab_size=50)) is BertModel
    model = create_model("bert-tiny", head="pretraining", vocab_size=50)
    assert isinstance(model, BertForPreTraining) and model.config.vocab_size == 50
    with pytest.raises(ValueError, match="unknown head 'classification'; allowed: pretraining"):
        create_model("bert-tiny", head="classification")
    with pytest.raises(ValueError, match="arch='decoder'"):
        create_model("gpt-tiny", head="pretraining")


def test_bert_base_pretraining_count_matches_transformers():
    from transformers import BertConfig
    from transformers import BertForPreTraining as HFBertForPreTraining

    with torch.device("meta"):
        ours = create_model("bert-base", head="pretraining")
        body = create_model("bert-base")
        theirs = HFBertForPreTraining(BertConfig())  # bert-base defaults, no download
    theirs_count = sum(p.numel() for p in theirs.parameters())  # each shared tensor once
    assert count_parameters(ours) == theirs_count == 110_106_428
    # On top of the body: MLM transform (dense + LayerNorm), decoder bias, NSP layer.
    d, vocab = 768, 30_522
    heads = (d * d + d) + 2 * d + vocab + (2 * d + 2)
    assert count_parameters(ours) - count_parameters(body) == heads


def test_pretraining_parameter_groups():
    with torch.device("meta"):
        model = create_model("bert-base", head="pretraining")
    groups = parameter_groups(model)
    assert sum(groups.values()) == count_parameters(model)
    d = 768
    assert groups["embeddings"] == (30522 + 512 + 2) * d  # the tied decoder counts here
    assert groups["layer norm"] == (1 + 2 * 12 + 1) * 2 * d  # plus the MLM transform's
    assert groups["pooler / head"] == (d * d + d) + (d * d + d) + 30522 + (2 * d + 2)

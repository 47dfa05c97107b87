"""course_utils.analysis.importance (head gates, importance, pruning) and .probing (layer states,
scalar-mix probes) on tiny models whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.analysis import importance as imp
from course_utils.analysis import probing
from course_utils.models import BertForSequenceClassification, BertModel


@pytest.fixture
def classifier(bert_config):
    torch.manual_seed(0)
    return BertForSequenceClassification(bert_config, num_labels=2).eval()


def test_removing_a_head_is_zeroing_its_slice_before_the_output_projection(classifier, bert_config):
    ids = torch.randint(5, bert_config.vocab_size, (2, 7))
    attention = classifier.bert.encoder.layers[1].self_attn
    head_dim = bert_config.d_model // bert_config.num_heads
    seen = {}

    def record(module, args):
        seen["input"] = args[0].clone()

    with imp.head_gates(classifier, removed=[(1, 2)]), torch.no_grad():
        handle = attention.out_proj.register_forward_pre_hook(record)  # runs after the gate's hook
        gated = classifier(ids)
        handle.remove()
    assert seen["input"][..., 2 * head_dim:3 * head_dim].abs().max() == 0  # head 3 of layer 2 is silent
    assert seen["input"][..., :2 * head_dim].abs().max() > 0
    with torch.no_grad():
        plain = classifier(ids)
    assert not torch.allclose(gated, plain)
    with imp.head_gates(classifier), torch.no_grad():  # all gates at 1: nothing changes
        torch.testing.assert_close(classifier(ids), plain)
    with torch.no_grad():  # the hooks are gone after the block
        torch.testing.assert_close(classifier(ids), plain)
    with pytest.raises(ValueError, match="no head"):
        with imp.head_gates(classifier, removed=[(5, 0)]):
            pass


def test_importance_is_the_mean_absolute_gate_gradient(classifier, bert_config):
    torch.manual_seed(1)
    examples = [(torch.randint(5, bert_config.vocab_size, (1, 6)), torch.tensor([i % 2])) for i in range(4)]

    def loss_fn(model, batch):
        ids, label = batch
        return torch.nn.functional.cross_entropy(model(ids), label)

    scores = imp.head_importance(classifier, examples, loss_fn, normalize=False)
    expected = torch.zeros(bert_config.num_layers, bert_config.num_heads)
    for batch in examples:
        with imp.head_gates(classifier) as gates:
            (gradient,) = torch.autograd.grad(loss_fn(classifier, batch), gates)
        expected += gradient.abs() / len(examples)
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-5)
    normalized = imp.head_importance(classifier, examples, loss_fn)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1.0, rtol=1e-5)
    assert all(p.requires_grad for p in classifier.parameters())  # given back as they were


def test_pruning_orders_and_curve():
    scores = np.array([[0.3, 0.1], [0.9, 0.5]])
    assert imp.pruning_order(scores) == [(0, 1), (0, 0), (1, 1), (1, 0)]
    assert imp.pruning_order(scores, "most important first") == [(1, 0), (1, 1), (0, 0), (0, 1)]
    random_order = imp.pruning_order(scores, "random", seed=3)
    assert sorted(random_order) == sorted(imp.pruning_order(scores)) and random_order == imp.pruning_order(
        scores, "random", seed=3)
    with pytest.raises(ValueError, match="unknown rule"):
        imp.pruning_order(scores, "alphabetical")


def test_pruning_curve_counts_the_gates_that_are_off(classifier):
    def open_gates(model):  # a stand-in accuracy: how many heads still speak, read from a forward pass
        seen = []
        hook = model.bert.encoder.layers[0].self_attn.out_proj.register_forward_pre_hook(
            lambda module, args: seen.append(args[0]))
        model(torch.randint(5, 50, (1, 4)))
        hook.remove()
        head_dim = seen[0].shape[-1] // 4
        return sum(float(seen[0][..., h * head_dim:(h + 1) * head_dim].abs().sum() > 0) for h in range(4))

    order = [(0, 0), (1, 0), (0, 3)]
    assert imp.pruning_curve(classifier, order, open_gates) == [4.0, 3.0, 3.0, 2.0]


def test_layer_states_are_the_embeddings_then_each_layer(bert_config):
    torch.manual_seed(0)
    bert = BertModel(bert_config).eval()
    ids = torch.randint(5, bert_config.vocab_size, (2, 6))
    states = probing.layer_states(bert, ids)
    assert states.shape == (bert_config.num_layers + 1, 2, 6, bert_config.d_model)
    with torch.no_grad():
        torch.testing.assert_close(states[-1], bert(ids).hidden)
        torch.testing.assert_close(states[0], bert.embeddings(ids))


def test_word_states_pick_the_words_first_piece_and_can_mask_it(tok):
    from course_utils.config import get_scale
    from course_utils.pretraining import tiny_bert_config

    torch.manual_seed(0)
    bert = BertModel(tiny_bert_config(tok, get_scale("smoke"))).eval()
    sentences = [("The", "cat", "sleeps", "."), ("A", "dog", "runs", "fast", ".")]
    states = probing.word_states(bert, tok, sentences, [1, 3])
    assert states.shape == (2, bert.config.num_layers + 1, bert.config.d_model)
    ids = torch.tensor([[tok.token_to_id["[CLS]"], *[i for w in sentences[0] for i in tok.encode(w)],
                         tok.token_to_id["[SEP]"]]])
    torch.testing.assert_close(states[0], probing.layer_states(bert, ids)[:, 0, 2])  # "cat" after [CLS] and "the"
    masked = probing.word_states(bert, tok, sentences, [1, 3], mask_word=True)
    mask_embedding = bert.embeddings.token_embeddings.weight[tok.token_to_id["[MASK]"]]
    assert not torch.allclose(masked[0, 0], states[0, 0])
    with pytest.raises(ValueError, match="outside"):
        probing.word_states(bert, tok, sentences, [1, 9])
    assert mask_embedding.shape == (bert.config.d_model,)


def test_a_probe_finds_the_layer_that_holds_the_property():
    torch.manual_seed(0)
    n, width = 600, 8
    labels = torch.randint(0, 2, (n,))
    states = torch.randn(n, 3, width)  # layers 0 and 1: noise; layer 2: the label in one direction
    states[:, 2, 0] += 3.0 * (2 * labels - 1)
    train, test = (states[:400], labels[:400]), (states[400:], labels[400:])
    probe = probing.train_probe(*train, num_labels=2, epochs=30)
    assert probing.probe_accuracy(probe, *test) > 0.95
    assert probe.layer_weights().argmax() == 2 and probing.center_of_gravity(probe.layer_weights()) > 1.5
    scores = probing.cumulative_scores(train, test, 2, epochs=30)
    assert scores[0] < 0.7 and scores[2] > 0.95
    assert probing.expected_layer(scores) > 1.5
    assert np.isnan(probing.expected_layer([0.8, 0.8, 0.79]))
    with pytest.raises(ValueError, match="as many labels"):
        probing.train_probe(states[:3], labels[:2], 2)

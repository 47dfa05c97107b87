"""GPTModel's key/value cache and the GPT-1 classifier on the last real token."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from course_utils.models import (
    GPTForSequenceClassification,
    GPTModel,
    KVCache,
    create_model,
    last_token_positions,
)

ATOL = 1e-5
VOCAB = 100


@pytest.fixture
def gpt(gpt_config, randomize):
    """``gpt(seed=0, **overrides)``: a GPTModel of ``gpt_config`` with random parameters
    (LayerNorms and biases included), in eval mode."""

    def make(seed: int = 0, **overrides) -> GPTModel:
        model = GPTModel(dataclasses.replace(gpt_config, **overrides))
        return randomize(model, seed).eval()

    return make


def random_ids(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


# --- the key/value cache ------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{}, {"num_kv_heads": 2}, {"num_kv_heads": 1}, {"norm_first": False},
     {"positions": "sinusoidal"}],  # fmt: skip
    ids=["MHA", "GQA", "MQA", "post-LN", "sinusoidal"],
)
def test_cache_gives_the_logits_of_the_whole_sequence(gpt, overrides):
    model = gpt(**overrides)
    ids = random_ids(3, 10)
    full = model(ids).logits  # (B, L, V)
    cache = KVCache()
    # A prompt of 4 tokens, then one token at a time, then a chunk of 3, then the rest.
    pieces = [ids[:, :4], ids[:, 4:5], ids[:, 5:6], ids[:, 6:9], ids[:, 9:]]
    start = 0
    for piece in pieces:
        out = model(piece, cache=cache)
        end = start + piece.shape[1]
        assert len(cache) == end
        assert out.logits.shape == (3, piece.shape[1], VOCAB)
        torch.testing.assert_close(out.logits, full[:, start:end], atol=ATOL, rtol=0)
        start = end
    assert len(cache.keys) == len(cache.values) == model.config.num_layers
    kv_heads = model.config.num_kv_heads or model.config.num_heads
    assert cache.keys[0].shape == (3, kv_heads, 10, model.config.head_dim)


def test_cache_with_left_padding_and_attention_weights(gpt):
    model = gpt()
    ids = random_ids(2, 7)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]])
    full = model(ids, attention_mask=mask, need_weights=True)
    cache = KVCache()
    first = model(ids[:, :5], attention_mask=mask[:, :5], cache=cache, need_weights=True)
    rest = model(ids[:, 5:], attention_mask=mask, cache=cache, need_weights=True)
    real = mask.bool()
    logits = torch.cat([first.logits, rest.logits], dim=1)
    torch.testing.assert_close(logits[real], full.logits[real], atol=ATOL, rtol=0)
    # The new positions' attention rows over all 7 keys are the full model's last rows.
    assert rest.attentions[0].shape == (2, model.config.num_heads, 2, 7)
    for got, expected in zip(rest.attentions, full.attentions):
        torch.testing.assert_close(got, expected[:, :, 5:], atol=ATOL, rtol=0)
        assert torch.all(got[0, :, :, :2] == 0)  # no weight on padding


def test_cache_errors(gpt):
    model = gpt(max_positions=8)
    cache = KVCache()
    model(random_ids(1, 6), cache=cache)
    with pytest.raises(ValueError, match="cache holds 6 positions.*max_positions=8"):
        model(random_ids(1, 3), cache=cache)
    with pytest.raises(ValueError, match=r"covers the cached and the new positions.*\(1, 7\)"):
        model(random_ids(1, 1), attention_mask=torch.ones(1, 1), cache=cache)
    with pytest.raises(ValueError, match=r"new keys of shape \(2, .*start a new cache"):
        model(random_ids(2, 1), cache=cache)  # a cache of 1 sequence, fed 2
    with pytest.raises(ValueError, match="layer index must be >= 0"):
        cache.layer(-1)


def test_kv_cache_is_importable_from_the_gpt_module():
    from course_utils.attention.kv_cache import KVCache as defined
    from course_utils.models.gpt import KVCache as reexported

    assert reexported is defined is KVCache


def test_hidden_states_are_the_logits_before_the_head(gpt):
    model = gpt()
    ids = random_ids(2, 5)
    out = model(ids)
    torch.testing.assert_close(model.hidden_states(ids).hidden, out.hidden)
    torch.testing.assert_close(model.lm_head(out.hidden), out.logits)


# --- the classifier on the last real token ----------------------------------


def test_last_token_positions():
    ids = torch.zeros(4, 5, dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [1, 0, 0, 0, 0]])
    assert last_token_positions(ids, mask).tolist() == [4, 1, 4, 0]
    assert last_token_positions(ids, mask.bool()).tolist() == [4, 1, 4, 0]
    assert last_token_positions(ids).tolist() == [4, 4, 4, 4]
    with pytest.raises(ValueError, match=r"at least one real token.*rows \[1\]"):
        last_token_positions(ids[:2], torch.tensor([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="shape of input_ids"):
        last_token_positions(ids, mask[:, :4])
    with pytest.raises(ValueError, match=r"\(batch, length\)"):
        last_token_positions(ids[0])


def test_classifier_reads_the_last_real_token(gpt):
    body = gpt()
    model = GPTForSequenceClassification(body, num_labels=3).eval()
    assert model.gpt is body  # a body passed in is used as it is
    ids = random_ids(3, 6)
    right = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    out = model(ids, attention_mask=right)
    assert out.logits.shape == (3, 3) and out.lm_logits is None
    # y = A h_T + b with T the last real position, here 5, 3 and 1.
    hidden = body(ids, attention_mask=right).hidden
    h_last = hidden[torch.arange(3), torch.tensor([5, 3, 1])]
    torch.testing.assert_close(out.logits, model.classifier(h_last), atol=ATOL, rtol=0)
    # Each sequence alone, unpadded, gets the same logits.
    for row, length in enumerate((6, 4, 2)):
        alone = model(ids[row : row + 1, :length]).logits
        torch.testing.assert_close(alone, out.logits[row : row + 1], atol=ATOL, rtol=0)
    # Changing the padding tokens changes nothing.
    scrambled = torch.where(right.bool(), ids, (ids + 1) % VOCAB)
    torch.testing.assert_close(model(scrambled, right).logits, out.logits, atol=ATOL, rtol=0)


def test_classifier_gives_the_lm_logits_for_the_auxiliary_loss(gpt):
    model = GPTForSequenceClassification(gpt(), num_labels=2).eval()
    ids = random_ids(2, 5)
    out = model(ids, need_lm_logits=True)
    torch.testing.assert_close(out.lm_logits, model.gpt(ids).logits)
    # L3 = L2 + lambda L1 trains body, LM head (tied) and classifier together.
    l2 = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1]))
    next_ids = ids[:, 1:].flatten()
    l1 = torch.nn.functional.cross_entropy(out.lm_logits[:, :-1].flatten(0, 1), next_ids)
    (l2 + 0.5 * l1).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_classifier_from_pretrained_body_copies_it(gpt):
    body = gpt()
    model = GPTForSequenceClassification.from_pretrained_body(body, num_labels=2)
    assert model.gpt is not body
    assert model.gpt.lm_head.weight is model.gpt.token_embeddings.weight  # still tied
    for key, value in body.state_dict().items():
        assert torch.equal(model.gpt.state_dict()[key], value), key
    with torch.no_grad():
        model.gpt.token_embeddings.weight.zero_()
    assert body.token_embeddings.weight.abs().sum() > 0  # the pretrained model is untouched


def test_create_model_classification_head():
    model = create_model("gpt-tiny", head="classification", num_labels=4, vocab_size=VOCAB)
    assert isinstance(model, GPTForSequenceClassification)
    assert model.num_labels == 4 and model.config.vocab_size == VOCAB
    assert create_model("gpt-tiny", head="classification").num_labels == 2
    with pytest.raises(ValueError, match="unknown head 'pretraining'; allowed: classification"):
        create_model("gpt-tiny", head="pretraining")
    with pytest.raises(ValueError, match="unknown head 'classification'; allowed: None"):
        create_model("encoder-decoder-tiny", head="classification")


def test_classifier_errors(gpt_config, gpt):
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="num_labels must be a positive int"):
            GPTForSequenceClassification(gpt_config, num_labels=bad)
    with pytest.raises(ValueError, match="expected a ModelConfig or a GPTModel; got str"):
        GPTForSequenceClassification("gpt-tiny", num_labels=2)
    with pytest.raises(ValueError, match="needs a GPTModel; got GPTForSequenceClassification"):
        GPTForSequenceClassification.from_pretrained_body(
            GPTForSequenceClassification(gpt(), 2), num_labels=2
        )

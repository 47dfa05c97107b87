"""Our GPTModel against Hugging Face's GPT2LMHeadModel: the conversion both ways, equal
logits, gradients and greedy generations, on a tiny config and on gpt2-small (random
weights, nothing downloaded); the config mapping and its errors."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from course_utils.decoding import generate
from course_utils.interop import (
    from_transformers,
    gpt2_config_from_transformers,
    gpt2_config_to_transformers,
    gpt_state_dict_to_gpt2,
    to_transformers,
)
from course_utils.models import (
    GPTForSequenceClassification,
    GPTModel,
    KVCache,
    count_parameters,
    create_model,
)

transformers = pytest.importorskip("transformers")

ATOL = 1e-5
# 1 = real token, 0 = padding; the second and third sequences are right-padded.
MASK = torch.tensor([[1] * 9, [1] * 6 + [0] * 3, [1] * 2 + [0] * 7])
REAL = MASK.bool()


@pytest.fixture
def ours_random(gpt_config, randomize):
    """``ours_random(seed=0)``: our GPTModel of ``gpt_config`` with random parameters
    (LayerNorms and biases included), in eval mode."""
    return lambda seed=0: randomize(GPTModel(gpt_config), seed).eval()


def random_ids(shape: tuple[int, ...], vocab_size: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def assert_same_logits(ours: GPTModel, theirs: torch.nn.Module) -> None:
    ids = random_ids(MASK.shape, ours.config.vocab_size)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, atol=ATOL, rtol=1e-5)
        got = ours(ids, attention_mask=MASK).logits
        expected = theirs(ids, attention_mask=MASK).logits
    # Padded positions' outputs are meaningless; compare the real ones.
    torch.testing.assert_close(got[REAL], expected[REAL], atol=ATOL, rtol=1e-5)


def assert_same_greedy_generations(ours: GPTModel, theirs: torch.nn.Module, new: int) -> None:
    ids = random_ids((2, 5), ours.config.vocab_size, seed=2)
    expected = theirs.generate(ids, max_new_tokens=new, do_sample=False)
    assert expected.shape == (2, 5 + new)
    assert torch.equal(generate(ours, ids, new), expected)
    assert torch.equal(generate(ours, ids, new, use_cache=False), expected)


def test_ours_to_transformers_gives_the_same_logits_and_generations(ours_random):
    ours = ours_random()
    theirs = to_transformers(ours)
    assert isinstance(theirs, transformers.GPT2LMHeadModel)
    assert not theirs.training  # the same mode as ours
    assert theirs.lm_head.weight is theirs.transformer.wte.weight  # tied there too
    assert_same_logits(ours, theirs)
    assert_same_greedy_generations(ours, theirs, new=20)


def test_transformers_to_ours_gives_the_same_logits_and_generations(gpt_config, randomize):
    torch.manual_seed(0)
    theirs = transformers.GPT2LMHeadModel(gpt2_config_to_transformers(gpt_config))
    randomize(theirs, seed=3).eval()
    ours = from_transformers(theirs)
    assert isinstance(ours, GPTModel) and ours.config == gpt_config
    assert not ours.training
    assert ours.lm_head.weight is ours.token_embeddings.weight
    assert_same_logits(ours, theirs)
    assert_same_greedy_generations(ours, theirs, new=20)


def test_round_trip_gives_identical_state_dicts(ours_random):
    ours = ours_random()
    back = from_transformers(to_transformers(ours))
    assert back.config == ours.config
    expected = ours.state_dict()
    assert back.state_dict().keys() == expected.keys()
    for key, value in back.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_state_dict_layout(ours_random, gpt_config):
    """c_attn packs q, k, v; Conv1D weights are (in, out)."""
    ours = ours_random()
    state = gpt_state_dict_to_gpt2(ours.state_dict(), gpt_config.num_layers)
    d, layer = gpt_config.d_model, ours.decoder.layers[0]
    assert state["transformer.h.0.attn.c_attn.weight"].shape == (d, 3 * d)
    assert torch.equal(state["transformer.h.0.attn.c_attn.weight"][:, d : 2 * d],
                       layer.self_attn.k_proj.weight.T)  # fmt: skip
    assert torch.equal(state["transformer.h.0.mlp.c_fc.weight"], layer.ff.linear1.weight.T)
    assert state.keys() == transformers.GPT2LMHeadModel(
        gpt2_config_to_transformers(gpt_config)
    ).state_dict().keys()


def test_cached_logits_match_transformers_cache(ours_random):
    ours = ours_random()
    theirs = to_transformers(ours)
    ids = random_ids((2, 7), 100)
    # transformers 5 renamed the argument past_key_values to cache.
    forward_args = inspect.signature(type(theirs).forward).parameters
    cache_arg = "cache" if "cache" in forward_args else "past_key_values"
    with torch.no_grad():
        prompt = theirs(ids[:, :5], use_cache=True)
        expected = theirs(ids[:, 5:], **{cache_arg: prompt.past_key_values}).logits
        cache = KVCache()
        ours(ids[:, :5], cache=cache)
        got = ours(ids[:, 5:], cache=cache).logits
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=1e-5)


def test_gradients_match_transformers(ours_random, gpt_config):
    """One next-token loss, backward: every parameter gets the same gradient in both."""
    ours = ours_random()
    theirs = to_transformers(ours)
    ids = random_ids(MASK.shape, gpt_config.vocab_size)
    targets = ids[:, 1:].masked_fill(~REAL[:, 1:], -100)

    def loss_of(logits: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten())

    loss_of(ours(ids, attention_mask=MASK).logits).backward()
    loss_of(theirs(ids, attention_mask=MASK).logits).backward()
    # Both models list each tied tensor once; remove_duplicate=False lists it under every name.
    our_grads = {name: p.grad for name, p in ours.named_parameters(remove_duplicate=False)}
    their_grads = {name: p.grad for name, p in theirs.named_parameters(remove_duplicate=False)}
    for name, grad in gpt_state_dict_to_gpt2(our_grads, gpt_config.num_layers).items():
        torch.testing.assert_close(grad, their_grads[name], atol=1e-5, rtol=1e-4, msg=name)


def test_conversion_keeps_dtype_and_training_mode(ours_random):
    ours = ours_random().double().train()
    theirs = to_transformers(ours)
    assert theirs.training and theirs.transformer.wte.weight.dtype == torch.float64
    back = from_transformers(theirs)
    assert back.training and back.token_embeddings.weight.dtype == torch.float64


# --- gpt2-small, with random weights ------------------------------------------


@pytest.mark.slow
def test_gpt2_small_with_random_weights_matches_transformers():
    """The full-size GPT-2 small (124,439,808 parameters, tied): same parameter count, same
    logits and same greedy tokens as Hugging Face's. About 15 s on 2 cores, most of it
    building and initializing the two models."""
    torch.manual_seed(0)
    ours = create_model("gpt2-small").eval()
    theirs = to_transformers(ours)
    assert count_parameters(ours) == sum(p.numel() for p in theirs.parameters()) == 124_439_808
    ids = random_ids((2, 8), 50_257)
    with torch.no_grad():
        got, expected = ours(ids).logits, theirs(ids).logits
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=1e-5)
    new = theirs.generate(ids, max_new_tokens=6, do_sample=False)
    assert torch.equal(generate(ours, ids, 6), new)
    assert gpt2_config_from_transformers(theirs.config) == ours.config


# --- configs ------------------------------------------------------------------


def test_config_mapping(gpt_config):
    ours = dataclasses.replace(gpt_config, dropout=0.1, layer_norm_eps=1e-6)
    hf = gpt2_config_to_transformers(ours)
    assert (hf.vocab_size, hf.n_positions, hf.n_embd, hf.n_layer, hf.n_head, hf.n_inner) == (
        100, 64, 32, 2, 4, 64,
    )  # fmt: skip
    assert hf.activation_function == "gelu_new" and hf.layer_norm_epsilon == 1e-6
    assert hf.resid_pdrop == hf.embd_pdrop == hf.attn_pdrop == 0.1
    assert hf.bos_token_id is None and hf.eos_token_id is None
    assert gpt2_config_from_transformers(hf) == ours
    hf.activation_function = "gelu_pytorch_tanh"  # the same function under another name
    assert gpt2_config_from_transformers(hf).activation == "gelu_tanh"
    hf.n_inner = None  # GPT-2's default: 4 * n_embd
    assert gpt2_config_from_transformers(hf).d_ff == 128


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"norm_first": False}, "norm_first=False"),
        ({"final_norm": False}, "final_norm=False"),
        ({"tie_embeddings": False}, "tie_embeddings=False"),
        ({"num_kv_heads": 2}, "num_kv_heads=2"),
        ({"positions": "sinusoidal"}, "positions='sinusoidal'"),
        ({"scale_embeddings": True}, "scale_embeddings=True"),
    ],
)
def test_configs_hugging_face_cannot_express(overrides, message, gpt_config):
    with pytest.raises(ValueError, match=f"Hugging Face GPT-2 cannot express .*{message}"):
        gpt2_config_to_transformers(dataclasses.replace(gpt_config, **overrides))


def test_grouped_query_config_with_all_heads_is_fine(gpt_config):
    assert gpt2_config_to_transformers(dataclasses.replace(gpt_config, num_kv_heads=4)).n_head == 4


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"activation_function": "silu"}, "activation_function='silu'"),
        ({"attn_pdrop": 0.2}, "one dropout"),
        ({"scale_attn_weights": False}, "scale_attn_weights=False"),
        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx=True"),
        ({"add_cross_attention": True}, "add_cross_attention=True"),
        ({"tie_word_embeddings": False}, "tie_word_embeddings=False"),
    ],
)
def test_configs_we_cannot_express(changes, message, gpt_config):
    hf = gpt2_config_to_transformers(gpt_config)
    for key, value in changes.items():
        setattr(hf, key, value)
    with pytest.raises(ValueError, match=f"our GPT cannot express .*{message}"):
        gpt2_config_from_transformers(hf)


def test_only_language_models_are_converted(ours_random):
    classifier = GPTForSequenceClassification(ours_random(), num_labels=2)
    with pytest.raises(ValueError, match="got GPTForSequenceClassification, which is neither"):
        to_transformers(classifier)
    theirs = to_transformers(ours_random())
    with pytest.raises(ValueError, match="BertForPreTraining or GPT2LMHeadModel; got GPT2Model"):
        from_transformers(theirs.transformer)

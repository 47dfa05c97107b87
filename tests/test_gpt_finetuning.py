"""GPT-1 style fine-tuning (notebook 06): the input transformations' token layout, the
multiple-choice softmax over answers, the L3 loss, a smoke run and the cached pretrained GPT."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from course_utils.config import get_scale
from course_utils.data.world import load_task
from course_utils.gpt_finetuning import (
    GPTTaskData,
    classification_ids,
    encode_gpt_task,
    entailment_ids,
    gpt1_loss,
    gpt_classifier,
    multiple_choice_ids,
    pad_sequences,
    run_gpt_finetuning,
    similarity_ids,
    task_logits,
)
from course_utils.lm import (
    GPT_SPECIAL_TOKENS,
    gpt_tokenizer,
    next_token_loss,
    pretrained_gpt,
    pretrained_gpt_at,
    tiny_gpt_config,
)

SMOKE = get_scale("smoke")


@pytest.fixture(scope="module")
def tok():
    """The GPT's tokenizer (the world's vocabulary plus its special tokens); it replaces
    conftest's BERT tokenizer of the same name in this file."""
    return gpt_tokenizer()


def tiny_classifier(task, tok, seed=0):
    torch.manual_seed(seed)
    return gpt_classifier(task, tiny_gpt_config(len(tok.vocab), "smoke")).eval()


def test_the_special_tokens_follow_the_world_vocabulary(tok):
    from course_utils.data.world.vocabulary import world_tokenizer

    world = world_tokenizer()
    assert tok.vocab[: len(world.vocab)] == world.vocab  # the world's ids are unchanged
    assert tok.vocab[len(world.vocab):] == list(GPT_SPECIAL_TOKENS)


def test_the_layouts_of_gpt1_figure_1(tok):
    start, delim, extract = (tok.token_to_id[t] for t in ("<|start|>", "<|delim|>", "<|extract|>"))
    a, b = tok.encode("ann is happy ."), tok.encode("she smiles .")
    assert classification_ids(a, tok) == [start, *a, extract]
    assert entailment_ids(a, b, tok) == [start, *a, delim, *b, extract]
    assert similarity_ids(a, b, tok) == [[start, *a, delim, *b, extract], [start, *b, delim, *a, extract]]
    assert multiple_choice_ids(a, [b, a], tok) == [[start, *a, delim, *b, extract], [start, *a, delim, *a, extract]]
    # cut to max_length, the last token is still <|extract|> and the second part is whole
    cut = entailment_ids(a, b, tok, max_length=len(b) + 5)
    assert len(cut) == len(b) + 5 and cut[-1] == extract and cut[-len(b) - 1:-1] == b
    assert classification_ids(a, tok, max_length=4) == [start, *a[:2], extract]


def test_encoded_tasks_are_right_padded_with_masks(tok):
    frame = pd.DataFrame({"premise": ["Ann is wet."], "question": ["What was the cause?"],
                          "choice0": ["She walked in the rain."], "choice1": ["She ate."],
                          "label": [1], "unseen": [False]})
    data = encode_gpt_task("multiple_choice", frame, tok, max_length=48)
    assert data.input_ids.shape[:2] == (1, 2) and data.labels.tolist() == [1]
    lengths = data.attention_mask.sum(-1)[0].tolist()
    assert lengths[0] > lengths[1] and data.attention_mask[0, 1, lengths[1]:].sum() == 0  # padded right
    second = data.input_ids[0, 1, : lengths[1]].tolist()
    assert tok.decode(second) == "<|start|> ann is wet . what was the cause ? <|delim|> she ate . <|extract|>"
    sentiment = encode_gpt_task("sentiment", load_task("sentiment", "smoke")["train"], tok, 48)
    assert sentiment.input_ids.dim() == 2 and set(sentiment.labels.tolist()) == {0, 1}
    with pytest.raises(ValueError, match="unknown task"):
        encode_gpt_task("tagging", frame, tok, 48)


def test_multiple_choice_scores_each_answer_and_softmaxes_over_them(tok):
    model = tiny_classifier("multiple_choice", tok)
    context = tok.encode("ann is wet . what was the cause ?")
    answers = [tok.encode(t) for t in ("she walked in the rain .", "she ate .", "she slept .")]
    ids, mask = pad_sequences([multiple_choice_ids(context, answers, tok)], tok.token_to_id["<|endoftext|>"])
    with torch.no_grad():
        logits = task_logits("multiple_choice", model, ids, mask).logits  # (1, 3)
        alone = [model(torch.tensor([multiple_choice_ids(context, [a], tok)[0]])).logits[0, 0] for a in answers]
    assert logits.shape == (1, 3)
    torch.testing.assert_close(logits[0], torch.stack(alone), atol=1e-5, rtol=1e-5)  # padding changes nothing
    batch = GPTTaskData(ids, mask, torch.tensor([2]))
    with torch.no_grad():
        loss = gpt1_loss("multiple_choice", model, batch, lm_weight=0.0)
    torch.testing.assert_close(loss, -logits.log_softmax(-1)[0, 2])


def test_similarity_adds_the_two_orderings(tok):
    model = tiny_classifier("sentiment", tok)
    a, b = tok.encode("ann is happy ."), tok.encode("bob is sad .")
    ids, mask = pad_sequences([similarity_ids(a, b, tok)], 0)
    with torch.no_grad():
        logits = task_logits("similarity", model, ids, mask).logits
        h = [model.gpt.hidden_states(torch.tensor([s])).hidden[0, -1] for s in similarity_ids(a, b, tok)]
    torch.testing.assert_close(logits[0], model.classifier(h[0] + h[1]), atol=1e-5, rtol=1e-5)
    swapped, swapped_mask = pad_sequences([similarity_ids(b, a, tok)], 0)
    with torch.no_grad():
        torch.testing.assert_close(task_logits("similarity", model, swapped, swapped_mask).logits, logits,
                                   atol=1e-5, rtol=1e-5)  # the pair has no order


def test_l3_is_l2_plus_lambda_l1(tok):
    model = tiny_classifier("sentiment", tok)
    data = encode_gpt_task("sentiment", load_task("sentiment", "smoke")["train"].head(8), tok, 48)
    with torch.no_grad():
        out = model(data.input_ids, data.attention_mask, need_lm_logits=True)
        l2 = F.cross_entropy(out.logits, data.labels)
        l1 = next_token_loss(out.lm_logits, data.input_ids, data.attention_mask)
        assert torch.equal(gpt1_loss("sentiment", model, data, lm_weight=0.0), l2)
        torch.testing.assert_close(gpt1_loss("sentiment", model, data, lm_weight=0.5), l2 + 0.5 * l1)
    with pytest.raises(ValueError, match="lm_weight"):
        gpt1_loss("sentiment", model, data, lm_weight=-1.0)


def test_a_smoke_run_gives_accuracies_and_repeats_from_its_seed(tok):
    frames = load_task("sentiment", "smoke")
    runs = [run_gpt_finetuning("sentiment", frames, tok, None, SMOKE.gpt, seed=0, show_progress=False)
            for _ in range(2)]
    for key in ("seen", "unseen", "all", "validation"):
        assert 0.0 <= runs[0][key] <= 1.0
        assert runs[0][key] == runs[1][key], key
    assert runs[0]["predicted negative"] + runs[0]["predicted positive"] == len(frames["test"])
    small = run_gpt_finetuning("sentiment", frames, tok, None, SMOKE.gpt, seed=1, lm_weight=0.0,
                               train_size=20, show_progress=False)
    assert 0.0 <= small["all"] <= 1.0
    with pytest.raises(ValueError, match="train_size"):
        run_gpt_finetuning("sentiment", frames, tok, None, SMOKE.gpt, train_size=10_000, show_progress=False)


def test_pretrained_gpt_trains_once_then_loads(tmp_path, monkeypatch, capsys, tok):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    model, history = pretrained_gpt(scale="smoke")
    sizes = SMOKE.gpt
    assert len(history["train_loss"]) == sizes.pretrain_steps and "checkpoints" not in history
    assert history["checkpoint_steps"] == sorted(sizes.checkpoint_steps)
    assert history["eval_loss"][-1] < history["eval_loss"][0], "the validation loss should fall"
    assert model.config.vocab_size == len(tok.vocab)
    again, history_again = pretrained_gpt(scale="smoke")
    assert "loaded" in capsys.readouterr().out and history_again == history
    for (name, p), q in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(p, q), name
    last = pretrained_gpt_at(sizes.pretrain_steps, "smoke")  # the snapshot after the last step
    first = pretrained_gpt_at(0, "smoke")
    assert all(torch.equal(p, q) for p, q in zip(last.state_dict().values(), model.state_dict().values()))
    assert not torch.equal(first.lm_head.weight, model.lm_head.weight)
    with pytest.raises(ValueError, match="not a saved checkpoint"):
        pretrained_gpt_at(7, "smoke")
    frames = load_task("sentiment", "smoke")
    result = run_gpt_finetuning("sentiment", frames, tok, model, sizes, show_progress=False)
    assert 0.0 <= result["all"] <= 1.0

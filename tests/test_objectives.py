"""The miniature of T5's objective table (course_utils.objectives, notebook 07): the
language-model pairs, one sequence for a decoder-only model and its loss against a hand
computation, grouped greedy decoding against one row at a time, the four arms' shapes, a
short pretraining run through the cache, the table, and the argument checks."""

from __future__ import annotations

import random
from collections import Counter

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from course_utils import objectives
from course_utils.config import get_scale
from course_utils.decoding import generate
from course_utils.models import GPTModel, ModelConfig
from course_utils.noising import IGNORE_INDEX
from course_utils.seq2seq import noised_pair, seq2seq_batch, seq2seq_tokenizer, special_ids

SMOKE = get_scale("smoke")


@pytest.fixture(scope="module")
def s2s_tok():
    return seq2seq_tokenizer(SMOKE.seq2seq.num_sentinels)


def test_prefix_lm_pairs_cut_the_text_uniformly(s2s_tok):
    ids = special_ids(s2s_tok)
    chunk = list(range(100, 110))  # 10 tokens: cuts 1 .. 9
    cuts = Counter()
    for seed in range(1800):
        source, target = noised_pair(chunk, "prefix_lm", ids, random.Random(seed))
        assert source[-1] == ids.eos and target[-1] == ids.eos
        assert source[:-1] + target[:-1] == chunk  # nothing lost, nothing added
        cuts[len(source) - 1] += 1
    assert sorted(cuts) == list(range(1, 10))  # never an empty input or target
    assert all(150 <= count <= 250 for count in cuts.values()), cuts  # 200 expected each
    assert noised_pair([7], "prefix_lm", ids, random.Random(0)) == ([ids.eos], [7, ids.eos])


def test_decoder_only_batch_joins_source_and_target():
    pairs = seq2seq_batch([([5, 6, 1], [7, 1]), ([5, 1], [7, 8, 9, 1])], pad_id=0)
    joined = objectives.decoder_only_batch(pairs, pad_id=0)
    assert joined.input_ids.tolist() == [[5, 6, 1, 7, 1, 0], [5, 1, 7, 8, 9, 1]]
    assert joined.attention_mask.tolist() == [[1, 1, 1, 1, 1, 0], [1] * 6]
    assert joined.labels.tolist() == [[-100, -100, -100, 7, 1, -100], [-100, -100, 7, 8, 9, 1]]
    # the same target tokens are scored as in the encoder-decoder's labels
    assert (joined.labels != IGNORE_INDEX).sum() == (pairs.labels != IGNORE_INDEX).sum()
    part = joined.subset(torch.tensor([0]))
    assert part.input_ids.shape == (1, 5)  # cut to the longest row kept
    with pytest.raises(ValueError, match="Seq2SeqBatch"):
        objectives.decoder_only_batch(joined, pad_id=0)


def test_decoder_only_loss_scores_each_target_token_from_the_position_before(gpt_config):
    torch.manual_seed(0)
    model = GPTModel(gpt_config).eval()
    pairs = seq2seq_batch([([5, 6, 1], [7, 1]), ([5, 1], [7, 8, 9, 1])], pad_id=0)
    joined = objectives.decoder_only_batch(pairs, pad_id=0)
    loss = objectives.decoder_only_loss(model, joined)
    terms = []
    for row, (ids, mask) in enumerate(zip(joined.input_ids, joined.attention_mask)):
        real = ids[mask.bool()]
        logits = model(real[None]).logits[0]  # (L, V), this row alone, no padding
        source_length = int((joined.labels[row] == IGNORE_INDEX).sum() - (mask == 0).sum())
        for t in range(source_length, len(real)):  # every target token, predicted from position t - 1
            terms.append(F.cross_entropy(logits[t - 1][None], real[t][None]))
    torch.testing.assert_close(loss, torch.stack(terms).mean(), atol=1e-5, rtol=1e-5)


def test_grouped_greedy_decoding_matches_one_row_at_a_time(gpt_config):
    torch.manual_seed(1)
    model = GPTModel(gpt_config).eval()
    pairs = seq2seq_batch([([5, 6, 2], [7, 2]), ([5, 2], [7, 8, 2]), ([9, 9, 2], [3, 2]), ([4, 2], [2])], pad_id=0)
    joined = objectives.decoder_only_batch(pairs, pad_id=0)
    written = objectives.decoder_only_generate_ids(model, joined, eos_id=2, max_new_tokens=6)
    for source, got in zip(([5, 6, 2], [5, 2], [9, 9, 2], [4, 2]), written):
        alone = generate(model, torch.tensor([source]), 6, eos_id=2)[0, len(source):].tolist()
        expected = alone[: alone.index(2) + 1] if 2 in alone else alone
        assert got == expected
    match = objectives.decoder_only_exact_match(model, joined, eos_id=2, max_new_tokens=6)
    assert match.dtype == torch.bool and match.shape == (4,)


def test_the_arms_share_everything_but_the_architecture():
    sizes = get_scale("laptop").seq2seq
    encoder_decoder = objectives.arm_config("encoder-decoder", 500, sizes)
    decoder = objectives.arm_config("decoder-only", 500, sizes)
    assert decoder.num_layers == 2 * encoder_decoder.num_layers == 2 * sizes.table_num_layers
    assert decoder.max_positions == 2 * encoder_decoder.max_positions  # the input and the target in one sequence
    for field in ("d_model", "num_heads", "d_ff", "norm_first", "activation", "positions", "tie_embeddings",
                  "final_norm", "norm", "bias"):
        assert getattr(decoder, field) == getattr(encoder_decoder, field), field
    counts = {arch: sum(p.numel() for p in objectives.build_arm(arch, 500, sizes).parameters())
              for arch in objectives.ARCHITECTURES}
    # the same layers; the encoder-decoder has cross-attention and the decoder-only model more positions
    assert abs(counts["encoder-decoder"] - counts["decoder-only"]) / counts["decoder-only"] < 0.15
    assert isinstance(objectives.build_arm("decoder-only", 500, sizes), GPTModel)


def test_pretrained_arms_train_once_then_load(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    for architecture in objectives.ARCHITECTURES:
        model, meta = objectives.pretrained_arm(architecture, "language model", SMOKE, show_progress=False)
        assert len(meta["train_loss"]) == SMOKE.seq2seq.table_pretrain_steps
        assert meta["train_loss"][-1] < meta["train_loss"][0]  # it learns something
        again, _ = objectives.pretrained_arm(architecture, "language model", SMOKE, show_progress=False)
        for a, b in zip(model.state_dict().values(), again.state_dict().values()):
            assert torch.equal(a, b)
    assert len(list(tmp_path.glob("checkpoints/objective-*.pt"))) == 2


def test_objective_table_averages_tasks_per_seed_first():
    runs = pd.DataFrame({"architecture": ["encoder-decoder"] * 4, "objective": ["denoising"] * 4,
                         "seed": [0, 0, 1, 1], "task": ["nli", "qa", "nli", "qa"],
                         "exact_match": [1.0, 0.0, 0.5, 0.5], "parameters": [7] * 4})
    table = objectives.objective_table(runs)
    row = table.loc[("encoder-decoder", "denoising")]
    assert row["nli"] == 0.75 and row["qa"] == 0.25 and row["average"] == 0.5
    assert row["± sd"] == 0.0  # both seeds average 0.5
    with pytest.raises(KeyError, match="exact_match"):
        objectives.objective_table(runs.drop(columns="exact_match"))


def test_bad_arguments_say_what_is_allowed():
    with pytest.raises(ValueError, match="allowed: encoder-decoder, decoder-only"):
        objectives.arm_config("encoder", 10, SMOKE.seq2seq)
    with pytest.raises(ValueError, match="allowed: denoising, language model"):
        objectives.pretrained_arm("decoder-only", "span_corruption", SMOKE)
    with pytest.raises(ValueError, match="prefix_lm"):
        noised_pair([1, 2], "lm", special_ids(seq2seq_tokenizer(4)), random.Random(0))


def test_decoder_only_config_is_a_plain_decoder():
    config = objectives.arm_config("decoder-only", 50, SMOKE.seq2seq)
    assert isinstance(config, ModelConfig) and config.arch == "decoder"

"""The shared training loop, greedy decoding and the reverse task."""

import pytest
import torch

from course_utils.data import reverse_task_batch
from course_utils.data.toy_tasks import BOS, EOS, FIRST_DIGIT, PAD
from course_utils.decoding import greedy_decode
from course_utils.models import create_model
from course_utils.training import train


def test_reverse_batches_are_consistent():
    batch = reverse_task_batch(16, 5, 2, 7, torch.Generator().manual_seed(0))
    for src, tgt_in, tgt_out in zip(batch.src, batch.tgt_in, batch.tgt_out):
        length = int((src >= FIRST_DIGIT).sum())
        assert 2 <= length <= 7 and src[length] == EOS and (src[length + 1:] == PAD).all()
        assert torch.equal(tgt_out[:length], src[:length].flip(0)) and tgt_out[length] == EOS
        assert tgt_in[0] == BOS and torch.equal(tgt_in[1 : length + 1], tgt_out[:length])
    assert torch.equal(batch.src_mask, batch.src != PAD)
    again = reverse_task_batch(16, 5, 2, 7, torch.Generator().manual_seed(0))
    assert torch.equal(again.src, batch.src)


@pytest.mark.parametrize("args", [(4, 5, 0, 3), (4, 5, 5, 3), (0, 5, 1, 3)])
def test_reverse_batch_rejects_bad_sizes(args):
    with pytest.raises(ValueError):
        reverse_task_batch(*args)


def test_training_lowers_the_loss_and_greedy_decoding_follows_the_model():
    torch.manual_seed(0)
    model = create_model("encoder-decoder-tiny", vocab_size=FIRST_DIGIT + 4, d_model=32,
                         num_layers=1, num_heads=2, d_ff=64)
    generator = torch.Generator().manual_seed(1)

    def loss_fn(model, batch):
        logits = model(batch.src, batch.tgt_in, src_mask=batch.src_mask, tgt_mask=batch.tgt_mask).logits
        return torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch.tgt_out, ignore_index=PAD)

    seen = []
    losses = train(model, lambda: reverse_task_batch(32, 4, 2, 4, generator), loss_fn, 60,
                   learning_rate=3e-3, callback=lambda step, m: seen.append(step))
    assert seen == list(range(1, 61))
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
    assert not model.training

    batch = reverse_task_batch(8, 4, 2, 4, torch.Generator().manual_seed(2))
    out = greedy_decode(model, batch.src, batch.src_mask, max_length=6, bos=BOS, eos=EOS)
    # The first generated token is the argmax of the model's first decoding step.
    memory = model.encode(batch.src, batch.src_mask)
    start = torch.full((8, 1), BOS)
    first = model.decode(start, memory, memory_mask=batch.src_mask)[:, -1].argmax(-1)
    assert torch.equal(out[:, 0], first)
    # After an EOS only EOS follows.
    for row in out.tolist():
        if EOS in row:
            assert all(token == EOS for token in row[row.index(EOS):])


def test_greedy_decode_keeps_a_forced_prefix():
    model = create_model("encoder-decoder-tiny", vocab_size=10, d_model=16, num_layers=1,
                         num_heads=2, d_ff=32)
    src = torch.tensor([[3, 4, 5, EOS]])
    prefix = torch.tensor([[BOS, 7, 8]])
    out = greedy_decode(model, src, src != PAD, max_length=3, bos=BOS, eos=EOS, prefix=prefix)
    assert out[0, :2].tolist() == [7, 8] and out.shape[1] <= 5
    with pytest.raises(ValueError, match="max_length"):
        greedy_decode(model, src, None, max_length=0, bos=BOS, eos=EOS)

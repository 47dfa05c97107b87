"""Small synthetic tasks that train in seconds, for the architecture notebooks."""

from __future__ import annotations

from typing import NamedTuple

import torch

PAD, BOS, EOS = 0, 1, 2  # special token ids; digits start at FIRST_DIGIT
FIRST_DIGIT = 3


class Seq2SeqBatch(NamedTuple):
    """A padded batch for an encoder-decoder, with teacher-forcing inputs and targets."""

    src: torch.Tensor  # (B, S) digits then EOS, padded with PAD
    tgt_in: torch.Tensor  # (B, T) BOS then the answer: what the decoder reads
    tgt_out: torch.Tensor  # (B, T) the answer then EOS: what it must predict
    src_mask: torch.Tensor  # (B, S) True at real tokens
    tgt_mask: torch.Tensor  # (B, T) True at real tokens


def reverse_task_batch(
    batch_size: int,
    num_digits: int,
    min_length: int,
    max_length: int,
    generator: torch.Generator | None = None,
) -> Seq2SeqBatch:
    """Taught in notebook 03, section 2.
    Random digit sequences and their reversals: ``3 7 5`` -> ``5 7 3``.

    Token ids: ``PAD`` 0, ``BOS`` 1, ``EOS`` 2, digits ``FIRST_DIGIT .. FIRST_DIGIT + num_digits - 1``.

    >>> batch = reverse_task_batch(2, 10, 3, 3, torch.Generator().manual_seed(0))
    >>> torch.equal(batch.tgt_out[:, :3], batch.src[:, :3].flip(1))
    True
    """
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length} and {max_length}")
    if batch_size < 1 or num_digits < 1:
        raise ValueError(f"batch_size and num_digits must be positive, got {batch_size}, {num_digits}")
    lengths = torch.randint(min_length, max_length + 1, (batch_size,), generator=generator)
    digits = torch.randint(FIRST_DIGIT, FIRST_DIGIT + num_digits, (batch_size, max_length),
                           generator=generator)
    src = torch.full((batch_size, max_length + 1), PAD)
    tgt_in = torch.full((batch_size, max_length + 1), PAD)
    tgt_out = torch.full((batch_size, max_length + 1), PAD)
    for row, length in enumerate(lengths.tolist()):
        sequence = digits[row, :length]
        src[row, :length], src[row, length] = sequence, EOS
        tgt_in[row, 0], tgt_in[row, 1 : length + 1] = BOS, sequence.flip(0)
        tgt_out[row, :length], tgt_out[row, length] = sequence.flip(0), EOS
    return Seq2SeqBatch(src, tgt_in, tgt_out, src != PAD, tgt_in != PAD)


def running_sum_batch(
    batch_size: int,
    num_digits: int,
    min_length: int,
    max_length: int,
    generator: torch.Generator | None = None,
    input_digits: int | None = None,
) -> Seq2SeqBatch:
    """Taught in notebook 03, section 3.
    Random digit sequences and their running sums modulo ``num_digits``: ``3 7 5`` -> ``3 0 5``.

    Taught in notebook 03, section 3 (exposure bias). Output ``t`` is the previous output plus
    input ``t``, so a decoder that reads its own previous output inherits any earlier mistake:
    errors compound. Inputs are drawn from ``0 .. input_digits - 1`` (default ``num_digits``);
    ``input_digits=2`` makes a counter: output ``t`` is the number of 1s so far, modulo
    ``num_digits``. Token ids as in ``reverse_task_batch``.

    >>> batch = running_sum_batch(1, 10, 3, 3, torch.Generator().manual_seed(0))
    >>> digits = (batch.src[0, :3] - FIRST_DIGIT).tolist()
    >>> sums = (batch.tgt_out[0, :3] - FIRST_DIGIT).tolist()
    >>> sums == [sum(digits[: t + 1]) % 10 for t in range(3)]
    True
    """
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length} and {max_length}")
    if batch_size < 1 or num_digits < 1:
        raise ValueError(f"batch_size and num_digits must be positive, got {batch_size}, {num_digits}")
    input_digits = num_digits if input_digits is None else input_digits
    if input_digits < 1:
        raise ValueError(f"input_digits must be positive, got {input_digits}")
    lengths = torch.randint(min_length, max_length + 1, (batch_size,), generator=generator)
    digits = torch.randint(0, input_digits, (batch_size, max_length), generator=generator)
    sums = digits.cumsum(dim=1) % num_digits  # (B, max_length): sums[:, t] = x_1 + ... + x_t
    src = torch.full((batch_size, max_length + 1), PAD)
    tgt_in = torch.full((batch_size, max_length + 1), PAD)
    tgt_out = torch.full((batch_size, max_length + 1), PAD)
    for row, length in enumerate(lengths.tolist()):
        src[row, :length], src[row, length] = digits[row, :length] + FIRST_DIGIT, EOS
        tgt_in[row, 0], tgt_in[row, 1 : length + 1] = BOS, sums[row, :length] + FIRST_DIGIT
        tgt_out[row, :length], tgt_out[row, length] = sums[row, :length] + FIRST_DIGIT, EOS
    return Seq2SeqBatch(src, tgt_in, tgt_out, src != PAD, tgt_in != PAD)

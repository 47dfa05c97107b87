"""Batching: sequences of different lengths padded into one rectangle.

Used from notebook 04, section 2 on (pretraining batches), and by fine-tuning
(notebook 05). A tensor is a rectangle, so shorter sequences are padded up to the
longest, and an attention mask (1 = real token, 0 = padding) tells the model
which positions to ignore.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Taught in notebook 04, section 2. Right-pad ``sequences``; return ``(ids, attention_mask)``, both ``(B, L_max)`` int64.

    ``attention_mask`` is 1 for real tokens and 0 for padding. Pad token types
    the same way with ``pad_id=0`` (and ignore the second output).

    >>> ids, attention_mask = pad_batch([[1, 5, 2], [1, 2]], pad_id=0)
    >>> ids
    tensor([[1, 5, 2],
            [1, 2, 0]])
    >>> attention_mask
    tensor([[1, 1, 1],
            [1, 1, 0]])
    """
    lengths = [len(s) for s in sequences]
    max_len = max(lengths, default=0)
    padded = [[*s, *[pad_id] * (max_len - len(s))] for s in sequences]
    # numpy turns a list of lists into an array several times faster than torch.tensor
    ids = torch.from_numpy(np.array(padded, dtype=np.int64).reshape(len(sequences), max_len))
    # position < length: (L_max,) against (B, 1) broadcasts to (B, L_max)
    mask = (torch.arange(max_len) < torch.tensor(lengths, dtype=torch.int64)[:, None]).long()
    return ids, mask

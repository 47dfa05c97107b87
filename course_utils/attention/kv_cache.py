"""The key/value cache: the keys and values of the positions a model has already seen.

Taught in notebook 06 (generation). Generating token by token, a causal model without a
cache runs the whole sequence again for every new token, although the keys and values
of the earlier positions never change (position ``i`` only sees ``0..i``). A cache keeps
them: each call of a self-attention layer appends the keys and values of its new
positions and attends from the new queries over all of them.

- ``LayerKVCache``: one layer's keys and values, ``(B, H_kv, S, head_dim)`` each; what
  ``MultiHeadAttention.forward(..., cache=...)`` takes.
- ``KVCache``: one ``LayerKVCache`` per layer; what ``Decoder`` and ``GPTModel`` take.

>>> cache = LayerKVCache()
>>> keys, values = cache.update(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
>>> keys, values = cache.update(torch.ones(1, 2, 1, 4), torch.ones(1, 2, 1, 4))
>>> len(cache), tuple(keys.shape)                   # 3 positions, then 1 more
(4, (1, 2, 4, 4))
"""

from __future__ import annotations

import torch
from torch import Tensor


class LayerKVCache:
    """Taught in notebook 06 (generation). The keys and values one attention layer has
    seen: ``keys`` and ``values`` are ``(B, H_kv, S, head_dim)``, or None before the first
    call; ``len(cache)`` is ``S``.

    Grouped-query attention caches its ``H_kv`` key/value heads before they are repeated
    for the query heads, which is what makes its cache smaller.
    """

    def __init__(self) -> None:
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.keys is None else self.keys.shape[-2]

    def update(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Append the new positions' ``keys`` and ``values`` ``(B, H_kv, L, Dh)``; return all
        of them so far, ``(B, H_kv, S, Dh)`` with ``S = len(cache)`` (the cached ones first)."""
        if self.keys is not None and self.values is not None:
            _check_fits(self.keys, keys)
            keys = torch.cat([self.keys, keys], dim=-2)  # (B, H_kv, S, Dh)
            values = torch.cat([self.values, values], dim=-2)
        self.keys, self.values = keys, values
        return keys, values


class KVCache:
    """Taught in notebook 06 (generation). The keys and values of every position a model
    has seen, one ``LayerKVCache`` per causal self-attention layer.

    ``layer(i)`` is layer ``i``'s entry (made on first use); ``keys[i]`` and ``values[i]``
    are its ``(B, H_kv, S, head_dim)`` tensors; ``len(cache)`` is ``S``, the number of
    positions cached. Pass the same cache to successive ``GPTModel`` calls: each call
    appends its new positions, and the new tokens take the positions after the cached
    ones. Start a new cache for a new prompt.
    """

    def __init__(self) -> None:
        self.layers: list[LayerKVCache] = []

    def __len__(self) -> int:
        return len(self.layers[0]) if self.layers else 0

    def layer(self, index: int) -> LayerKVCache:
        """Layer ``index``'s entry, made empty on first use."""
        if index < 0:
            raise ValueError(f"layer index must be >= 0; got {index}")
        while len(self.layers) <= index:
            self.layers.append(LayerKVCache())
        return self.layers[index]

    @property
    def keys(self) -> list[Tensor | None]:
        """Each layer's cached keys ``(B, H_kv, S, head_dim)``."""
        return [entry.keys for entry in self.layers]

    @property
    def values(self) -> list[Tensor | None]:
        """Each layer's cached values ``(B, H_kv, S, head_dim)``."""
        return [entry.values for entry in self.layers]


def _check_fits(cached: Tensor, new: Tensor) -> None:
    """Raise a ValueError unless the ``new`` keys differ from the ``cached`` ones only in length."""
    if (*cached.shape[:-2], cached.shape[-1]) != (*new.shape[:-2], new.shape[-1]):
        raise ValueError(
            f"the cache holds keys of shape {tuple(cached.shape)} (B, H_kv, S, head_dim); new "
            f"keys of shape {tuple(new.shape)} must match it except in length S (start a new "
            f"cache for new prompts)"
        )

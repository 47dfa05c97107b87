"""Weight tying that survives moving a model between devices.

A tied output layer *is* the token-embedding matrix (``lm_head.weight is wte.weight``).
Moving a model to or from PyTorch's "meta" device (``.to("meta")``, ``.to_empty()``) gives
every module a new Parameter object, which silently unties the two; other moves keep the tie.
All of them go through ``nn.Module._apply``, so a model that ties weights ties them again there.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


class TiedWeights(nn.Module):
    """Base for models with a tied output layer: subclasses define :meth:`tie_weights`."""

    def tie_weights(self) -> None:
        """Make the output layer share the token-embedding matrix (again)."""
        raise NotImplementedError

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> TiedWeights:
        super()._apply(fn, recurse)
        self.tie_weights()
        return self

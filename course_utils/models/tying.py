"""Weight tying: the output layer *is* the token-embedding matrix.

Taught in notebook 03, section 4. ``lm_head.weight = token_embeddings.weight``
makes the two modules hold one Parameter, so the same vector reads a token in
and scores it out, and it is stored and trained once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import Tensor, nn

if TYPE_CHECKING:
    from course_utils.models.config import ModelConfig


class TiedWeights(nn.Module):
    """Base of the models whose output layer may share the token-embedding matrix.

    ``tie_weights`` ties ``lm_head`` to ``token_embeddings`` when
    ``config.tie_embeddings`` (GPT, encoder-decoder); a model with another
    output layer overrides it (BERT's masked-LM head).
    """

    config: ModelConfig  # set by the subclass

    def tie_weights(self) -> None:
        """Make the output layer share the token-embedding matrix (again)."""
        if self.config.tie_embeddings:
            self.lm_head.weight = self.token_embeddings.weight

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> TiedWeights:
        """Tie again after every move: moving to or from the "meta" device (``.to("meta")``,
        ``.to_empty()``) gives each module its own new Parameter, which unties them."""
        super()._apply(fn, recurse)
        self.tie_weights()
        return self

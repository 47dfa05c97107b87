"""Contextual vectors: one vector per *occurrence* of a word, read from a model's last layer.

A static embedding gives "her" one vector; BERT gives "her" in "gave her a coin" and "her"
in "broke her phone" different vectors, and occurrences used the same way end up close.

>>> from course_utils.data.world.vocabulary import world_tokenizer
>>> from course_utils.models import BertModel, get_config
>>> tok = world_tokenizer()
>>> bert = BertModel(get_config("bert-tiny", vocab_size=len(tok.vocab))).eval()
>>> vectors, where = occurrence_vectors(bert, tok, ["Ann gave her a coin.", "Her dog sleeps."], "her")
>>> vectors.shape[0], where
(2, [(0, 2), (1, 0)])
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from course_utils.models import BertModel
from course_utils.noising.batching import pad_batch
from course_utils.tokenization import WordPieceTokenizer


@torch.no_grad()
def occurrence_vectors(
    bert: BertModel, tokenizer: WordPieceTokenizer, sentences: Sequence[str], word: str
) -> tuple[Tensor, list[tuple[int, int]]]:
    """Taught in notebook 04, section 7.
    The last-layer vector of every occurrence of ``word`` (one token) in ``sentences``.

    Returns ``(vectors (N, D), where)``; ``where[n] = (sentence index, token index)``, the
    token index counting from the first token after ``[CLS]``.
    """
    ids = tokenizer.token_to_id
    word_id = ids.get(word.lower())
    if word_id is None:
        raise ValueError(f"{word!r} is not one token of the vocabulary; pick a whole word")
    encoded = [[ids["[CLS]"], *tokenizer.encode(s), ids["[SEP]"]] for s in sentences]
    input_ids, attention_mask = pad_batch(encoded, ids["[PAD]"])
    device = next(bert.parameters()).device
    bert.eval()
    hidden = bert(input_ids.to(device), attention_mask=attention_mask.to(device)).hidden.cpu()
    positions = (input_ids == word_id).nonzero().tolist()
    vectors = torch.stack([hidden[s, t] for s, t in positions]) if positions else hidden.new_zeros(0, hidden.shape[-1])
    return vectors, [(s, t - 1) for s, t in positions]


def nearest_occurrences(
    query: Tensor, vectors: Tensor, labels: Sequence[str], k: int = 5, skip_self: bool = True
) -> pd.DataFrame:
    """Taught in notebook 04, section 7.
    The ``k`` rows of ``vectors`` most cosine-similar to ``query``, with their ``labels``
    (e.g. the sentences). ``skip_self`` drops an exact match (the query itself)."""
    similarity = F.cosine_similarity(vectors, query.unsqueeze(0), dim=-1)
    order = similarity.argsort(descending=True).tolist()
    if skip_self:
        order = [i for i in order if similarity[i] < 1 - 1e-6]
    return pd.DataFrame(
        [{"cosine": round(similarity[i].item(), 3), "context": labels[i]} for i in order[:k]]
    )


def _allowed_neighbours(uses: Sequence[str], contexts: Sequence[tuple[str, str]] | None) -> Tensor:
    """Bool ``(N, N)``: may occurrence ``j`` serve as the neighbour of query ``i``? Never itself;
    with ``contexts``, only one with other words on both sides; and only for a query that has
    an allowed candidate of its own use *and* one of another use (else the test is decided)."""
    n = len(uses)
    allowed = ~torch.eye(n, dtype=torch.bool)
    if contexts is not None:
        before = [c[0] for c in contexts]
        after = [c[1] for c in contexts]
        allowed &= ~torch.tensor([[a == b for b in before] for a in before])
        allowed &= ~torch.tensor([[a == b for b in after] for a in after])
    same = torch.tensor([[a == b for b in uses] for a in uses])
    testable = (allowed & same).any(1) & (allowed & ~same).any(1)
    return allowed & testable[:, None]


def _check_uses(n: int, uses: Sequence[str], contexts: Sequence[tuple[str, str]] | None) -> None:
    if len(uses) != n or (contexts is not None and len(contexts) != n):
        raise ValueError(f"need one use (and one context) per vector; got {n} vectors, "
                         f"{len(uses)} uses, {None if contexts is None else len(contexts)} contexts")


def same_use_rate(
    vectors: Tensor,
    uses: Sequence[str],
    contexts: Sequence[tuple[str, str]] | None = None,
) -> float:
    """Taught in notebook 04, section 7: how often an occurrence's nearest neighbour (cosine)
    is used the same way.

    ``uses[n]`` is occurrence ``n``'s role (e.g. its gold dependency relation). With
    ``contexts`` (each occurrence's previous and next word), a neighbour must differ from the
    query in *both*, so the score cannot come from the neighbouring words alone: a vector has
    to carry the role itself. Only queries with an allowed neighbour of their own use and one of
    another use count (``same_use_chance`` is the score of a random allowed neighbour on
    the same queries); ``nan`` if none is left.
    """
    n = vectors.shape[0]
    _check_uses(n, uses, contexts)
    allowed = _allowed_neighbours(uses, contexts)
    unit = F.normalize(vectors.float(), dim=-1)
    similarity = (unit @ unit.T).masked_fill(~allowed, -2.0)  # (N, N)
    nearest = similarity.argmax(1)
    agree = [uses[i] == uses[j] for i, j in enumerate(nearest.tolist()) if allowed[i].any()]
    return float(sum(agree) / len(agree)) if agree else float("nan")


def same_use_chance(uses: Sequence[str], contexts: Sequence[tuple[str, str]] | None = None) -> float:
    """Taught in notebook 04, section 7: the expected ``same_use_rate`` of a neighbour
    picked at random among the allowed ones (the control for that score)."""
    _check_uses(len(uses), uses, contexts)
    allowed = _allowed_neighbours(uses, contexts)
    same = torch.tensor([[a == b for b in uses] for a in uses])
    rows = allowed.any(1)
    if not rows.any():
        return float("nan")
    share = (allowed & same).sum(1)[rows].float() / allowed.sum(1)[rows].float()
    return float(share.mean())


def same_use_queries(uses: Sequence[str], contexts: Sequence[tuple[str, str]] | None = None) -> dict[str, int]:
    """Taught in notebook 04, section 7: how many occurrences of each use ``same_use_rate``
    counts as queries (those with an allowed neighbour of their own use and one of another)."""
    _check_uses(len(uses), uses, contexts)
    testable = _allowed_neighbours(uses, contexts).any(1).tolist()
    return {use: sum(1 for u, t in zip(uses, testable) if t and u == use) for use in sorted(set(uses))}

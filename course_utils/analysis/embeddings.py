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
from course_utils.noising import pad_batch
from course_utils.tokenization import WordPieceTokenizer


@torch.no_grad()
def occurrence_vectors(
    bert: BertModel, tokenizer: WordPieceTokenizer, sentences: Sequence[str], word: str
) -> tuple[Tensor, list[tuple[int, int]]]:
    """The last-layer vector of every occurrence of ``word`` (one token) in ``sentences``.

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
    """The ``k`` rows of ``vectors`` most cosine-similar to ``query``, with their ``labels``
    (e.g. the sentences). ``skip_self`` drops an exact match (the query itself)."""
    similarity = F.cosine_similarity(vectors, query.unsqueeze(0), dim=-1)
    order = similarity.argsort(descending=True).tolist()
    if skip_self:
        order = [i for i in order if similarity[i] < 1 - 1e-6]
    return pd.DataFrame(
        [{"cosine": round(similarity[i].item(), 3), "context": labels[i]} for i in order[:k]]
    )

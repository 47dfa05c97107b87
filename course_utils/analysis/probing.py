"""Which layers a property comes from: Tenney et al. (2019), "BERT Rediscovers the Classical NLP
Pipeline", in miniature.

A probe reads every layer's vector of a word, ``h^(0)`` (the embeddings) to ``h^(L)``, mixes
them with learned weights and classifies the mixture with one linear layer:

    h_mix = gamma * sum_l s_l h^(l),   s = softmax(w)

The body stays frozen; only ``w``, ``gamma`` and the linear layer learn. Where the weights ``s``
sit is the **center of gravity** ``sum_l l * s_l``. The **expected layer** asks the same
question by adding layers one at a time: ``P^(l)`` probes layers ``0..l`` only, ``Delta^(l)`` is
what layer ``l`` adds to its score, and ``E[l] = sum_l l * Delta^(l) / sum_l Delta^(l)``.

>>> import torch
>>> probe = ScalarMixProbe(num_states=3, width=4, num_labels=2)
>>> probe.layer_weights().tolist()  # uniform before training
[0.3333333432674408, 0.3333333432674408, 0.3333333432674408]
>>> center_of_gravity(torch.tensor([0.0, 0.0, 1.0]))
2.0
>>> round(expected_layer([0.5, 0.7, 0.8]), 4)  # layer 1 adds 0.2, layer 2 adds 0.1
1.3333
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn


def layer_states(model: nn.Module, input_ids: Tensor, token_type_ids: Tensor | None = None,
                 attention_mask: Tensor | None = None) -> Tensor:
    """Taught in notebook 08, section 6. Every layer's output of a BERT, the embeddings first:
    ``(layers + 1, B, L, D)``."""
    from course_utils.attention import padding_mask

    bert = getattr(model, "bert", model)
    mask = padding_mask(attention_mask) if attention_mask is not None else None
    with torch.no_grad():
        x = bert.embeddings(input_ids, token_type_ids)  # (B, L, D)
        states = [x]
        for layer in bert.encoder.layers:
            x, _ = layer(x, mask=mask)
            states.append(x)
    return torch.stack(states)


def word_states(model: nn.Module, tokenizer, sentences: Sequence[Sequence[str]], positions: Sequence[int],
                mask_word: bool = False, batch_size: int = 128) -> Tensor:
    """Taught in notebook 08, section 6. ``(N, layers + 1, D)``: for each sentence (a tuple of
    words) the vectors of its word at ``positions[i]`` (its first piece) in every layer, the input
    being ``[CLS] words [SEP]``. With ``mask_word`` that word's pieces are replaced by one
    ``[MASK]``, so that what the vector holds must come from the context."""
    if len(sentences) != len(positions):
        raise ValueError(f"{len(sentences)} sentences but {len(positions)} positions")
    ids = tokenizer.token_to_id
    sequences, where = [], []
    for words, position in zip(sentences, positions):
        if not 0 <= position < len(words):
            raise ValueError(f"position {position} is outside a sentence of {len(words)} words")
        sequence = [ids["[CLS]"]]
        for index, word in enumerate(words):
            if index == position:
                where.append(len(sequence))
            sequence += [ids["[MASK]"]] if (mask_word and index == position) else tokenizer.encode(word)
        sequences.append(sequence + [ids["[SEP]"]])
    out = []
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start:start + batch_size]
        length = max(map(len, chunk))
        input_ids = torch.tensor([s + [ids["[PAD]"]] * (length - len(s)) for s in chunk])
        attention_mask = torch.tensor([[1] * len(s) + [0] * (length - len(s)) for s in chunk])
        states = layer_states(model, input_ids, attention_mask=attention_mask)  # (layers + 1, B, L, D)
        rows = torch.arange(len(chunk))
        out.append(states[:, rows, torch.tensor(where[start:start + batch_size])].transpose(0, 1))  # (B, layers + 1, D)
    return torch.cat(out)


class ScalarMixProbe(nn.Module):
    """Taught in notebook 08, section 6. A linear classifier on a learned mixture of layers."""

    def __init__(self, num_states: int, width: int, num_labels: int) -> None:
        super().__init__()
        self.mix_logits = nn.Parameter(torch.zeros(num_states))  # w: s = softmax(w)
        self.gamma = nn.Parameter(torch.ones(()))
        self.classifier = nn.Linear(width, num_labels)

    def layer_weights(self) -> Tensor:
        return self.mix_logits.detach().softmax(-1)

    def forward(self, states: Tensor) -> Tensor:
        """``states (N, layers + 1, D)`` -> logits ``(N, num_labels)``."""
        s = self.mix_logits.softmax(-1)  # (layers + 1,)
        mixed = self.gamma * (s[None, :, None] * states).sum(1)  # (N, D)
        return self.classifier(mixed)


def train_probe(states: Tensor, labels: Tensor, num_labels: int, epochs: int = 20, learning_rate: float = 1e-2,
                batch_size: int = 64, seed: int = 0) -> ScalarMixProbe:
    """Taught in notebook 08, section 6. Fit a ``ScalarMixProbe`` on ``states (N, layers + 1, D)``
    and integer ``labels (N,)`` with Adam; the batches are shuffled with ``seed``."""
    if len(states) != len(labels) or len(states) == 0:
        raise ValueError(f"need as many labels as states, at least one; got {len(states)} and {len(labels)}")
    torch.manual_seed(seed)
    probe = ScalarMixProbe(states.shape[1], states.shape[2], num_labels)
    optimizer = torch.optim.Adam(probe.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(states), generator=generator).split(batch_size):
            loss = nn.functional.cross_entropy(probe(states[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return probe


def probe_accuracy(probe: ScalarMixProbe, states: Tensor, labels: Tensor) -> float:
    with torch.no_grad():
        return float((probe(states).argmax(-1) == labels).float().mean())


def center_of_gravity(weights: Tensor | Sequence[float]) -> float:
    """``sum_l l * s_l`` for layer weights ``s`` (layer 0 = the embeddings)."""
    weights = torch.as_tensor(weights, dtype=torch.float32)
    return float((torch.arange(len(weights)) * weights).sum() / weights.sum())


def expected_layer(cumulative_scores: Sequence[float]) -> float:
    """``sum_l l * Delta_l / sum_l Delta_l`` from the scores of ``P^(0), P^(1), ...`` (probes on
    layers ``0..l``); ``nan`` when the layers above 0 add nothing."""
    deltas = np.diff(np.asarray(cumulative_scores, dtype=float))
    if deltas.sum() <= 0:
        return float("nan")
    return float((np.arange(1, len(deltas) + 1) * deltas).sum() / deltas.sum())


def cumulative_scores(train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], num_labels: int,
                      **training) -> list[float]:
    """Taught in notebook 08, section 6. Test accuracy of ``P^(l)`` for ``l = 0 .. layers``:
    probes trained on layers ``0..l`` only (the states of the others left out)."""
    (train_states, train_labels), (test_states, test_labels) = train, test
    scores = []
    for top in range(train_states.shape[1]):
        probe = train_probe(train_states[:, : top + 1], train_labels, num_labels, **training)
        scores.append(probe_accuracy(probe, test_states[:, : top + 1], test_labels))
    return scores

"""What attention heads look at: Clark et al. (2019), "What does BERT look at?", in miniature.

Every statistic here reads the attention weights of an encoder on annotated text and returns one
number per head, as a ``(layers, heads)`` array, so that a trained model and a randomly
initialised one of the same shape can be compared cell by cell:

- ``special_token_attention``: the average weight a token gives to ``[CLS]``, ``[SEP]`` or
  punctuation;
- ``offset_attention``: the average weight on the previous, the same or the next token;
- ``attention_entropy``: how spread out each head's distributions are, beside the entropy of a
  uniform distribution over the same tokens;
- ``dependency_accuracy`` and ``relation_table``: for each dependency relation of the small
  world's gold trees, how often a head's most-attended word is the gold head, against the best
  fixed-offset baseline (the lecture's "Relation / Head / Accuracy / Baseline" table).

The unit of analysis is an ``AttentionSample``: one encoded input (``[CLS] A [SEP] B [SEP]``, as
BERT was pretrained) with its attention weights and the gold tree of every word in it. Words of
the small world are almost always single WordPiece tokens; where a word is split, attention *to*
the word is the sum over its pieces and attention *from* it the mean, as in the paper.

>>> import torch
>>> weights = torch.tensor([[[[0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]]]])  # 1 layer, 1 head
>>> offset_attention(weights[None], offsets=(-1, 0, 1))[0, 0].tolist()  # previous, same, next
[0.30000001192092896, 0.13333334028720856, 0.6000000238418579]
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

PUNCTUATION = frozenset({".", ",", "?", "!", ";", ":"})
"""Tokens that count as punctuation for ``special_token_attention``."""

DIRECTIONS = ("dependent -> head", "head -> dependent")
"""Which word attends: the dependent, predicting its head (the word it attends to most), or the
head, predicting one of its dependents."""


@dataclass
class AttentionSample:
    """One input and what an encoder's heads did with it.

    ``tokens``: the L tokens, special ones included; ``attention``: ``(layers, heads, L, L)``,
    row = the attending token (query), column = the attended one (key); ``word_of_token``: the
    word index of each token, -1 for ``[CLS]`` and ``[SEP]``; ``heads`` and ``rels``: for each
    of the W words, its gold head (a word index of the same input, -1 at a sentence's root) and
    its relation to it.
    """

    tokens: list[str]
    attention: Tensor
    word_of_token: list[int]
    heads: list[int] = field(default_factory=list)
    rels: list[str] = field(default_factory=list)
    _word_attention: Tensor | None = field(default=None, init=False, repr=False, compare=False)
    _most_attended: Tensor | None = field(default=None, init=False, repr=False, compare=False)
    _forms: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attention.dim() != 4 or self.attention.shape[-1] != self.attention.shape[-2]:
            raise ValueError(f"attention must be (layers, heads, L, L); got {tuple(self.attention.shape)}")
        if self.attention.shape[-1] != len(self.tokens) or len(self.word_of_token) != len(self.tokens):
            raise ValueError(f"{len(self.tokens)} tokens and {len(self.word_of_token)} word ids for "
                             f"attention over {self.attention.shape[-1]} positions: they must agree")
        if len(self.heads) != len(self.rels):
            raise ValueError(f"{len(self.heads)} gold heads but {len(self.rels)} relations")

    @property
    def num_words(self) -> int:
        return max(self.word_of_token, default=-1) + 1


# ---------------------------------------------------------------- collecting attention
def consecutive_pairs(documents, max_pairs: int | None = None) -> list[tuple]:
    """Taught in notebook 08, section 1. Pairs of consecutive sentences of the small world's
    documents (``generate_corpus``), in order: the inputs BERT was pretrained on when the
    second sentence really follows the first."""
    pairs = [(first, second) for document in documents
             for first, second in zip(document.sentences, document.sentences[1:])]
    return pairs[:max_pairs] if max_pairs is not None else pairs


def encode_pair(tokenizer, first_words: Sequence[str], second_words: Sequence[str]) -> tuple[list[int], list[int], list[int]]:
    """``[CLS] A [SEP] B [SEP]`` as ``(input_ids, token_type_ids, word_of_token)``; the words of
    A are numbered from 0, those of B follow on."""
    ids, types, words = [tokenizer.token_to_id["[CLS]"]], [0], [-1]
    for segment, sentence in enumerate((first_words, second_words)):
        offset = 0 if segment == 0 else len(first_words)
        for index, word in enumerate(sentence):
            pieces = tokenizer.encode(word)
            ids += pieces
            types += [segment] * len(pieces)
            words += [offset + index] * len(pieces)
        ids.append(tokenizer.token_to_id["[SEP]"])
        types.append(segment)
        words.append(-1)
    return ids, types, words


def collect_attention(model, tokenizer, sentence_pairs: Sequence[tuple], max_length: int | None = None) -> list[AttentionSample]:
    """Taught in notebook 08, section 1. Run a BERT (``BertModel`` or ``BertForPreTraining``) on
    each ``(sentence, sentence)`` pair of the small world (``Sentence`` objects with gold trees)
    and keep every layer's attention. Pairs longer than ``max_length`` tokens are skipped."""
    bert = getattr(model, "bert", model)
    was_training = bert.training
    bert.eval()
    samples = []
    with torch.no_grad():
        for first, second in sentence_pairs:
            ids, types, words = encode_pair(tokenizer, first.words, second.words)
            if max_length is not None and len(ids) > max_length:
                continue
            out = bert(torch.tensor([ids]), torch.tensor([types]), need_weights=True)
            attention = torch.stack([layer[0] for layer in out.attentions])  # (layers, heads, L, L)
            heads = list(first.heads) + [h + len(first.words) if h >= 0 else -1 for h in second.heads]
            samples.append(AttentionSample([tokenizer.vocab[i] for i in ids], attention, words, heads,
                                           list(first.rels) + list(second.rels)))
    bert.train(was_training)
    if not samples:
        raise ValueError(f"no sentence pair fits in max_length={max_length} tokens")
    return samples


def _stack_shape(samples: Sequence[AttentionSample]) -> tuple[int, int]:
    if not samples:
        raise ValueError("no samples: pass at least one AttentionSample")
    shapes = {tuple(s.attention.shape[:2]) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"samples come from models of different shapes: {sorted(shapes)}")
    return shapes.pop()


# ---------------------------------------------------------------- where the weight goes
def special_token_attention(samples: Sequence[AttentionSample]) -> dict[str, np.ndarray]:
    """Taught in notebook 08, section 2. For ``[CLS]``, ``[SEP]`` and punctuation: the weight an
    average token puts on all tokens of that kind, per head, ``(layers, heads)`` each. Averaged
    over every attending token of every sample, as Clark et al. do."""
    layers, heads = _stack_shape(samples)
    totals = {kind: torch.zeros(layers, heads) for kind in ("[CLS]", "[SEP]", "punctuation")}
    rows = 0
    for sample in samples:
        for kind in totals:
            columns = [i for i, t in enumerate(sample.tokens)
                       if (t in PUNCTUATION if kind == "punctuation" else t == kind)]
            if columns:
                totals[kind] += sample.attention[..., columns].sum(-1).sum(-1)  # (layers, heads): summed over queries
        rows += len(sample.tokens)
    return {kind: (total / rows).numpy() for kind, total in totals.items()}


def offset_attention(attention: Tensor | Sequence[AttentionSample], offsets: Sequence[int] = (-1, 0, 1)) -> np.ndarray:
    """Taught in notebook 08, section 2. The average weight a token puts on the token ``k``
    places away (``k = -1`` the previous one, ``0`` itself, ``+1`` the next), per head and
    offset: ``(layers, heads, len(offsets))``. Positions whose neighbour falls outside the
    input are left out of that offset's average. ``attention`` is a list of samples or one
    ``(samples, layers, heads, L, L)`` tensor."""
    matrices = [s.attention for s in attention] if not isinstance(attention, Tensor) else list(attention)
    if not matrices:
        raise ValueError("no attention given")
    layers, heads = matrices[0].shape[:2]
    sums, counts = torch.zeros(layers, heads, len(offsets)), torch.zeros(len(offsets))
    for weights in matrices:
        length = weights.shape[-1]
        for j, k in enumerate(offsets):
            if abs(k) >= length:
                continue
            diagonal = torch.diagonal(weights, offset=k, dim1=-2, dim2=-1)  # (layers, heads, L - |k|): weight of i on i + k
            sums[..., j] += diagonal.sum(-1)
            counts[j] += diagonal.shape[-1]
    return (sums / counts.clamp_min(1)).numpy()


def attention_entropy(samples: Sequence[AttentionSample]) -> tuple[np.ndarray, float]:
    """Taught in notebook 08, section 3. ``(entropy, uniform)``: each head's mean entropy (nats)
    of its attention distributions, ``(layers, heads)``, over every attending token of every
    sample; and the mean entropy of a uniform distribution over the same tokens (``log L`` per
    row), the baseline of a head that looks everywhere at once."""
    _stack_shape(samples)
    total, uniform, rows = 0.0, 0.0, 0
    for sample in samples:
        p = sample.attention.clamp_min(1e-12)
        total = total + (-(p * p.log()).sum(-1)).sum(-1)  # (layers, heads): summed over queries
        uniform += len(sample.tokens) * math.log(len(sample.tokens))
        rows += len(sample.tokens)
    return (total / rows).numpy(), uniform / rows


# ---------------------------------------------------------------- syntax
def word_attention(sample: AttentionSample) -> Tensor:
    """Taught in notebook 08, section 4. Word-to-word attention ``(layers, heads, W, W)``: weight
    *to* a word summed over its pieces, *from* a word averaged over them; ``[CLS]`` and ``[SEP]``
    dropped (so rows no longer sum to 1). Computed once per sample, then kept."""
    if sample._word_attention is not None:
        return sample._word_attention
    words = torch.tensor(sample.word_of_token)
    real = words >= 0
    n = sample.num_words
    one_hot = torch.zeros(len(words), n)
    one_hot[real.nonzero().squeeze(-1), words[real]] = 1.0  # (L, W)
    to_words = sample.attention @ one_hot  # (layers, heads, L, W): summed over each word's pieces
    pieces = one_hot.sum(0).clamp_min(1)  # (W,)
    sample._word_attention = (one_hot.T @ to_words) / pieces[:, None]  # (layers, heads, W, W): mean over attending pieces
    return sample._word_attention


def most_attended(sample: AttentionSample) -> Tensor:
    """``(layers, heads, W)``: each word's most-attended other word (never itself; on a tie the
    first), per head. Computed once per sample, then kept."""
    if sample._most_attended is None:
        weights = word_attention(sample).clone()
        weights.diagonal(dim1=-2, dim2=-1).fill_(-1.0)  # a word never predicts itself
        sample._most_attended = weights.argmax(-1)
    return sample._most_attended


def dependency_accuracy(samples: Sequence[AttentionSample], relation: str | None = None,
                        direction: str = DIRECTIONS[0]) -> tuple[np.ndarray, int]:
    """Taught in notebook 08, section 4. ``(accuracy, arcs)``: per head, ``(layers, heads)``, the
    share of gold arcs of ``relation`` (all relations if None; never the root) where the
    attending word's most-attended other word is the word at the other end of the arc; and how
    many arcs were scored. ``direction`` is one of ``DIRECTIONS``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; allowed: {', '.join(DIRECTIONS)}")
    layers, heads = _stack_shape(samples)
    right, arcs = torch.zeros(layers, heads), 0
    for sample in samples:
        chosen = [(d, h) for d, (h, r) in enumerate(zip(sample.heads, sample.rels))
                  if h >= 0 and (relation is None or r == relation)]
        if not chosen:
            continue
        predicted = most_attended(sample)  # (layers, heads, W)
        for dependent, head in chosen:
            source, target = (dependent, head) if direction == DIRECTIONS[0] else (head, dependent)
            right += (predicted[..., source] == target).float()
        arcs += len(chosen)
    return (right / max(arcs, 1)).numpy(), arcs


def offset_baseline(samples: Sequence[AttentionSample], relation: str | None = None,
                    offsets: Sequence[int] = tuple(k for k in range(-4, 5) if k != 0)) -> tuple[int, float]:
    """Taught in notebook 08, section 4. ``(offset, accuracy)`` of the best fixed-offset rule for
    ``relation``: "the head is the word ``offset`` places from the dependent" (+1: the next word,
    -2: two to the left), chosen among ``offsets``."""
    arcs = max(int(arcs_per_sample(samples, relation).sum()), 1)
    best = (offsets[0], -1.0)
    for k in offsets:
        accuracy = offset_right_per_sample(samples, relation, k).sum() / arcs
        if accuracy > best[1]:
            best = (k, float(accuracy))
    return best


def relation_table(select: Sequence[AttentionSample], evaluate: Sequence[AttentionSample],
                   relations: Sequence[str], min_arcs: int = 20, heuristic: bool = True):
    """Taught in notebook 08, section 4. The lecture's table: for each relation (and "all"), the
    head and direction with the best accuracy on the ``select`` samples, then that head's
    accuracy on the ``evaluate`` samples (choosing the best of many heads on the data it is
    scored on would flatter it), beside the best fixed offset, also chosen on ``select`` and
    scored on ``evaluate``. Heads are named ``layer-head``, counted from 1 as in the paper.
    Relations with fewer than ``min_arcs`` arcs in either part are left out. ``low`` and ``high``
    bound the head's lead over the offset rule (``paired_interval``, 95 %). With ``heuristic``,
    ``nearest form`` holds ``nearest_form_baseline`` in the chosen head's direction, and ``form
    low``/``form high`` the head's lead over it."""
    import pandas as pd

    rows = []
    for relation in [None, *relations]:
        best = None
        for direction in DIRECTIONS:
            accuracy, arcs = dependency_accuracy(select, relation, direction)
            layer, head = np.unravel_index(int(accuracy.argmax()), accuracy.shape)
            if arcs and (best is None or accuracy[layer, head] > best[0]):
                best = (float(accuracy[layer, head]), int(layer), int(head), direction, arcs)
        arcs = arcs_per_sample(evaluate, relation)  # (samples,): every score below counts these arcs
        if best is None or min(best[4], int(arcs.sum())) < min_arcs:
            continue
        offset, _ = offset_baseline(select, relation)
        head_right = head_right_per_sample(evaluate, relation, best[3], best[1], best[2])
        offset_right = offset_right_per_sample(evaluate, relation, offset)
        row = {"relation": relation or "all", "head": f"{best[1] + 1}-{best[2] + 1}", "direction": best[3],
               "accuracy": float(head_right.sum() / arcs.sum()), "baseline offset": offset,
               "baseline": float(offset_right.sum() / arcs.sum()), "arcs": int(arcs.sum())}
        row["low"], row["high"] = paired_interval(head_right, offset_right, arcs)
        if heuristic and relation is not None:
            form_right = nearest_form_baseline(select, evaluate, relation, best[3], per_sample_counts=True)
            row["nearest form"] = form_right.sum() / max(arcs.sum(), 1)
            row["form low"], row["form high"] = paired_interval(head_right, form_right, arcs)
        elif heuristic:
            row["nearest form"] = row["form low"] = row["form high"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("relation")


def _words_and_segments(sample: AttentionSample) -> tuple[list[str], list[int]]:
    """Each word's form (pieces joined, lower case) and the sentence (0 or 1) it belongs to."""
    if sample._forms is not None:
        return sample._forms
    forms: dict[int, str] = {}
    segments: dict[int, int] = {}
    segment = 0
    for token, word in zip(sample.tokens, sample.word_of_token):
        if token == "[SEP]":
            segment += 1
        if word >= 0:
            forms[word] = forms.get(word, "") + (token[2:] if token.startswith("##") else token).lower()
            segments[word] = segment
    sample._forms = ([forms[w] for w in range(sample.num_words)], [segments[w] for w in range(sample.num_words)])
    return sample._forms


def nearest_form_baseline(select: Sequence[AttentionSample], evaluate: Sequence[AttentionSample], relation: str,
                          direction: str = DIRECTIONS[0], coverage: float = 0.9, per_sample_counts: bool = False):
    """Taught in notebook 08, section 4. A heuristic that reads words, not attention: from the
    ``select`` samples, the forms found at the far end of ``relation``'s arcs (the head for
    ``"dependent -> head"``, the dependent for ``"head -> dependent"``), the most frequent first
    until they cover ``coverage`` of the arcs, and the side (left or right) where the far end
    usually is; then, on ``evaluate``, each attending word predicts the nearest word of its sentence
    with one of those forms on that side (on the other side if there is none). Its accuracy,
    scored arc by arc as ``dependency_accuracy`` is: what a head gets for free if it merely
    looks for, say, the nearest preposition to its left. With ``per_sample_counts``, the number
    of right arcs in each ``evaluate`` sample instead (for ``paired_interval``)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; allowed: {', '.join(DIRECTIONS)}")

    def arcs(sample):
        for dependent, (head, rel) in enumerate(zip(sample.heads, sample.rels)):
            if head >= 0 and rel == relation:
                yield (dependent, head) if direction == DIRECTIONS[0] else (head, dependent)

    counts: dict[str, int] = {}
    to_the_right = 0
    for sample in select:
        forms, _ = _words_and_segments(sample)
        for source, target in arcs(sample):
            counts[forms[target]] = counts.get(forms[target], 0) + 1
            to_the_right += target > source
    side = 1 if to_the_right * 2 > sum(counts.values()) else -1  # where the far end usually is
    total, wanted, covered = sum(counts.values()), set(), 0
    for form, count in sorted(counts.items(), key=lambda item: -item[1]):
        if total and covered >= coverage * total:
            break
        wanted.add(form)
        covered += count
    per_sample = []
    for sample in evaluate:
        forms, segments = _words_and_segments(sample)
        right = 0
        for source, target in arcs(sample):
            candidates = [w for w in range(len(forms)) if w != source and segments[w] == segments[source]
                          and forms[w] in wanted]
            if candidates:  # the nearest on the usual side first, then the nearest on the other
                guess = min(candidates, key=lambda w: ((w - source) * side < 0, abs(w - source), w))
                right += guess == target
        per_sample.append(right)
    if per_sample_counts:
        return np.array(per_sample)
    return sum(per_sample) / max(sum(len(list(arcs(sample))) for sample in evaluate), 1)


def arcs_per_sample(samples: Sequence[AttentionSample], relation: str | None = None) -> np.ndarray:
    """How many arcs of ``relation`` (all if None; never the root) each sample has."""
    return np.array([sum(h >= 0 and (relation is None or r == relation) for h, r in zip(s.heads, s.rels))
                     for s in samples])


def head_right_per_sample(samples: Sequence[AttentionSample], relation: str | None, direction: str,
                          layer: int, head: int) -> np.ndarray:
    """Arcs of ``relation`` that head ``(layer, head)`` (0-based) gets right, in each sample."""
    counts = []
    for sample in samples:
        predicted = most_attended(sample)[layer, head]  # (W,)
        right = 0
        for dependent, (gold, rel) in enumerate(zip(sample.heads, sample.rels)):
            if gold >= 0 and (relation is None or rel == relation):
                source, target = (dependent, gold) if direction == DIRECTIONS[0] else (gold, dependent)
                right += int(predicted[source]) == target
        counts.append(right)
    return np.array(counts)


def offset_right_per_sample(samples: Sequence[AttentionSample], relation: str | None, offset: int) -> np.ndarray:
    """Arcs of ``relation`` whose head sits ``offset`` words from the dependent, in each sample."""
    return np.array([sum(h >= 0 and (relation is None or r == relation) and h == d + offset
                         for d, (h, r) in enumerate(zip(s.heads, s.rels))) for s in samples])


@functools.lru_cache(maxsize=4)
def _bootstrap_weights(samples: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of ``samples`` items is drawn in each of ``resamples`` bootstrap draws."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(samples, np.full(samples, 1 / samples), size=resamples).astype(np.float64)


def paired_interval(right_a: np.ndarray, right_b: np.ndarray, arcs: np.ndarray, resamples: int = 1_000,
                    seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Taught in notebook 08, section 4. A bootstrap interval for ``accuracy(a) - accuracy(b)``
    when both are scored on the same arcs: whole samples (sentence pairs) are drawn with
    replacement, so the arcs of one sentence, which are not independent, stay together, and each
    draw compares the two on the same arcs."""
    weights = _bootstrap_weights(len(arcs), resamples, seed)  # (resamples, samples): times each sample is drawn
    total = (weights @ arcs).clip(min=1)
    differences = weights @ (np.asarray(right_a) - np.asarray(right_b)) / total
    tail = (1 - level) / 2
    return float(np.quantile(differences, tail)), float(np.quantile(differences, 1 - tail))

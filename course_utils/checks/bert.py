"""Checkers for the exercises of notebooks 04 and 05 (BERT's pretraining noise, its loss, a
classification head and an evaluation loop).

Expected answers come from ``course_utils.noising`` and ``course_utils.finetuning``. Random
functions are checked by their statistics: rates within 4 standard errors of BERT's numbers.
"""

from __future__ import annotations

import random
from typing import Callable

import torch
from torch import nn

from course_utils.checks.core import Case, checker, fail, own_work, register_code_hints, run_checks, within
from course_utils.checks.tensors import explain_tensors, tensors_match
from course_utils import noising
from course_utils.noising import IGNORE_INDEX, IS_NEXT, NOT_NEXT, masked_lm_loss, truncate_pair

# The package's reference functions each exercise rebuilds: disabled while the student's runs.
_MASK_TOKENS_PARTS = (noising.mask_tokens, noising.apply_noise, noising.bernoulli_selection)
_NSP_PAIR_PARTS = (noising.make_nsp_pair, noising.truncate_pair, noising.random_other_sentence)

# A toy vocabulary for the checks: ids 0-4 are special, 5-49 ordinary words.
PAD, UNK, CLS, SEP, MASK = range(5)
SPECIAL_IDS = (PAD, UNK, CLS, SEP, MASK)
VOCAB_SIZE = 50


register_code_hints({
    "mask_tokens": (
        "special = torch.isin(ids, torch.tensor(list(special_ids)))\n"
        "selected = (torch.rand(ids.shape, generator=generator) < 0.15) & ~special\n"
        "labels = torch.where(selected, ids, torch.full_like(ids, -100))\n"
        "draw = torch.rand(ids.shape, generator=generator)  # < 0.8: [MASK]; 0.8-0.9: random word"
    ),
    "nsp_pair": (
        "if rng.random() < 0.5: b, label = documents[doc_index][sentence_index + 1], IS_NEXT\n"
        "while len(a) + len(b) + 3 > max_length: (a if len(a) > len(b) else b).pop()"
    ),
    "masked_lm_loss": (
        "keep = labels.reshape(-1) != -100\n"
        "F.cross_entropy(logits.reshape(-1, logits.shape[-1])[keep], labels.reshape(-1)[keep])"
    ),
    "ClassificationHead": "self.linear = nn.Linear(d_model, num_labels)  # forward: self.linear(hidden[:, 0])",
    "accuracy": (
        "model.eval()\n"
        "with torch.no_grad(): logits = model(data.input_ids, data.token_type_ids, data.attention_mask)\n"
        "(logits.argmax(-1) == data.labels).float().mean().item()"
    ),
})


def _toy_batch(rows: int, length: int, seed: int) -> torch.Tensor:
    """Token ids with [CLS] ... [SEP] and some padding, like a real batch."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB_SIZE, (rows, length), generator=g)
    ids[:, 0] = CLS
    lengths = torch.randint(length // 2, length + 1, (rows,), generator=g)
    for row, n in enumerate(lengths.tolist()):
        ids[row, n - 1] = SEP
        ids[row, n:] = PAD
    return ids


@checker("mask_tokens")
def check_mask_tokens(function: Callable) -> None:
    """Taught in notebook 04, section 2.
    ``function(ids, mask_id, vocab_size, special_ids, generator)`` -> ``(inputs, labels)``
    should apply BERT's masking: 15 % of non-special tokens become targets; of those 80 %
    [MASK], 10 % a random non-special token, 10 % unchanged; labels -100 elsewhere."""
    ids = _toy_batch(400, 128, seed=0)
    original = ids.clone()
    generator = torch.Generator().manual_seed(0)
    try:
        with own_work(function, *_MASK_TOKENS_PARTS):
            got = function(ids, MASK, VOCAB_SIZE, SPECIAL_IDS, generator)
    except NotImplementedError:
        fail("mask_tokens is not written yet: replace `raise NotImplementedError()` with your code.")
    if not (isinstance(got, tuple) and len(got) == 2):
        fail(f"mask_tokens should return a pair (inputs, labels); got {type(got).__name__}")
    inputs, labels = got
    if not torch.equal(ids, original):
        fail("mask_tokens changed its input in place",
             "write the noise into a copy of ids, so the caller's tensor stays as it was")
    for name, t in (("inputs", inputs), ("labels", labels)):
        if not isinstance(t, torch.Tensor) or t.shape != ids.shape:
            fail(f"{name} should be a tensor shaped like ids {tuple(ids.shape)}")
    special = torch.isin(ids, torch.tensor(SPECIAL_IDS))
    selected = labels != IGNORE_INDEX
    if (selected & special).any():
        fail("a special token ([CLS], [SEP], [PAD]...) was selected for prediction",
             "only ordinary tokens are candidates: skip ids in special_ids")
    if not torch.equal(labels[selected], ids[selected]):
        fail("labels should hold the original token where a position is selected",
             "a selected position keeps its original id as label; every other position gets -100")
    if not torch.equal(inputs[~selected], ids[~selected]):
        fail("a position that was not selected was changed", "only selected positions get noise")
    candidates = int((~special).sum())
    n = int(selected.sum())
    hint = "select each ordinary token with probability 0.15"
    within("share of ordinary tokens selected", n / candidates, 0.15, candidates, hint, unit=" tokens")
    masked = selected & (inputs == MASK)
    kept = selected & (inputs == ids)
    replaced = selected & ~masked & ~kept
    words = VOCAB_SIZE - len(SPECIAL_IDS)
    hint = "of the selected: 80 % -> [MASK], 10 % -> a random word, 10 % left as they are"
    within("share of selected tokens turned into [MASK]", int(masked.sum()) / n, 0.8, n, hint, unit=" tokens")
    # a random word can be the original word by chance (1 in `words`), which then counts as kept
    within("share of selected tokens replaced by another word", int(replaced.sum()) / n,
          0.1 * (1 - 1 / words), n, hint, unit=" tokens")
    if torch.isin(inputs[replaced], torch.tensor(SPECIAL_IDS)).any():
        fail("a random replacement was a special token", "draw replacements from the ordinary ids")
    print(f"✅ mask_tokens: {n} of {candidates} ordinary tokens selected, "
          f"{int(masked.sum())} masked, {int(replaced.sum())} replaced, {int(kept.sum())} kept.")


def _id_documents() -> list[list[list[int]]]:
    """Documents whose sentence ids say where they come from: 1000 * doc + 10 * sentence + k."""
    lengths = [[3, 5, 2, 7], [4, 4, 9], [6, 2], [3, 8, 5, 4, 2]]
    return [
        [[1000 * d + 10 * s + k for k in range(n)] for s, n in enumerate(doc)]
        for d, doc in enumerate(lengths)
    ]


@checker("nsp_pair")
def check_nsp_pair(function: Callable) -> None:
    """Taught in notebook 04, section 3.
    ``function(documents, doc_index, sentence_index, rng, max_length)`` ->
    ``(input_ids, token_type_ids, label)`` should build BERT's sentence pairs."""
    documents = _id_documents()
    rng = random.Random(0)
    calls = []
    try:
        with own_work(function, *_NSP_PAIR_PARTS):  # first every call, then (outside) every check
            for trial in range(2_000):
                d = trial % len(documents)
                s = rng.randrange(len(documents[d]) - 1)
                max_length = rng.choice((8, 12, 64))
                calls.append((d, s, max_length, function(documents, d, s, rng, max_length)))
    except NotImplementedError:
        fail("nsp_pair is not written yet: replace `raise NotImplementedError()` with your code.")
    if documents != _id_documents():
        fail("nsp_pair changed the documents it was given",
             "copy a sentence before shortening it, so the caller's documents stay as they were")
    labels = []
    for d, s, max_length, got in calls:
        call = f"nsp_pair(documents, {d}, {s}, rng, max_length={max_length})"
        if not (isinstance(got, tuple) and len(got) == 3):
            fail(f"{call} should return (input_ids, token_type_ids, label); got {got!r}")
        ids, types, label = list(got[0]), list(got[1]), got[2]
        if label not in (IS_NEXT, NOT_NEXT):
            fail(f"{call}: label {label!r} should be IS_NEXT ({IS_NEXT}) or NOT_NEXT ({NOT_NEXT})")
        if ids[:1] != [CLS] or ids[-1:] != [SEP] or ids.count(SEP) != 2 or len(ids) > max_length:
            fail(f"{call} returned {ids}", f"the shape is [CLS] A [SEP] B [SEP], at most "
                 f"max_length={max_length} tokens in all")
        first_sep = ids.index(SEP)
        a, b = ids[1:first_sep], ids[first_sep + 1 : -1]
        if types != [0] * (len(a) + 2) + [1] * (len(b) + 1):
            fail(f"{call}: token_type_ids {types} for input_ids {ids}",
                 "0 for [CLS] A [SEP], 1 for B [SEP]")
        full_a = documents[d][s]
        if label == IS_NEXT:
            full_b = documents[d][s + 1]
        else:
            origin = b[0] // 1000 if b else None
            if origin is None or origin == d:
                fail(f"{call}: a NOT_NEXT pair should take B from another document; got B = {b}")
            full_b = documents[origin][(b[0] % 1000) // 10]
        if (a, b) != truncate_pair(full_a, full_b, max_length - 3):
            fail(f"{call}: segments A={a}, B={b} (label {label}); sentences were {full_a} and "
                 f"{full_b}", "if too long, drop the last token of the longer segment (of B on "
                 "a tie), one at a time, until [CLS] A [SEP] B [SEP] fits; for IS_NEXT, B is "
                 "the sentence right after A")
        labels.append(label)
    within("share of IS_NEXT pairs", labels.count(IS_NEXT) / len(labels), 0.5, len(labels),
          "B should be the true next sentence half of the time", unit=" pairs")
    print(f"✅ nsp_pair: {len(labels)} pairs well formed, {labels.count(IS_NEXT)} IS_NEXT.")


def check_masked_lm_loss(function: Callable) -> None:
    """Taught in notebook 04, section 4.
    ``function(logits (B, L, V), labels (B, L))`` -> mean cross-entropy over the positions
    whose label is not -100."""
    cases = []
    for seed, (b, length, v) in enumerate([(2, 5, 11), (3, 7, 20), (1, 9, 5)]):
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(b, length, v, generator=g)
        labels = torch.randint(0, v, (b, length), generator=g)
        labels[torch.rand(b, length, generator=g) < 0.6] = IGNORE_INDEX
        labels[0, 0] = 1  # at least one target
        expected = masked_lm_loss(logits.reshape(-1, v), labels.reshape(-1))
        cases.append(Case((logits, labels), expected,
                          hint="treat every position as one row of scores, keep only the rows "
                               "whose label is not -100, and average the cross-entropy over "
                               "those rows alone"))
    run_checks("masked_lm_loss", function, cases, same=tensors_match, explain=explain_tensors,
               forbid=(masked_lm_loss,))


@checker("ClassificationHead")
def check_classification_head(head_class: type) -> None:
    """Taught in notebook 05, section 3.
    ``head_class(d_model, num_labels)`` is an ``nn.Module`` whose ``forward(hidden)`` maps
    ``hidden (B, L, D)`` to logits ``(B, num_labels)`` with one linear layer on ``hidden[:, 0]``."""
    borrowed = [c.__name__ for c in getattr(head_class, "__mro__", ())[1:]
                if (c.__module__ or "").split(".")[0] == "course_utils"]
    if borrowed:
        fail(f"ClassificationHead builds on the package's {borrowed[0]}, not on nn.Module",
             "write the head yourself: a subclass of nn.Module holding one linear layer")
    for d_model, num_labels in ((8, 2), (16, 3)):
        torch.manual_seed(0)
        try:
            head = head_class(d_model, num_labels)
        except NotImplementedError:
            fail("ClassificationHead is not written yet.")
        linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
        if len(linears) != 1 or linears[0].weight.shape != (num_labels, d_model):
            fail(f"ClassificationHead({d_model}, {num_labels}) should hold one "
                 f"nn.Linear({d_model}, {num_labels}); found {linears}",
                 "one linear layer, from the width of a token vector to one score per label")
        hidden = torch.randn(4, 6, d_model)
        with torch.no_grad():
            logits = head.eval()(hidden)
            expected = linears[0](hidden[:, 0])
            other = hidden.clone()
            other[:, 1:] = torch.randn(4, 5, d_model)
            changed = head(other)
        if not tensors_match(logits, expected):
            fail(f"head(hidden) should be the linear layer applied to the [CLS] vector; "
                 f"{explain_tensors(logits, expected)}",
                 "read the [CLS] vector, the first position of every sequence")
        if not torch.allclose(changed, logits):
            fail("the logits changed when tokens other than [CLS] changed",
                 "the head reads the first position only; the other tokens reach it "
                 "through attention, inside the body")
    print("✅ ClassificationHead: one linear layer on the [CLS] vector.")


def check_accuracy(function: Callable) -> None:
    """Taught in notebook 05, section 4.
    ``function(model, data)`` -> the fraction of examples of ``data`` (a
    ``course_utils.finetuning.TaskData``) whose argmax logit is the label, as a Python
    float. The package's ``predict``, ``correct_per_example`` and ``evaluate`` are disabled
    while it runs."""
    from course_utils.finetuning import TaskData, correct_per_example, evaluate, predict

    class Toy(nn.Module):  # logits = a fixed table lookup of the first token, so answers are known
        def __init__(self) -> None:
            super().__init__()
            self.table = nn.Embedding(10, 3)
            self.dropout = nn.Dropout(0.9)  # only in training mode: evaluation must call eval()

        def forward(self, input_ids, token_type_ids=None, attention_mask=None):
            return self.dropout(self.table(input_ids[:, 0]))

    cases = []
    for seed, n in enumerate((7, 40, 300)):
        torch.manual_seed(seed)
        model = Toy()
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(0, 10, (n, 4), generator=g)
        data = TaskData(ids, torch.zeros_like(ids), torch.ones_like(ids),
                        torch.randint(0, 3, (n,), generator=g))
        expected = (predict(model, data) == data.labels).float().mean().item()
        model.train()
        cases.append(Case((model, data), expected,
                          hint="switch the model to evaluation mode first (no dropout), keep "
                               "gradients off, take the highest-scoring label of each example and "
                               "return the share of examples where it is the true one, as a float"))
    run_checks("accuracy", function, cases,
               same=lambda got, expected: isinstance(got, float) and abs(got - expected) < 1e-6,
               explain=lambda got, expected: (f"got a {type(got).__name__}; return a Python float "
                                              f"(a tensor's .item() is one)" if not isinstance(got, float)
                                              else f"got {got:.6f}, expected {expected:.6f}"),
               forbid=(predict, correct_per_example, evaluate))

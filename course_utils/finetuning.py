"""Fine-tuning BERT on the small world's tasks: encode, train, evaluate, compare.

The recipes of the lecture: a linear layer on [CLS] for a sentence (``sentiment``) or a
sentence pair (``nli``), a linear layer on every token (``tagging``); a small learning rate,
a few epochs, all parameters trained. Or, for comparison, a frozen encoder with only the
linear layer trained (a *linear probe*).

>>> from course_utils.data.world import load_task
>>> from course_utils.data.world.vocabulary import world_tokenizer
>>> frames = load_task("sentiment", "smoke")
>>> data = encode_task("sentiment", frames["train"], world_tokenizer(), max_length=32)
>>> data.input_ids.shape[0] == len(frames["train"]), LABELS["sentiment"]
(True, ('negative', 'positive'))
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.config import BertSizes, get_device
from course_utils.models import (
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    ModelConfig,
)
from course_utils.noising import IGNORE_INDEX, pad_batch
from course_utils.tokenization import WordPieceTokenizer
from course_utils.training import train

TASK_FORMATS = {"sentiment": "sentence", "nli": "pair", "tagging": "tokens"}
"""How each task is fed to BERT: one sentence, a sentence pair, or a label per word."""

LABELS = {
    "sentiment": ("negative", "positive"),
    "nli": ("entailment", "neutral", "contradiction"),
    "tagging": ("O", "PER", "CITY", "COUNTRY"),
}
"""The label names of each task; a label's id is its position."""

INITS = ("pretrained", "scratch")
METHODS = ("full", "probe")


class TaskData(NamedTuple):
    """A task as tensors: ``input_ids``, ``token_type_ids``, ``attention_mask`` ``(N, L)``;
    ``labels``: ``(N,)`` for sentence tasks, ``(N, L)`` for tagging (``-100`` on
    [CLS], [SEP], padding and every word piece after a word's first)."""

    input_ids: Tensor
    token_type_ids: Tensor
    attention_mask: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def subset(self, index: Tensor) -> TaskData:
        return TaskData(*(t[index] for t in self))

    def to(self, device: torch.device | str) -> TaskData:
        return TaskData(*(t.to(device) for t in self))


def _check_task(task: str) -> None:
    if task not in TASK_FORMATS:
        raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASK_FORMATS)}")


def encode_task(
    task: str, frame: pd.DataFrame, tokenizer: WordPieceTokenizer, max_length: int
) -> TaskData:
    """``frame`` (a split of :func:`course_utils.data.world.load_task`) as :class:`TaskData`.

    ``sentiment``: ``[CLS] text [SEP]``; ``nli``: ``[CLS] premise [SEP] hypothesis [SEP]``
    with token types 0 and 1; ``tagging``: ``[CLS] words [SEP]`` with each word's tag on its
    first piece. Longer inputs are cut to ``max_length`` tokens.
    """
    _check_task(task)
    ids = tokenizer.token_to_id
    cls, sep, pad = ids["[CLS]"], ids["[SEP]"], ids["[PAD]"]
    label_id = {name: i for i, name in enumerate(LABELS[task])}
    sequences, types, labels = [], [], []
    for row in frame.itertuples():
        if task == "sentiment":
            seq = [cls, *tokenizer.encode(row.text), sep]
            typ = [0] * len(seq)
        elif task == "nli":
            a, b = tokenizer.encode(row.premise), tokenizer.encode(row.hypothesis)
            seq, typ = [cls, *a, sep, *b, sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)
        else:
            seq, tags = [cls], [IGNORE_INDEX]
            for word, tag in zip(row.tokens, row.tags):
                pieces = tokenizer.encode(word)
                seq += pieces
                tags += [label_id[tag]] + [IGNORE_INDEX] * (len(pieces) - 1)
            seq, tags = seq + [sep], tags + [IGNORE_INDEX]
            typ = [0] * len(seq)
            labels.append(tags[:max_length])
        sequences.append(seq[:max_length])
        types.append(typ[:max_length])
        if task != "tagging":
            labels.append(label_id[row.label])
    input_ids, attention_mask = pad_batch(sequences, pad)
    token_type_ids, _ = pad_batch(types, 0)
    if task == "tagging":
        label_tensor, _ = pad_batch(labels, IGNORE_INDEX)
    else:
        label_tensor = torch.tensor(labels)
    return TaskData(input_ids, token_type_ids, attention_mask, label_tensor)


# ---------------------------------------------------------------- models
def classifier_for(
    task: str, body: BertModel | ModelConfig, freeze: bool = False
) -> BertForSequenceClassification | BertForTokenClassification:
    """A fresh linear head for ``task`` on a *copy* of ``body`` (a pretrained
    :class:`BertModel`), or on a randomly initialized body (a :class:`ModelConfig`).

    ``freeze=True`` makes a linear probe: the body's parameters get no gradients.
    """
    _check_task(task)
    num_labels = len(LABELS[task])
    if task == "tagging":
        cls, options = BertForTokenClassification, {}
    else:  # the linear layer reads the [CLS] state itself, not BERT's pooler
        cls, options = BertForSequenceClassification, {"use_pooler": False}
    if isinstance(body, BertModel):
        model = cls.from_pretrained_body(body, num_labels, **options)
    else:
        model = cls(body, num_labels, **options)
    if freeze:
        model.bert.requires_grad_(False)
    return model


def classification_loss(model: nn.Module, batch: TaskData) -> Tensor:
    """Cross-entropy of the model's logits (per sequence or per token; ``-100`` ignored)."""
    logits = model(batch.input_ids, batch.token_type_ids, batch.attention_mask)
    return F.cross_entropy(logits.flatten(0, -2), batch.labels.flatten(), ignore_index=IGNORE_INDEX)


def finetune(
    model: nn.Module,
    data: TaskData,
    epochs: int,
    learning_rate: float,
    batch_size: int = 32,
    seed: int = 0,
    desc: str = "fine-tuning",
) -> list[float]:
    """Train ``model`` on ``data`` for ``epochs`` passes in shuffled mini-batches; return the
    loss of every step. Parameters with ``requires_grad=False`` (a frozen body) stay as they are.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1; got {epochs}, {batch_size}")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(data) / batch_size)
    order: list[Tensor] = []

    def next_batch() -> TaskData:
        if not order:  # a new epoch: a new shuffle
            order.extend(torch.randperm(len(data), generator=generator).split(batch_size))
        return data.subset(order.pop(0)).to(device)

    # A frozen parameter never gets a gradient, and AdamW leaves such parameters alone.
    return train(
        model, next_batch, classification_loss, steps=epochs * steps_per_epoch,
        learning_rate=learning_rate, desc=desc,
    )  # fmt: skip


@torch.no_grad()
def predict(model: nn.Module, data: TaskData, batch_size: int = 256) -> Tensor:
    """Predicted label ids: ``(N,)``, or ``(N, L)`` for tagging."""
    device = next(model.parameters()).device
    model.eval()
    predictions = []
    for start in range(0, len(data), batch_size):
        batch = data.subset(torch.arange(start, min(start + batch_size, len(data)))).to(device)
        logits = model(batch.input_ids, batch.token_type_ids, batch.attention_mask)
        predictions.append(logits.argmax(-1).cpu())
    return torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.long)


def correct_per_example(task: str, predictions: Tensor, labels: Tensor) -> Tensor:
    """Bool ``(N,)``: the label is right; for tagging, every tag of a word that is not ``O``
    (the entities) is right (``O`` is most tags and easy, so it is not counted)."""
    if task != "tagging":
        return predictions == labels
    entity = (labels != IGNORE_INDEX) & (labels != LABELS["tagging"].index("O"))
    wrong = entity & (predictions != labels)
    return ~wrong.any(dim=1)


def evaluate(task: str, model: nn.Module, data: TaskData, frame: pd.DataFrame) -> dict[str, float]:
    """Accuracy on the items whose deciding words the labelled data shows (``seen``), on the
    items that use held-out words (``unseen``), and on all of them."""
    correct = correct_per_example(task, predict(model, data), data.labels).numpy()
    unseen = frame["unseen"].to_numpy(dtype=bool)
    return {
        "seen": float(correct[~unseen].mean()) if (~unseen).any() else float("nan"),
        "unseen": float(correct[unseen].mean()) if unseen.any() else float("nan"),
        "all": float(correct.mean()),
    }


# ---------------------------------------------------------------- the experiment
def run_finetuning(
    task: str,
    frames: dict[str, pd.DataFrame],
    tokenizer: WordPieceTokenizer,
    body: BertModel | ModelConfig,
    sizes: BertSizes,
    method: str = "full",
    seed: int = 0,
    max_length: int = 64,
) -> dict[str, float]:
    """Fine-tune one classifier (``method`` "full" or "probe") and evaluate it on the test
    split. A probe trains only its linear layer, with ``sizes.probe_learning_rate``.
    The work runs on :func:`course_utils.config.get_device` (a GPU when there is one);
    ``body`` itself is copied, never moved."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    torch.manual_seed(seed)
    model = classifier_for(task, body, freeze=method == "probe").to(get_device())
    train_data = encode_task(task, frames["train"], tokenizer, max_length)
    test_data = encode_task(task, frames["test"], tokenizer, max_length)
    start = time.perf_counter()
    lr = sizes.probe_learning_rate if method == "probe" else sizes.finetune_learning_rate
    finetune(
        model, train_data, sizes.finetune_epochs, lr, sizes.finetune_batch_size, seed=seed,
        desc=f"{task} {method} seed {seed}",
    )  # fmt: skip
    return {**evaluate(task, model, test_data, frames["test"]), "seconds": time.perf_counter() - start}


def compare_initializations(
    tasks: Sequence[str],
    pretrained: BertModel,
    scratch_config: ModelConfig,
    tokenizer: WordPieceTokenizer,
    sizes: BertSizes,
    frames: dict[str, dict[str, pd.DataFrame]],
    methods: Sequence[str] = METHODS,
    max_length: int = 64,
) -> pd.DataFrame:
    """One row per task, initialization (pretrained body or random), method and seed:
    test accuracy on seen and unseen items. Summarize it with :func:`summarize`."""
    rows = []
    for task in tasks:
        for init in INITS:
            body = pretrained if init == "pretrained" else scratch_config
            for method in methods:
                for seed in range(sizes.seeds):
                    result = run_finetuning(
                        task, frames[task], tokenizer, body, sizes, method, seed, max_length
                    )
                    rows.append({"task": task, "init": init, "method": method, "seed": seed, **result})
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame, columns: Sequence[str] = ("seen", "unseen")) -> pd.DataFrame:
    """Mean ± standard deviation over seeds of each accuracy column, as text, e.g. ``0.93 ± 0.02``."""
    groups = results.groupby(["task", "init", "method"], sort=False)[list(columns)]
    mean, std = groups.mean(), groups.std(ddof=1).fillna(0.0)
    table = mean.copy().astype(object)
    for column in columns:
        table[column] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean[column], std[column])]
    return table

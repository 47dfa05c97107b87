"""Fine-tuning BERT on the small world's tasks: encode, train, evaluate, compare.

Taught in notebook 05. The recipes of the lecture: a linear layer on [CLS] for a sentence
(``sentiment``) or a sentence pair (``nli``), a linear layer on every token (``tagging``); a
few epochs at a learning rate below pretraining's, all parameters trained, the validation split choosing the
epoch. Or, for comparison, a frozen encoder with only the linear layer trained (a *linear
probe*), and bodies that start from the pretrained model, from its embedding tables only, or
from nothing (``INITS``).

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
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_utils.config import FinetuneSizes, get_device
from course_utils.models import (
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    ModelConfig,
)
from course_utils.noising.batching import pad_batch
from course_utils.noising.masked_lm import IGNORE_INDEX
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

INITS = ("pretrained", "embeddings", "scratch")
"""Where a classifier's body starts: the pretrained BERT; only its embedding tables (token,
position and segment, with their layer norm) and every transformer layer drawn afresh; or
all of it random."""

METHODS = ("full", "probe")
"""Train every parameter, or only the new linear layer on a frozen body (a linear probe)."""

ARMS = (("pretrained", "full"), ("pretrained", "probe"), ("embeddings", "full"),
        ("scratch", "full"), ("scratch", "probe"))
"""The (init, method) settings that notebook 05 compares."""


class TaskData(NamedTuple):
    """Taught in notebook 05, section 3.
    A task as tensors: ``input_ids``, ``token_type_ids``, ``attention_mask`` ``(N, L)``;
    ``labels``: ``(N,)`` for sentence tasks, ``(N, L)`` for tagging (``-100`` on
    [CLS], [SEP], padding and every word piece after a word's first)."""

    input_ids: Tensor
    token_type_ids: Tensor
    attention_mask: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def subset(self, index: Tensor) -> TaskData:
        """Taught in notebook 05, section 3. The examples at ``index``, every tensor alike."""
        return TaskData(*(t[index] for t in self))

    def to(self, device: torch.device | str) -> TaskData:
        return TaskData(*(t.to(device) for t in self))


def _check_task(task: str) -> None:
    if task not in TASK_FORMATS:
        raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASK_FORMATS)}")


def encode_task(
    task: str, frame: pd.DataFrame, tokenizer: WordPieceTokenizer, max_length: int
) -> TaskData:
    """Taught in notebook 05, section 3.
    ``frame`` (a split of ``course_utils.data.world.load_task``) as ``TaskData``.

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
def initial_body(init: str, pretrained: BertModel, seed: int = 0) -> BertModel:
    """Taught in notebook 05, section 5. The body a classifier starts from (see ``INITS``);
    random parts are drawn from ``seed``.

    ``"pretrained"`` returns ``pretrained`` itself (``classifier_for`` copies it);
    ``"scratch"`` a random body of the same shape; ``"embeddings"`` the same random body
    with ``pretrained``'s embedding tables copied in: the static word vectors of
    pretraining without anything it learned about context.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
    if not isinstance(pretrained, BertModel):
        raise ValueError(f"pretrained should be a BertModel (model.bert); got {type(pretrained).__name__}")
    if init == "pretrained":
        return pretrained
    torch.manual_seed(seed)
    body = BertModel(pretrained.config)  # the same random layers for "scratch" and "embeddings"
    if init == "embeddings":
        body.embeddings.load_state_dict(pretrained.embeddings.state_dict())
    return body


def classifier_for(
    task: str, body: BertModel | ModelConfig, freeze: bool = False
) -> BertForSequenceClassification | BertForTokenClassification:
    """Taught in notebook 05, section 3.
    A fresh linear head for ``task`` on a *copy* of ``body`` (a pretrained
    ``BertModel``), or on a randomly initialized body (a ``ModelConfig``).

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


class FinetuneRun(NamedTuple):
    """What ``finetune`` did: the loss of every step, the validation accuracy after each
    epoch (empty without validation data) and the epoch whose weights the model kept."""

    losses: list[float]
    validation: list[float]
    best_epoch: int


def finetune(
    model: nn.Module,
    data: TaskData,
    epochs: int,
    learning_rate: float,
    batch_size: int = 32,
    seed: int = 0,
    desc: str = "fine-tuning",
    validation: TaskData | None = None,
    task: str | None = None,
    epoch_size: int | None = None,
    show_progress: bool = True,
    loss_fn: Callable[[nn.Module, Any], Tensor] | None = None,
    validation_accuracy: Callable[[nn.Module, Any], float] | None = None,
) -> FinetuneRun:
    """Taught in notebook 05, section 4. Train ``model`` on ``data`` for ``epochs`` passes in
    shuffled mini-batches.

    With ``validation`` (and its ``task``), accuracy on it is measured after every epoch and
    the model ends with the weights of the best epoch (the earliest, on a tie): the
    validation split chooses how long to train; the test split is never looked at.
    ``epoch_size`` (default ``len(data)``) is how many examples count as an epoch, so that
    runs on fewer examples can get the same number of steps and checks. Parameters with
    ``requires_grad=False`` (a frozen body) stay as they are. ``loss_fn(model, batch)``
    (default ``classification_loss``) and ``validation_accuracy(model, data)`` (default: the
    share of ``correct_per_example``) let another model family use the same loop (notebook 06's
    GPT does); ``data`` then needs ``len``, ``subset`` and ``to`` as ``TaskData`` has.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1; got {epochs}, {batch_size}")
    if validation is not None and task is None and validation_accuracy is None:
        raise ValueError("validation needs task= (one of " + ", ".join(TASK_FORMATS) + ")")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil((epoch_size or len(data)) / batch_size)
    order: list[Tensor] = []

    def next_batch() -> TaskData:
        if not order:  # a new pass over the data: a new shuffle
            order.extend(torch.randperm(len(data), generator=generator).split(batch_size))
        return data.subset(order.pop(0)).to(device)

    scores: list[float] = []
    best: dict[str, Tensor] = {}

    def after_step(step: int, model: nn.Module) -> None:
        if validation is None or step % steps_per_epoch:
            return
        if validation_accuracy is not None:
            scores.append(validation_accuracy(model, validation))
        else:
            correct = correct_per_example(task, predict(model, validation), validation.labels)
            scores.append(correct.float().mean().item())
        if scores[-1] > max(scores[:-1], default=-1.0):
            best.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        model.train()

    # A frozen parameter never gets a gradient, and AdamW leaves such parameters alone.
    losses = train(
        model, next_batch, loss_fn or classification_loss, steps=epochs * steps_per_epoch,
        learning_rate=learning_rate, desc=desc, callback=after_step, show_progress=show_progress,
        fused=True,
    )  # fmt: skip
    if best:
        model.load_state_dict(best)
    best_epoch = int(np.argmax(scores)) + 1 if scores else epochs
    return FinetuneRun(losses, scores, best_epoch)


def predict(model: nn.Module, data: TaskData, batch_size: int = 256) -> Tensor:
    """Taught in notebook 05, section 4.
    Predicted label ids: ``(N,)``, or ``(N, L)`` for tagging."""
    predictions = _in_batches(model, data, batch_size, lambda logits: logits.argmax(-1))
    return torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.long)


def _in_batches(module: nn.Module, data: TaskData, batch_size: int, read) -> list[Tensor]:
    """``read(module(batch))`` for each batch of ``data``, in eval mode without gradients, on CPU."""
    device = next(module.parameters()).device
    module.eval()
    chunks = []
    for start in range(0, len(data), batch_size):
        batch = data.subset(torch.arange(start, min(start + batch_size, len(data)))).to(device)
        with torch.no_grad():
            chunks.append(read(module(batch.input_ids, batch.token_type_ids, batch.attention_mask)).cpu())
    return chunks


def correct_per_example(task: str, predictions: Tensor, labels: Tensor) -> Tensor:
    """Taught in notebook 05, section 4.
    Bool ``(N,)``: the label is right; for tagging, every tag of a word that is not ``O``
    (the entities) is right (``O`` is most tags and easy, so it is not counted)."""
    if task != "tagging":
        return predictions == labels
    entity = (labels != IGNORE_INDEX) & (labels != LABELS["tagging"].index("O"))
    wrong = entity & (predictions != labels)
    return ~wrong.any(dim=1)


def evaluate(task: str, model: nn.Module, data: TaskData, frame: pd.DataFrame) -> dict[str, float]:
    """Taught in notebook 05, section 4.
    Accuracy on the items whose deciding words the labelled data shows (``seen``), on the
    items that use held-out words (``unseen``), and on all of them. If ``frame`` has a bool
    column ``in_corpus`` (the item occurs verbatim in the pretraining corpus), also on the
    unseen items that do not (``unseen, not in corpus``); for sentence tasks, the number of
    times each label was predicted."""
    predictions = predict(model, data)
    correct = correct_per_example(task, predictions, data.labels).numpy()
    unseen = frame["unseen"].to_numpy(dtype=bool)
    scores = {
        "seen": float(correct[~unseen].mean()) if (~unseen).any() else float("nan"),
        "unseen": float(correct[unseen].mean()) if unseen.any() else float("nan"),
        "all": float(correct.mean()),
    }
    if "in_corpus" in frame:
        fresh = unseen & ~frame["in_corpus"].to_numpy(dtype=bool)
        scores["unseen, not in corpus"] = float(correct[fresh].mean()) if fresh.any() else float("nan")
    if task != "tagging":  # how often each label was predicted: a constant answer shows here
        counts = np.bincount(predictions.numpy(), minlength=len(LABELS[task]))
        scores.update({f"predicted {name}": int(n) for name, n in zip(LABELS[task], counts)})
    return scores


# ---------------------------------------------------------------- linear probes, fast
class _HeadOnFeatures(nn.Module):
    """A classifier's head alone, fed the frozen body's vectors instead of token ids."""

    def __init__(self, model: BertForSequenceClassification | BertForTokenClassification) -> None:
        super().__init__()
        self.dropout, self.classifier = model.dropout, model.classifier

    def forward(self, features: Tensor, token_type_ids: Tensor | None = None,
                attention_mask: Tensor | None = None) -> Tensor:
        return self.classifier(self.dropout(features))  # (B, num_labels) or (B, L, num_labels)


def frozen_features(task: str, body: BertModel, data: TaskData, batch_size: int = 256) -> TaskData:
    """Taught in notebook 05, section 5. ``data`` with ``input_ids`` replaced by what a frozen
    ``body`` gives the head: the
    [CLS] vector ``(N, D)`` for sentence tasks, every token's vector ``(N, L, D)`` for tagging.

    A probe's body never changes, so its vectors can be computed once instead of at every
    step; with dropout 0 (the tiny model's) training the head on them is the same training.
    """
    _check_task(task)
    chunks = _in_batches(body, data, batch_size,  # hidden: (B, L, D); [CLS]: (B, D)
                         lambda out: out.hidden if task == "tagging" else out.hidden[:, 0])
    return TaskData(torch.cat(chunks), data.token_type_ids, data.attention_mask, data.labels)


def standardize_features(train: TaskData, *others: TaskData) -> tuple[TaskData, ...]:
    """Taught in notebook 05, section 5. Every feature dimension shifted and scaled to mean 0,
    std 1, with the mean and std of the *training* split (real tokens only), applied to
    ``train`` and to every split in ``others``.

    A random body's vectors differ from sentence to sentence by a few percent of their
    length; a linear layer trained for a few epochs on them barely moves off one answer.
    Standardised, the same differences are of size 1 and the probe can use them.
    """
    x = train.input_ids
    real = train.attention_mask.bool() if x.dim() == 3 else torch.ones(len(x), dtype=torch.bool)
    rows = x[real]  # (examples or real tokens, D)
    mean, std = rows.mean(0), rows.std(0).clamp_min(1e-6)  # (D,)
    return tuple(TaskData((d.input_ids - mean) / std, *d[1:]) for d in (train, *others))


# ---------------------------------------------------------------- comparing arms
def evidence_threshold(stds: Sequence[float], means: Sequence[float], n: int) -> float:
    """Taught in notebook 05, section 5. How large a difference (a sum of arm means with
    signs +1/-1) must be before notebook 05 calls it evidence: the sum of the arms' standard
    deviations over seeds, but at least twice the binomial standard error of that difference
    on ``n`` test items (the items are a sample too, and three seeds at 100 % show no
    spread), and never below two items' worth (``2 / n``). A heuristic, not a significance test.

    >>> round(evidence_threshold([0.0, 0.004], [1.0, 0.996], 150), 4)  # two items of 150
    0.0133
    >>> round(evidence_threshold([0.0, 0.0], [0.9, 0.8], 150), 3)  # binomial standard error
    0.082
    """
    if n < 1 or len(stds) != len(means):
        raise ValueError(f"need n >= 1 and one std per mean; got n={n}, {len(stds)} stds, {len(means)} means")
    spread = float(np.nansum(stds))
    standard_error = math.sqrt(sum(min(max(p, 0.0), 1.0) * (1 - min(max(p, 0.0), 1.0)) / n for p in means))
    return max(spread, 2 * max(standard_error, 1 / n))


def compare_arms(results: pd.DataFrame, column: str, first: tuple[str, str], second: tuple[str, str],
                 items: dict[str, int]) -> pd.DataFrame:
    """Taught in notebook 05, section 5. Per task: mean difference of ``column`` between two
    arms (init, method) of ``compare_initializations``, the threshold of
    ``evidence_threshold`` (``items[task]`` test items in ``column``) and the verdict."""
    rows = {}
    for task in results["task"].unique():
        arm = lambda init, method: results[(results.task == task) & (results.init == init)  # noqa: E731
                                           & (results.method == method)][column]
        a, b = arm(*first), arm(*second)
        if a.empty or b.empty:
            raise KeyError(f"no runs of {first} or {second} for {task!r}")
        difference = a.mean() - b.mean()
        threshold = evidence_threshold([a.std(ddof=1), b.std(ddof=1)], [a.mean(), b.mean()], items[task])
        rows[task] = {"difference": difference, "threshold": threshold,
                      "verdict": "evidence" if abs(difference) > threshold else "no evidence"}
    return pd.DataFrame(rows).T


# ---------------------------------------------------------------- the experiment
def encode_splits(
    task: str, frames: dict[str, pd.DataFrame], tokenizer: WordPieceTokenizer, max_length: int
) -> dict[str, TaskData]:
    """The ``train``, ``validation`` and ``test`` splits of ``frames``, each encoded once
    with ``encode_task``."""
    return {split: encode_task(task, frames[split], tokenizer, max_length)
            for split in ("train", "validation", "test")}


def training_subset(data: Any, frame: pd.DataFrame, train_size: int | None, seed: int) -> Any:
    """The ``train_size`` examples of the encoded training split ``data`` (rows of ``frame``)
    that a run with ``seed`` keeps; all of them when ``train_size`` is None."""
    if train_size is None:
        return data
    if not 1 <= train_size <= len(data):
        raise ValueError(f"train_size must be between 1 and {len(data)}; got {train_size}")
    kept = frame.sample(n=train_size, random_state=seed).index
    return data.subset(torch.as_tensor(frame.index.get_indexer(kept)))


def run_finetuning(
    task: str,
    frames: dict[str, pd.DataFrame],
    tokenizer: WordPieceTokenizer,
    pretrained: BertModel,
    sizes: FinetuneSizes,
    init: str = "pretrained",
    method: str = "full",
    seed: int = 0,
    train_size: int | None = None,
    show_progress: bool = True,
    standardize: bool = True,
    encoded: dict[str, TaskData] | None = None,
) -> dict[str, float]:
    """Taught in notebook 05, section 5. Fine-tune one classifier and evaluate it on the test split.

    ``init`` (see ``INITS``) picks the starting body, ``method`` "full" or "probe" (only
    the linear layer trains, with ``sizes.probe_learning_rate``). ``seed`` draws the head, the
    random parts of the body, the order of the batches and, with ``train_size``, which
    training examples are kept; every run gets the steps of ``sizes.epochs`` full epochs,
    and the validation split picks the epoch that is kept (``finetune``). The work runs on
    ``course_utils.config.get_device``; ``pretrained`` itself is copied, never moved.
    A probe reads the frozen vectors standardised (``standardize_features``) unless
    ``standardize=False``. ``encoded`` (from ``encode_splits``) saves encoding the
    same splits again in every run of an experiment.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    torch.manual_seed(seed)
    body = initial_body(init, pretrained, seed)
    model = classifier_for(task, body, freeze=method == "probe").to(get_device())
    splits = encoded if encoded is not None else encode_splits(task, frames, tokenizer, sizes.max_length)
    train_data, validation, test_data = splits["train"], splits["validation"], splits["test"]
    train_data = training_subset(train_data, frames["train"], train_size, seed)
    start = time.perf_counter()
    lr = sizes.probe_learning_rate if method == "probe" else sizes.learning_rate
    trained = model
    if method == "probe":  # the frozen body's vectors once, then only the head trains
        if model.dropout.p > 0:
            raise ValueError("a probe on cached vectors needs a body without dropout")
        features = [frozen_features(task, model.bert, d) for d in (train_data, validation, test_data)]
        train_data, validation, test_data = standardize_features(*features) if standardize else features
        trained = _HeadOnFeatures(model)
    run = finetune(
        trained, train_data, sizes.epochs, lr, sizes.batch_size, seed=seed,
        desc=f"{task} {init} {method} seed {seed}", validation=validation, task=task,
        epoch_size=len(frames["train"]), show_progress=show_progress,
    )  # fmt: skip
    return {**evaluate(task, trained, test_data, frames["test"]), "best epoch": run.best_epoch,
            "validation": max(run.validation), "seconds": time.perf_counter() - start}


def compare_initializations(
    tasks: Sequence[str],
    pretrained: BertModel,
    tokenizer: WordPieceTokenizer,
    sizes: FinetuneSizes,
    frames: dict[str, dict[str, pd.DataFrame]],
    arms: Sequence[tuple[str, str]] = ARMS,
    train_sizes: Sequence[int | None] = (None,),
    desc: str = "fine-tuning runs",
) -> pd.DataFrame:
    """Taught in notebook 05, sections 5 and 6. One row per task, training-set size, arm
    (init, method) and seed (``sizes.seeds`` of
    them): test accuracy on seen and unseen items. One progress bar counts the runs.
    Summarize it with ``summarize``."""
    for init, method in arms:
        if init not in INITS or method not in METHODS:
            raise ValueError(f"unknown arm {(init, method)!r}; inits: {', '.join(INITS)}; "
                             f"methods: {', '.join(METHODS)}")
    runs = [(task, n, init, method, seed) for task in tasks for n in train_sizes
            for init, method in arms for seed in range(sizes.seeds)]
    encoded = {task: encode_splits(task, frames[task], tokenizer, sizes.max_length) for task in tasks}
    rows = []
    for task, n, init, method, seed in tqdm(runs, desc=desc):
        result = run_finetuning(task, frames[task], tokenizer, pretrained, sizes, init, method, seed,
                                train_size=n, show_progress=False, encoded=encoded[task])
        examples = len(frames[task]["train"]) if n is None else n
        rows.append({"task": task, "examples": examples, "init": init, "method": method, "seed": seed,
                     **result})
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame, columns: Sequence[str] = ("seen", "unseen")) -> pd.DataFrame:
    """Taught in notebook 05, section 5.
    Mean ± standard deviation over seeds of each accuracy column, as text, e.g. ``0.93 ± 0.02``."""
    groups = results.groupby(["task", "init", "method"], sort=False)[list(columns)]
    mean, std = groups.mean(), groups.std(ddof=1).fillna(0.0)
    table = mean.copy().astype(object)
    for column in columns:
        table[column] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean[column], std[column])]
    return table

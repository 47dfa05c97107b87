"""Fine-tuning a GPT as GPT-1 did: task inputs as one token sequence, the classifier on its last
token, and the language-modelling loss kept as an auxiliary objective.

Taught in notebook 06 (fine-tuning). GPT-1 (Radford et al., 2018, figure 1) changes the
*inputs*, not the model: every task becomes one or more sequences that start with
``<|start|>`` and end with ``<|extract|>``; the classifier ``y = A h_T + b`` reads the last
layer's hidden state at that last token. Two-part inputs put ``<|delim|>`` between the parts:

* classification: ``<|start|> text <|extract|>``
* entailment: ``<|start|> premise <|delim|> hypothesis <|extract|>``
* similarity: both orderings ``a <|delim|> b`` and ``b <|delim|> a``, their two last hidden
  states added before the linear layer (a pair has no order)
* multiple choice: one sequence ``<|start|> context <|delim|> answer <|extract|>`` per answer,
  one score per sequence, a softmax over the answers.

The loss is ``L3 = L2 + lambda * L1``: the classification loss plus ``lambda`` times the
next-token loss on the same inputs (``lambda = 0.5`` in the paper; 0 gives ``L2`` alone).

>>> tok = gpt_tokenizer()
>>> ids = entailment_ids(tok.encode("ann is happy ."), tok.encode("ann is sad ."), tok)
>>> tok.decode(ids)
'<|start|> ann is happy . <|delim|> ann is sad . <|extract|>'
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.config import GPTSizes, get_device
from course_utils.finetuning import LABELS, FinetuneRun, finetune, training_subset
from course_utils.lm import GPT_SPECIAL_TOKENS, gpt_tokenizer, next_token_loss, tiny_gpt_config
from course_utils.models import GPTForSequenceClassification, GPTModel, ModelConfig
from course_utils.models.heads import last_token_positions
from course_utils.noising.batching import pad_batch
from course_utils.tokenization import WordPieceTokenizer

END_OF_TEXT, START, DELIMITER, EXTRACT = GPT_SPECIAL_TOKENS

GPT_TASK_FORMATS = {"sentiment": "classification", "nli": "entailment", "multiple_choice": "multiple_choice"}
"""How each small-world task is fed to the GPT (the small world has no similarity task;
``similarity_ids`` and the ``"similarity"`` layout are there for any pair task without order)."""

GPT_LABELS = {"sentiment": LABELS["sentiment"], "nli": LABELS["nli"], "multiple_choice": ("choice0", "choice1")}
"""The label names of each task; a label's id is its position (for multiple choice: the answer's)."""

LAYOUTS = ("classification", "entailment", "similarity", "multiple_choice")
"""GPT-1's four input transformations."""


# ---------------------------------------------------------------- the input transformations
def _special(tokenizer: WordPieceTokenizer) -> tuple[int, int, int]:
    missing = [t for t in (START, DELIMITER, EXTRACT) if t not in tokenizer.token_to_id]
    if missing:
        raise KeyError(f"the tokenizer lacks {missing}; use course_utils.lm.gpt_tokenizer()")
    ids = tokenizer.token_to_id
    return ids[START], ids[DELIMITER], ids[EXTRACT]


def classification_ids(text: Sequence[int], tokenizer: WordPieceTokenizer, max_length: int | None = None) -> list[int]:
    """Taught in notebook 06 (fine-tuning). ``<|start|> text <|extract|>``, as token ids;
    with ``max_length`` the text is cut so that ``<|extract|>`` stays the last token."""
    start, _, extract = _special(tokenizer)
    return [start, *_cut(list(text), max_length, 2), extract]


def entailment_ids(first: Sequence[int], second: Sequence[int], tokenizer: WordPieceTokenizer,
                   max_length: int | None = None) -> list[int]:
    """Taught in notebook 06 (fine-tuning). ``<|start|> first <|delim|> second <|extract|>``
    (premise and hypothesis, or context and answer); with ``max_length`` the first part is cut
    from its start, so the second part and ``<|extract|>`` always fit."""
    start, delimiter, extract = _special(tokenizer)
    second = _cut(list(second), max_length, 3)
    first = list(first) if max_length is None else list(first)[max(0, len(first) + len(second) + 3 - max_length):]
    return [start, *first, delimiter, *second, extract]


def similarity_ids(first: Sequence[int], second: Sequence[int], tokenizer: WordPieceTokenizer,
                   max_length: int | None = None) -> list[list[int]]:
    """Taught in notebook 06 (fine-tuning). The two orderings of a pair without order:
    ``[<|start|> a <|delim|> b <|extract|>, <|start|> b <|delim|> a <|extract|>]``."""
    return [entailment_ids(first, second, tokenizer, max_length), entailment_ids(second, first, tokenizer, max_length)]


def multiple_choice_ids(context: Sequence[int], answers: Sequence[Sequence[int]], tokenizer: WordPieceTokenizer,
                        max_length: int | None = None) -> list[list[int]]:
    """Taught in notebook 06 (fine-tuning). One sequence per answer:
    ``<|start|> context <|delim|> answer <|extract|>``."""
    return [entailment_ids(context, answer, tokenizer, max_length) for answer in answers]


def _cut(ids: list[int], max_length: int | None, specials: int) -> list[int]:
    if max_length is None:
        return ids
    if max_length <= specials:
        raise ValueError(f"max_length={max_length} leaves no room for text beside {specials} special tokens")
    return ids[: max_length - specials]


# ---------------------------------------------------------------- tasks as tensors
class GPTTaskData(NamedTuple):
    """Taught in notebook 06 (fine-tuning). A task as tensors, right-padded: ``input_ids`` and
    ``attention_mask`` (1 real, 0 padding) are ``(N, L)`` for one sequence per example and
    ``(N, R, L)`` for ``R`` sequences per example (2 orderings, or one per answer);
    ``labels (N,)``."""

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def subset(self, index: Tensor) -> GPTTaskData:
        """The examples at ``index``, every tensor alike."""
        return GPTTaskData(*(t[index] for t in self))

    def to(self, device: torch.device | str) -> GPTTaskData:
        return GPTTaskData(*(t.to(device) for t in self))


def pad_sequences(
    rows: Sequence[Sequence[Sequence[int]]] | Sequence[Sequence[int]], pad_id: int
) -> tuple[Tensor, Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask``: ``(N, L)`` from N sequences, or
    ``(N, R, L)`` from N lists of R sequences each (all padded to the longest)."""
    if rows and rows[0] and isinstance(rows[0][0], (list, tuple)):
        per_example = len(rows[0])
        if any(len(row) != per_example for row in rows):
            raise ValueError(f"every example needs the same number of sequences; the first has {per_example}")
        ids, mask = pad_batch([seq for row in rows for seq in row], pad_id)  # (N * R, L)
        return ids.view(len(rows), per_example, -1), mask.view(len(rows), per_example, -1)
    return pad_batch(list(rows), pad_id)


def encode_gpt_task(task: str, frame: pd.DataFrame, tokenizer: WordPieceTokenizer, max_length: int) -> GPTTaskData:
    """Taught in notebook 06 (fine-tuning). ``frame`` (a split of
    ``course_utils.data.world.load_task``) in GPT-1's input format (see ``GPT_TASK_FORMATS``):
    ``sentiment`` as classification, ``nli`` as entailment, ``multiple_choice`` as one sequence
    per answer with the context ``premise question``. Padding is ``<|endoftext|>``, masked out.
    """
    _check_task(task)
    pad = tokenizer.token_to_id[END_OF_TEXT]
    rows, labels = [], []
    for row in frame.itertuples():
        if task == "sentiment":
            rows.append(classification_ids(tokenizer.encode(row.text), tokenizer, max_length))
            labels.append(GPT_LABELS[task].index(row.label))
        elif task == "nli":
            rows.append(entailment_ids(tokenizer.encode(row.premise), tokenizer.encode(row.hypothesis),
                                       tokenizer, max_length))
            labels.append(GPT_LABELS[task].index(row.label))
        else:
            context = tokenizer.encode(f"{row.premise} {row.question}")
            answers = [tokenizer.encode(row.choice0), tokenizer.encode(row.choice1)]
            rows.append(multiple_choice_ids(context, answers, tokenizer, max_length))
            labels.append(int(row.label))
    input_ids, attention_mask = pad_sequences(rows, pad)
    return GPTTaskData(input_ids, attention_mask, torch.tensor(labels))


def _check_task(task: str) -> None:
    if task not in GPT_TASK_FORMATS:
        raise ValueError(f"unknown task {task!r}; allowed: {', '.join(GPT_TASK_FORMATS)}")


# ---------------------------------------------------------------- the model and the loss
def gpt_classifier(task: str, pretrained: GPTModel | ModelConfig) -> GPTForSequenceClassification:
    """Taught in notebook 06 (fine-tuning). A fresh linear layer for ``task`` on a *copy* of the
    pretrained ``GPTModel``, or on a random body (a ``ModelConfig``). Multiple choice gets one
    output, the score of one answer's sequence."""
    _check_task(task)
    num_labels = 1 if GPT_TASK_FORMATS[task] == "multiple_choice" else len(GPT_LABELS[task])
    if isinstance(pretrained, GPTModel):
        return GPTForSequenceClassification.from_pretrained_body(pretrained, num_labels)
    return GPTForSequenceClassification(pretrained, num_labels)


class TaskOutput(NamedTuple):
    """``logits (N, K)``: one score per label (classification, entailment, similarity) or per
    answer (multiple choice); ``lm_logits (N * R, L, V)`` for the auxiliary loss, or None."""

    logits: Tensor
    lm_logits: Tensor | None


def task_logits(layout: str, model: GPTForSequenceClassification, input_ids: Tensor,
                attention_mask: Tensor, need_lm_logits: bool = False) -> TaskOutput:
    """Taught in notebook 06 (fine-tuning). The scores of GPT-1's four layouts from one body.

    Every sequence is read by the body; ``h`` is its last real token's hidden state. Then
    classification and entailment: ``A h + b``; similarity: ``A (h_ab + h_ba) + b``;
    multiple choice: ``A h_answer + b`` per answer, side by side (a softmax over them is the
    cross-entropy of the loss).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; allowed: {', '.join(LAYOUTS)}")
    rows = 1 if input_ids.dim() == 2 else input_ids.shape[1]  # sequences per example
    if (input_ids.dim() == 3) != (layout in ("similarity", "multiple_choice")):
        raise ValueError(f"layout {layout!r} needs input_ids of shape "
                         f"{'(N, R, L)' if layout in ('similarity', 'multiple_choice') else '(N, L)'}; "
                         f"got {tuple(input_ids.shape)}")
    ids, mask = input_ids.reshape(-1, input_ids.shape[-1]), attention_mask.reshape(-1, input_ids.shape[-1])
    hidden = model.gpt.hidden_states(ids, mask).hidden  # (N * R, L, D)
    last = last_token_positions(ids, mask)  # (N * R,): the <|extract|> token
    h = hidden[torch.arange(len(ids), device=ids.device), last].view(len(input_ids), rows, -1)  # (N, R, D)
    if layout == "similarity":
        logits = model.classifier(model.dropout(h.sum(1)))  # both orderings added: (N, K)
    elif layout == "multiple_choice":
        logits = model.classifier(model.dropout(h)).squeeze(-1)  # one score per answer: (N, R)
    else:
        logits = model.classifier(model.dropout(h[:, 0]))  # y = A h_T + b: (N, K)
    return TaskOutput(logits, model.gpt.lm_head(hidden) if need_lm_logits else None)  # (N * R, L, V)


def gpt1_loss(task: str, model: GPTForSequenceClassification, batch: GPTTaskData, lm_weight: float) -> Tensor:
    """Taught in notebook 06 (fine-tuning). GPT-1's ``L3 = L2 + lm_weight * L1``: the
    cross-entropy of the task's scores against ``batch.labels`` (L2) plus ``lm_weight`` times the
    next-token loss on the same inputs (L1, padding excluded). ``lm_weight=0`` is L2 alone
    (the LM logits are then not even computed)."""
    if lm_weight < 0:
        raise ValueError(f"lm_weight must be >= 0; got {lm_weight}")
    out = task_logits(GPT_TASK_FORMATS[task], model, batch.input_ids, batch.attention_mask,
                      need_lm_logits=lm_weight > 0)
    l2 = F.cross_entropy(out.logits, batch.labels)
    if lm_weight == 0:
        return l2
    length = batch.input_ids.shape[-1]
    l1 = next_token_loss(out.lm_logits, batch.input_ids.reshape(-1, length), batch.attention_mask.reshape(-1, length))
    return l2 + lm_weight * l1


# ---------------------------------------------------------------- training and evaluation
@torch.no_grad()
def gpt_predict(task: str, model: GPTForSequenceClassification, data: GPTTaskData, batch_size: int = 256) -> Tensor:
    """Taught in notebook 06 (fine-tuning). Predicted label ids ``(N,)`` (for multiple choice,
    the answer with the highest score), in eval mode, on the CPU."""
    device = next(model.parameters()).device
    model.eval()
    chunks = []
    for start in range(0, len(data), batch_size):
        batch = data.subset(torch.arange(start, min(start + batch_size, len(data)))).to(device)
        out = task_logits(GPT_TASK_FORMATS[task], model, batch.input_ids, batch.attention_mask)
        chunks.append(out.logits.argmax(-1).cpu())
    return torch.cat(chunks) if chunks else torch.empty(0, dtype=torch.long)


def gpt_finetune(
    task: str,
    model: GPTForSequenceClassification,
    data: GPTTaskData,
    sizes: GPTSizes,
    lm_weight: float | None = None,
    seed: int = 0,
    validation: GPTTaskData | None = None,
    epoch_size: int | None = None,
    show_progress: bool = True,
    desc: str = "fine-tuning the GPT",
) -> FinetuneRun:
    """Taught in notebook 06 (fine-tuning). Train ``model`` on ``data`` with ``gpt1_loss`` for
    ``sizes.finetune_epochs`` passes in shuffled mini-batches (``lm_weight`` defaults to
    ``sizes.lm_weight``). As ``course_utils.finetuning.finetune`` does for BERT: with
    ``validation``, accuracy on it is read after each epoch and the model keeps the weights of
    the best epoch (the earliest, on a tie); ``epoch_size`` (default ``len(data)``) is how many
    examples count as an epoch, so smaller training sets get the same number of steps."""
    _check_task(task)
    lm_weight = sizes.lm_weight if lm_weight is None else lm_weight
    return finetune(
        model, data, sizes.finetune_epochs, sizes.finetune_learning_rate, sizes.finetune_batch_size,
        seed=seed, desc=desc, validation=validation, epoch_size=epoch_size, show_progress=show_progress,
        loss_fn=lambda model, batch: gpt1_loss(task, model, batch, lm_weight),
        validation_accuracy=lambda model, data: (gpt_predict(task, model, data) == data.labels).float().mean().item(),
    )  # fmt: skip


def gpt_evaluate(
    task: str, model: GPTForSequenceClassification, data: GPTTaskData, frame: pd.DataFrame
) -> dict[str, float]:
    """Taught in notebook 06 (fine-tuning). Test accuracy on the items whose deciding words the
    labelled data shows (``seen``), on those with held-out words (``unseen``) and on all, as
    ``course_utils.finetuning.evaluate`` reports it; plus how often each label was predicted."""
    predictions = gpt_predict(task, model, data)
    correct = (predictions == data.labels).numpy()
    unseen = frame["unseen"].to_numpy(dtype=bool)
    scores = {
        "seen": float(correct[~unseen].mean()) if (~unseen).any() else float("nan"),
        "unseen": float(correct[unseen].mean()) if unseen.any() else float("nan"),
        "all": float(correct.mean()),
    }
    counts = np.bincount(predictions.numpy(), minlength=len(GPT_LABELS[task]))
    scores.update({f"predicted {name}": int(n) for name, n in zip(GPT_LABELS[task], counts)})
    return scores


def encode_gpt_splits(task: str, frames: dict[str, pd.DataFrame], tokenizer: WordPieceTokenizer,
                      max_length: int) -> dict[str, GPTTaskData]:
    """The ``train``, ``validation`` and ``test`` splits of ``frames``, each encoded once."""
    return {split: encode_gpt_task(task, frames[split], tokenizer, max_length)
            for split in ("train", "validation", "test")}


def run_gpt_finetuning(
    task: str,
    frames: dict[str, pd.DataFrame],
    tokenizer: WordPieceTokenizer,
    pretrained: GPTModel | None,
    sizes: GPTSizes,
    seed: int = 0,
    lm_weight: float | None = None,
    train_size: int | None = None,
    show_progress: bool = True,
    encoded: dict[str, GPTTaskData] | None = None,
) -> dict[str, float]:
    """Taught in notebook 06 (fine-tuning). Fine-tune one GPT classifier and evaluate it on the
    test split: one cell of the paper's ablation table.

    ``pretrained``: the pretrained ``GPTModel`` (copied, never changed), or None for a random
    body of the same shape (``tiny_gpt_config(len(tokenizer.vocab), sizes)``), "scratch".
    ``lm_weight`` (default ``sizes.lm_weight``) is lambda of L3; 0 trains on L2 alone. ``seed``
    draws the head, the random body, the batches' order and, with ``train_size``, which
    training examples are kept; every run gets the steps of ``sizes.finetune_epochs`` full
    epochs and the validation split picks the epoch kept. ``encoded`` (from
    ``encode_gpt_splits``) saves encoding the splits again in every run. Returns the
    accuracies (``seen``, ``unseen``, ``all``), the label counts, ``best epoch``,
    ``validation`` and ``seconds``.
    """
    _check_task(task)
    if pretrained is not None and not isinstance(pretrained, GPTModel):
        raise ValueError(f"pretrained must be a GPTModel or None (a random body); got {type(pretrained).__name__}")
    torch.manual_seed(seed)
    body = pretrained if pretrained is not None else tiny_gpt_config(len(tokenizer.vocab), sizes)
    model = gpt_classifier(task, body).to(get_device())
    splits = encoded if encoded is not None else encode_gpt_splits(task, frames, tokenizer, sizes.max_length)
    train_data, validation, test_data = splits["train"], splits["validation"], splits["test"]
    train_data = training_subset(train_data, frames["train"], train_size, seed)
    start = time.perf_counter()
    init = "pretrained" if pretrained is not None else "scratch"
    run = gpt_finetune(
        task, model, train_data, sizes, lm_weight=lm_weight, seed=seed, validation=validation,
        epoch_size=len(frames["train"]), show_progress=show_progress,
        desc=f"{task} {init} lambda={sizes.lm_weight if lm_weight is None else lm_weight} seed {seed}",
    )  # fmt: skip
    return {**gpt_evaluate(task, model, test_data, frames["test"]), "best epoch": run.best_epoch,
            "validation": max(run.validation), "seconds": time.perf_counter() - start}

"""T5's objective table in miniature: encoder-decoder or decoder-only, denoising or language model.

Taught in notebook 07. Raffel et al. (2020, table 2) pretrained several architectures with
several objectives at one budget and fine-tuned each on the same tasks. Here the same
question is asked of the small world, with four arms:

=================  ==========================================================================
architecture       an ``EncoderDecoderModel`` (the encoder reads the input, the decoder writes
                   the target), or a ``GPTModel`` with twice as many layers that reads the
                   input and then writes the target in one causal sequence
objective          ``"denoising"``: T5's span corruption; ``"language model"``: the text cut
                   at a random point, the first part read and the rest written (``prefix_lm``)
=================  ==========================================================================

Both architectures share every other choice (learned positions, pre-LN, GELU, tied
embeddings, the sizes of ``Seq2SeqSizes``), both read the same pairs and are scored on the
same target tokens, and each arm gets the same steps of the same batch size. Only the
architecture and the objective differ. The decoder-only model sees one sequence::

    input ids   x1 x2 </s> y1 y2 </s>          (the source, then the target)
    labels      -  -   -   y1 y2 </s>          (IGNORE_INDEX over the source)

and position ``t`` is scored against ``labels[t + 1]``, so it writes the target as the
encoder-decoder's decoder does, while reading the source with a causal mask instead of a
bidirectional encoder.

>>> from course_utils.seq2seq import seq2seq_batch
>>> pairs = seq2seq_batch([([5, 6, 1], [7, 1]), ([5, 1], [7, 8, 1])], pad_id=0)
>>> joined = decoder_only_batch(pairs, pad_id=0)
>>> joined.input_ids.tolist()
[[5, 6, 1, 7, 1], [5, 1, 7, 8, 1]]
>>> joined.labels.tolist()
[[-100, -100, -100, 7, 1], [-100, -100, 7, 8, 1]]
"""

from __future__ import annotations

import time
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.checkpoints import cached_model, checkpoint_key
from course_utils.config import Scale, Seq2SeqSizes, get_scale
from course_utils.decoding import generate
from course_utils.finetuning import finetune
from course_utils.models import EncoderDecoderModel, GPTModel, ModelConfig, count_parameters
from course_utils.noising.batching import pad_batch
from course_utils.noising.masked_lm import IGNORE_INDEX
from course_utils.seq2seq import (
    EOS_TOKEN,
    PAD_TOKEN,
    DenoisingData,
    Seq2SeqBatch,
    encode_text_to_text,
    exact_match,
    seq2seq_loss,
    seq2seq_tokenizer,
    split_chunks,
    world_chunks,
)
from course_utils.tokenization import WordPieceTokenizer

ARCHITECTURES = ("encoder-decoder", "decoder-only")
"""The two architectures of the table."""

TABLE_OBJECTIVES = {"denoising": "span_corruption", "language model": "prefix_lm"}
"""The table's objectives, and the ``course_utils.seq2seq.noised_pair`` objective each uses."""

OBJECTIVES_CHECKPOINT_VERSION = 1
"""Bump when the recipe of ``pretrained_arm`` changes in a way the sizes do not show."""


# ---------------------------------------------------------------- one sequence for a decoder
class DecoderOnlyBatch(NamedTuple):
    """Taught in notebook 07. Source and target in one row: ``input_ids``, ``attention_mask``
    and ``labels``, all ``(B, L)``, right-padded; ``labels`` hold the target's ids where the
    target sits and ``IGNORE_INDEX`` elsewhere (the source and the padding)."""

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def subset(self, index: Tensor) -> DecoderOnlyBatch:
        """The rows at ``index``, cut to the longest among them."""
        input_ids, attention_mask, labels = (t[index] for t in self)
        length = max(1, int(attention_mask.sum(1).max())) if len(input_ids) else 1
        return DecoderOnlyBatch(input_ids[:, :length], attention_mask[:, :length], labels[:, :length])

    def to(self, device: torch.device | str) -> DecoderOnlyBatch:
        return DecoderOnlyBatch(*(t.to(device) for t in self))


def decoder_only_batch(batch: Seq2SeqBatch, pad_id: int) -> DecoderOnlyBatch:
    """Taught in notebook 07. Each (input, target) pair of ``batch`` as one row for a
    decoder-only model: the input's real tokens, then the target's, right-padded with
    ``pad_id``; the labels keep the target only (see the module's example)."""
    if not isinstance(batch, Seq2SeqBatch):
        raise ValueError(f"batch must be a Seq2SeqBatch (course_utils.seq2seq); got {type(batch).__name__}")
    rows, label_rows = [], []
    for input_ids, mask, labels in zip(*batch):
        source = input_ids[mask.bool()].tolist()
        target = labels[labels != IGNORE_INDEX].tolist()
        rows.append(source + target)
        label_rows.append([IGNORE_INDEX] * len(source) + target)
    input_ids, attention_mask = pad_batch(rows, pad_id)  # (B, L) each
    labels, _ = pad_batch(label_rows, IGNORE_INDEX)  # (B, L)
    return DecoderOnlyBatch(input_ids, attention_mask, labels)


def decoder_only_loss(model: nn.Module, batch: DecoderOnlyBatch) -> Tensor:
    """Taught in notebook 07. The mean cross-entropy of every target token, each predicted
    from the position before it (the source and the target tokens before it): the same
    tokens as ``seq2seq_loss`` scores for the encoder-decoder."""
    logits = model(batch.input_ids, attention_mask=batch.attention_mask).logits  # (B, L, V)
    predictions = logits[:, :-1].flatten(0, 1)  # (B*(L-1), V): position t predicts token t+1
    targets = batch.labels[:, 1:].flatten()  # (B*(L-1),)
    return F.cross_entropy(predictions, targets, ignore_index=IGNORE_INDEX)


@torch.no_grad()
def decoder_only_generate_ids(
    model: GPTModel, data: DecoderOnlyBatch, eos_id: int, max_new_tokens: int = Seq2SeqSizes.max_new_tokens
) -> list[list[int]]:
    """Taught in notebook 07. Greedy decoding after each row's source (the tokens before its
    first label): the ids written, up to and with the first ``eos_id``. Sources of one length
    are decoded together, so no row needs padding and every position is where training put it."""
    sources = []
    for input_ids, mask, labels in zip(*data):
        target_positions = (labels != IGNORE_INDEX).nonzero()
        start = int(target_positions[0]) if len(target_positions) else int(mask.sum())
        sources.append(input_ids[:start].tolist())
    device = next(model.parameters()).device
    written: list[list[int]] = [[] for _ in sources]
    by_length: dict[int, list[int]] = {}
    for row, source in enumerate(sources):
        by_length.setdefault(len(source), []).append(row)
    for length, rows in by_length.items():
        prompts = torch.tensor([sources[row] for row in rows], device=device)  # (b, length)
        room = min(max_new_tokens, model.config.max_positions - length)
        out = generate(model, prompts, room, eos_id=eos_id)[:, length:].tolist()  # (b, new)
        for row, new in zip(rows, out):
            written[row] = new[: new.index(eos_id) + 1] if eos_id in new else new
    return written


def decoder_only_exact_match(
    model: GPTModel, data: DecoderOnlyBatch, eos_id: int, max_new_tokens: int = Seq2SeqSizes.max_new_tokens
) -> Tensor:
    """Taught in notebook 07. Bool ``(N,)``: greedy decoding writes exactly the target's
    tokens, its ``</s>`` included (``course_utils.seq2seq.exact_match`` for a decoder-only model)."""
    targets = [row[row != IGNORE_INDEX].tolist() for row in data.labels]
    written = decoder_only_generate_ids(model, data, eos_id, max_new_tokens)
    return torch.tensor([w == t for w, t in zip(written, targets)])


# ---------------------------------------------------------------- the four arms
def arm_config(architecture: str, vocab_size: int, sizes: Seq2SeqSizes) -> ModelConfig:
    """Taught in notebook 07. The model of one arm: an encoder-decoder with
    ``table_num_layers`` layers in each stack, or a decoder with twice as many (and room for
    an input and a target in one sequence). Every other choice is shared."""
    _check_architecture(architecture)
    shared = dict(vocab_size=vocab_size, d_model=sizes.d_model, num_heads=sizes.num_heads, d_ff=sizes.d_ff,
                  norm_first=True, final_norm=True, tie_embeddings=True, activation="gelu", positions="learned")
    if architecture == "encoder-decoder":
        return ModelConfig(arch="encoder-decoder", max_positions=sizes.max_length,
                           num_layers=sizes.table_num_layers, **shared)
    return ModelConfig(arch="decoder", max_positions=2 * sizes.max_length, num_layers=2 * sizes.table_num_layers,
                       **shared)  # fmt: skip


def build_arm(architecture: str, vocab_size: int, sizes: Seq2SeqSizes, seed: int = 0) -> nn.Module:
    """Taught in notebook 07. An untrained model of ``arm_config``, initialized from ``seed``."""
    config = arm_config(architecture, vocab_size, sizes)
    torch.manual_seed(seed)
    return EncoderDecoderModel(config) if architecture == "encoder-decoder" else GPTModel(config)


def arm_loss(architecture: str, pad_id: int):
    """The loss of one arm on a ``Seq2SeqBatch``: ``seq2seq_loss``, or ``decoder_only_loss``
    of the pairs joined by ``decoder_only_batch``."""
    _check_architecture(architecture)
    if architecture == "encoder-decoder":
        return seq2seq_loss
    return lambda model, batch: decoder_only_loss(model, decoder_only_batch(batch, pad_id).to(batch.input_ids.device))


def table_warmup_steps(sizes: Seq2SeqSizes) -> int:
    """Taught in notebook 07. The warm-up of a table arm's pretraining: the same share of its
    ``table_pretrain_steps`` as ``warmup_steps`` is of the main ``pretrain_steps``.

    >>> table_warmup_steps(Seq2SeqSizes(pretrain_steps=400, warmup_steps=200, table_pretrain_steps=150))
    75
    """
    return round(sizes.warmup_steps * sizes.table_pretrain_steps / max(1, sizes.pretrain_steps))


def pretrained_arm(
    architecture: str, objective: str, scale: Scale | str | None = None, seed: int = 0,
    retrain: bool = False, show_progress: bool = True,
) -> tuple[nn.Module, dict[str, object]]:  # fmt: skip
    """Taught in notebook 07. One arm of the table, pretrained on the small world's chunks
    (``course_utils.seq2seq.world_chunks``, the first 90 %) with ``objective`` ("denoising"
    or "language model") for ``table_pretrain_steps`` steps of ``batch_size`` pairs, AdamW
    with the seq2seq sizes' learning rate, warm-up and decay. Cached like every pretrained
    model of the course (the key holds the architecture, objective, sizes, vocabulary, corpus
    and seed). Returns ``(model, metadata)`` with the ``"train_loss"`` of every step, the
    ``"seconds"`` and the number of ``"parameters"``; the model is on the CPU, in eval mode."""
    from course_utils.training import train

    _check_architecture(architecture)
    _check_table_objective(objective)
    scale = get_scale(scale) if not isinstance(scale, Scale) else scale
    sizes = scale.seq2seq
    tokenizer = seq2seq_tokenizer(sizes.num_sentinels)
    pad_id = tokenizer.token_to_id[PAD_TOKEN]
    config = arm_config(architecture, len(tokenizer.vocab), sizes)
    warmup = table_warmup_steps(sizes)
    pretraining = {"steps": sizes.table_pretrain_steps, "batch_size": sizes.batch_size,
                   "learning_rate": sizes.learning_rate, "warmup_steps": warmup,
                   "lr_decay": sizes.lr_decay, "max_length": sizes.max_length}
    key = checkpoint_key(
        f"objective-{architecture}-{TABLE_OBJECTIVES[objective]}-{scale.name}", config=config,
        pretraining=pretraining, corpus_words=scale.world.corpus_words, vocabulary=tokenizer.vocab, seed=seed,
        version=OBJECTIVES_CHECKPOINT_VERSION,
    )  # fmt: skip

    def train_model(model: nn.Module) -> dict[str, object]:
        chunks = world_chunks(scale.world.corpus_words, tokenizer, sizes.max_length - 1, seed=seed)
        train_chunks, _ = split_chunks(chunks)
        data = DenoisingData(train_chunks, tokenizer, TABLE_OBJECTIVES[objective], sizes.max_length, seed=seed)
        start = time.perf_counter()
        losses = train(
            model, lambda: data.batch(sizes.batch_size), arm_loss(architecture, pad_id), sizes.table_pretrain_steps,
            learning_rate=sizes.learning_rate, warmup_steps=warmup, decay=sizes.lr_decay, fused=True,
            desc=f"pretraining {architecture} ({objective})", show_progress=show_progress,
        )  # fmt: skip
        return {"train_loss": losses, "seconds": round(time.perf_counter() - start, 2),
                "parameters": count_parameters(model)}

    return cached_model(key, lambda: build_arm(architecture, len(tokenizer.vocab), sizes, seed), train_model,
                        retrain=retrain, verbose=False)  # fmt: skip


def finetune_arm(
    model: nn.Module, architecture: str, train_frame: pd.DataFrame, sizes: Seq2SeqSizes,
    tokenizer: WordPieceTokenizer, seed: int = 0, show_progress: bool = False,
) -> nn.Module:  # fmt: skip
    """Taught in notebook 07. Multitask text-to-text fine-tuning of one arm, in place:
    ``table_finetune_epochs`` passes over ``train_frame`` in shuffled mixed batches, no
    validation (every arm trains for the same steps). Returns the model, in eval mode."""
    _check_architecture(architecture)
    pad_id = tokenizer.token_to_id[PAD_TOKEN]
    data = encode_text_to_text(train_frame, tokenizer, sizes.max_length)
    if architecture == "decoder-only":
        data = decoder_only_batch(data, pad_id)
    finetune(model, data, sizes.table_finetune_epochs, sizes.finetune_learning_rate, sizes.finetune_batch_size,
             seed=seed, show_progress=show_progress,
             loss_fn=seq2seq_loss if architecture == "encoder-decoder" else decoder_only_loss)  # fmt: skip
    return model.eval()


def arm_exact_match(
    model: nn.Module, architecture: str, frame: pd.DataFrame, sizes: Seq2SeqSizes, tokenizer: WordPieceTokenizer
) -> Tensor:
    """Taught in notebook 07. Bool ``(N,)``: the arm's greedy answer to each row of
    ``frame`` is exactly its target."""
    _check_architecture(architecture)
    data = encode_text_to_text(frame, tokenizer, sizes.max_length)
    if architecture == "encoder-decoder":
        return exact_match(model, data, sizes.max_new_tokens)
    joined = decoder_only_batch(data, tokenizer.token_to_id[PAD_TOKEN])
    return decoder_only_exact_match(model, joined, tokenizer.token_to_id[EOS_TOKEN], sizes.max_new_tokens)


def objective_table_runs(
    train_frame: pd.DataFrame, test_frame: pd.DataFrame, scale: Scale | str | None = None,
    progress: object | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Taught in notebook 07. Every run of the table: for each architecture, each objective
    and no pretraining at all (``"none"``: the from-scratch control), ``table_seeds`` seeds
    (the pretraining seed and the fine-tuning seed), fine-tuned with ``finetune_arm`` and
    scored on ``test_frame``. One row per run and task: ``architecture``, ``objective``,
    ``seed``, ``task``, ``exact_match`` (the share of the task's test items), ``parameters``.
    ``progress`` (a tqdm bar, optional) is advanced once per run."""
    scale = get_scale(scale) if not isinstance(scale, Scale) else scale
    sizes = scale.seq2seq
    tokenizer = seq2seq_tokenizer(sizes.num_sentinels)
    rows = []
    for architecture in ARCHITECTURES:
        for objective in (*TABLE_OBJECTIVES, "none"):
            for seed in range(sizes.table_seeds):
                if objective == "none":
                    model = build_arm(architecture, len(tokenizer.vocab), sizes, seed)
                else:
                    model, _ = pretrained_arm(architecture, objective, scale, seed, show_progress=False)
                finetune_arm(model, architecture, train_frame, sizes, tokenizer, seed)
                correct = arm_exact_match(model, architecture, test_frame, sizes, tokenizer).numpy()
                for task, items in pd.Series(correct, index=test_frame.index).groupby(test_frame["task"].values):
                    rows.append({"architecture": architecture, "objective": objective, "seed": seed, "task": task,
                                 "exact_match": float(items.mean()), "parameters": count_parameters(model)})
                if progress is not None:
                    progress.update(1)
    return pd.DataFrame(rows)


def objective_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Taught in notebook 07. The table of ``objective_table_runs``: one row per architecture
    and objective, the mean exact match of each task over the seeds, then the mean over tasks
    (``average``) with its standard deviation over the seeds (``± sd``), and the parameters.

    >>> runs = pd.DataFrame({"architecture": ["decoder-only"] * 4, "objective": ["none"] * 4,
    ...     "seed": [0, 0, 1, 1], "task": ["nli", "qa"] * 2, "exact_match": [0.4, 0.2, 0.6, 0.2],
    ...     "parameters": [10] * 4})
    >>> objective_table(runs)  # doctest: +NORMALIZE_WHITESPACE
                            nli   qa  average  ± sd  parameters
    architecture objective
    decoder-only none       0.5  0.2     0.35  0.07          10
    """
    missing = [c for c in ("architecture", "objective", "seed", "task", "exact_match", "parameters") if c not in runs]
    if missing:
        raise KeyError(f"runs lacks the column(s) {', '.join(missing)}; use objective_table_runs")
    keys = ["architecture", "objective"]
    per_task = runs.pivot_table(index=keys, columns="task", values="exact_match", aggfunc="mean")
    per_seed = runs.groupby([*keys, "seed"])["exact_match"].mean()  # the task average of each run
    table = per_task.copy()
    table.columns.name = None
    table["average"] = per_seed.groupby(keys).mean()
    table["± sd"] = per_seed.groupby(keys).std(ddof=1).round(2)
    table["parameters"] = runs.groupby(keys)["parameters"].first()
    order = {name: i for i, name in enumerate([*TABLE_OBJECTIVES, "none"])}
    return table.sort_index(key=lambda index: index.map(order) if index.name == "objective" else index)


# ---------------------------------------------------------------- argument checks
def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; allowed: {', '.join(ARCHITECTURES)}")


def _check_table_objective(objective: str) -> None:
    if objective not in TABLE_OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; allowed: {', '.join(TABLE_OBJECTIVES)}")

"""Pretraining T5 and BART: text -> a noised (input, target) pair -> one cross-entropy -> text to text.

Taught in notebook 07. An encoder-decoder reads an input and writes a target, and both
pretraining objectives of the lecture make such pairs out of plain text:

* T5's span corruption: a few short spans of the text become sentinels in the input, and
  the target is the spans, each after its sentinel
  (``course_utils.noising.span_corruption``);
* BART's text infilling: spans of the text become one ``<mask>`` each in the input, and
  the target is the whole text (``course_utils.noising.text_infilling``).

Fine-tuning is the same once more, with a task's source and target *text*
("sentiment: The food is bad." -> "negative"), every task in one model and one batch.

The loss is teacher forcing (``seq2seq_loss``): the decoder reads the start token and then
the target without its last token, and each position is scored against the target token
that sits there::

    labels           x1     x2   x3   </s>
    decoder input    [PAD]  x1   x2   x3       (shift_right: the start token, then labels[:-1])

>>> tok = seq2seq_tokenizer(num_sentinels=4)
>>> ids = special_ids(tok)
>>> chunk = tok.encode("ann lives in rome . she is a cook .")
>>> source, target = noised_pair(chunk, "span_corruption", ids, random.Random(1))   # T5
>>> tok.decode(source), tok.decode(target)      # one span of 10 tokens: T5 puts it at the end
('ann lives in rome . she is a <extra_id_0> </s>', '<extra_id_0> cook . </s>')
>>> infilled, original = noised_pair(chunk, "text_infilling", ids, random.Random(1))  # BART
>>> tok.decode(infilled), tok.decode(original)
('ann <mask> in rome <mask> is a cook . </s>', 'ann lives in rome . she is a cook . </s>')
>>> batch = seq2seq_batch([(source, target), (infilled, original)], pad_id=ids.pad)
>>> batch.input_ids.shape, batch.labels.shape       # (B, S) and (B, T), padded on the right
(torch.Size([2, 10]), torch.Size([2, 11]))
>>> decoder_input = shift_right(batch.labels, start_id=ids.pad, pad_id=ids.pad)   # (B, T)
>>> decoder_input[0, :5].tolist() == [ids.pad, *target]           # the start, then the target
True
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.checkpoints import cached_model, checkpoint_key
from course_utils.config import Scale, Seq2SeqSizes, get_device, get_scale
from course_utils.decoding import seq2seq_generate
from course_utils.finetuning import FinetuneRun, finetune
from course_utils.lm import unigram_baseline
from course_utils.models import EncoderDecoderModel, ModelConfig, get_config
from course_utils.noising.bart import text_infilling
from course_utils.noising.batching import pad_batch
from course_utils.noising.masked_lm import IGNORE_INDEX
from course_utils.noising.span_corruption import num_noise_spans, num_noise_tokens, span_corruption
from course_utils.tokenization import WordPieceTokenizer

PAD_TOKEN = "[PAD]"
"""Pads every batch, and starts every target in the decoder, as T5's ``<pad>`` does (BART
starts with ``</s>``; one start token serves both here). The world's own ``[PAD]``, id 0."""

_START_ID = 0  # the id of PAD_TOKEN in seq2seq_tokenizer(); the tests check it

EOS_TOKEN = "</s>"
"""Ends every encoder input and every target: the decoder learns to stop by writing it."""

MASK_TOKEN = "<mask>"
"""BART's mask: text infilling puts one in the input for each span it removes."""

FLAVOURS = ("t5", "bart")
"""The two encoder-decoders of notebook 07 (``ModelConfig`` presets "t5-tiny" and "bart-tiny")."""

OBJECTIVES = {"t5": "span_corruption", "bart": "text_infilling"}
"""Each flavour's pretraining objective, as in its paper."""

PAIR_OBJECTIVES = ("span_corruption", "text_infilling", "prefix_lm")
"""What ``noised_pair`` can make: the two denoising objectives, and the language-model
objective of T5's comparison (``"prefix_lm"``: the text cut in two at a random point, the
first part to read and the second to write; ``course_utils.objectives``)."""

SEQ2SEQ_CHECKPOINT_VERSION = 1
"""Bump when the recipe of ``pretrained_seq2seq`` changes in a way the sizes do not show."""

PRETRAINING_FIELDS = ("d_model", "num_layers", "num_heads", "d_ff", "max_length", "num_sentinels",
                      "pretrain_steps", "batch_size", "learning_rate", "warmup_steps", "lr_decay", "eval_every")
"""The fields of ``Seq2SeqSizes`` that shape a pretrained model (and so its checkpoint key); the
fine-tuning sizes can change without pretraining again."""


def sentinel_token(k: int) -> str:
    """Taught in notebook 07. T5's name of sentinel ``k``: ``<extra_id_k>``."""
    return f"<extra_id_{k}>"


# ---------------------------------------------------------------- the tokenizer
class SpecialIds(NamedTuple):
    """The ids a seq2seq tokenizer gives its special tokens: ``pad`` (also the decoder's
    start), ``eos``, BART's ``mask`` and T5's ``sentinels`` (``<extra_id_0>`` first)."""

    pad: int
    eos: int
    mask: int
    sentinels: list[int]


def seq2seq_tokenizer(num_sentinels: int = Seq2SeqSizes.num_sentinels) -> WordPieceTokenizer:
    """Taught in notebook 07. The tokenizer of T5 and BART on the small world: the world's
    WordPiece vocabulary (``course_utils.data.world.vocabulary.world_tokenizer``, whose ids it
    keeps, ``[PAD]`` = 0 among them) with ``</s>``, ``<mask>`` and ``num_sentinels`` sentinels
    appended; as in T5, ``<extra_id_0>`` is the very last id, ``<extra_id_1>`` the one before.
    Each special token is kept whole when it occurs in a text.

    >>> tok = seq2seq_tokenizer(num_sentinels=3)
    >>> tok.tokenize("Ann <extra_id_0> in Rome . </s>")
    ['ann', '<extra_id_0>', 'in', 'rome', '.', '</s>']
    >>> tok.vocab[-3:]
    ['<extra_id_2>', '<extra_id_1>', '<extra_id_0>']
    """
    if isinstance(num_sentinels, bool) or not isinstance(num_sentinels, int) or num_sentinels < 1:
        raise ValueError(f"num_sentinels must be a positive int; got {num_sentinels!r}")
    return _seq2seq_tokenizer(num_sentinels)


@lru_cache(maxsize=4)
def _seq2seq_tokenizer(num_sentinels: int) -> WordPieceTokenizer:
    from course_utils.data.world.vocabulary import SPECIAL_TOKENS, world_tokenizer

    sentinels = [sentinel_token(k) for k in reversed(range(num_sentinels))]  # <extra_id_0> last
    added = (EOS_TOKEN, MASK_TOKEN, *sentinels)
    return WordPieceTokenizer([*world_tokenizer().vocab, *added], unk_token="[UNK]",
                              special_tokens=(*SPECIAL_TOKENS, *added))


def special_ids(tokenizer: WordPieceTokenizer) -> SpecialIds:
    """Taught in notebook 07. The ids of ``tokenizer``'s special tokens (see ``SpecialIds``);
    a KeyError says which are missing. The sentinels are ``<extra_id_0>``, ``<extra_id_1>``,
    ... as far as the vocabulary has them."""
    ids = tokenizer.token_to_id
    missing = [token for token in (PAD_TOKEN, EOS_TOKEN, MASK_TOKEN, sentinel_token(0)) if token not in ids]
    if missing:
        raise KeyError(f"the tokenizer has no {', '.join(missing)}; use course_utils.seq2seq.seq2seq_tokenizer()")
    sentinels = []
    while sentinel_token(len(sentinels)) in ids:
        sentinels.append(ids[sentinel_token(len(sentinels))])
    return SpecialIds(ids[PAD_TOKEN], ids[EOS_TOKEN], ids[MASK_TOKEN], sentinels)


# ---------------------------------------------------------------- pretraining pairs
def text_chunks(documents: Sequence[Sequence[Sequence[int]]], max_tokens: int) -> list[list[int]]:
    """Taught in notebook 07. Cut ``documents`` (lists of sentences of ids, as
    ``course_utils.pretraining.world_documents`` gives them) into chunks of whole sentences:
    a document's sentences in order, as many as fit in ``max_tokens``; a sentence longer than
    that is cut. A chunk never crosses a document's end.

    >>> text_chunks([[[1, 2], [3, 4, 5], [6]], [[7, 8]]], max_tokens=4)
    [[1, 2], [3, 4, 5, 6], [7, 8]]
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive int; got {max_tokens!r}")
    chunks: list[list[int]] = []
    for document in documents:
        chunk: list[int] = []
        for sentence in document:
            if chunk and len(chunk) + len(sentence) > max_tokens:
                chunks.append(chunk)
                chunk = []
            chunk = chunk + list(sentence)[: max_tokens - len(chunk)]
        if chunk:
            chunks.append(chunk)
    return chunks


def noised_pair(
    chunk: Sequence[int], objective: str, ids: SpecialIds, rng: random.Random, max_length: int | None = None
) -> tuple[list[int], list[int]]:
    """Taught in notebook 07. One pretraining pair ``(input ids, target ids)`` from a chunk
    of text, both ending with ``</s>``:

    * ``"span_corruption"`` (T5): ``course_utils.noising.span_corruption`` with the sentinels
      ``ids.sentinels``: the target holds only the removed spans;
    * ``"text_infilling"`` (BART): ``course_utils.noising.text_infilling`` with ``ids.mask``:
      the target is the whole chunk;
    * ``"prefix_lm"`` (the language-model objective of T5's table): the chunk cut at a point
      drawn uniformly from 1 .. len - 1; the input is the part before, the target the part
      after (a one-token chunk is all target).

    With ``max_length``, a longer input is cut to that many tokens (``</s>`` kept last).
    """
    _check_objective(objective)
    if objective == "span_corruption":
        needed = num_noise_spans(num_noise_tokens(len(chunk))) + 1  # one per span, one for the kept end
        if needed > len(ids.sentinels):
            raise ValueError(f"a chunk of {len(chunk)} tokens needs {needed} sentinels; the tokenizer has "
                             f"{len(ids.sentinels)}: use seq2seq_tokenizer(num_sentinels={needed}) "
                             f"or shorter chunks")
        source, target = span_corruption(chunk, sentinel_ids=ids.sentinels, eos_id=ids.eos, rng=rng)
    elif objective == "text_infilling":
        source = [*text_infilling(chunk, mask_id=ids.mask, rng=rng), ids.eos]
        target = [*chunk, ids.eos]
    else:
        cut = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 0
        source, target = [*chunk[:cut], ids.eos], [*chunk[cut:], ids.eos]
    if max_length is not None and len(source) > max_length:  # infilling can insert masks
        source = [*source[: max_length - 1], ids.eos]
    return source, target


class Seq2SeqBatch(NamedTuple):
    """Taught in notebook 07. Inputs and targets of an encoder-decoder: ``input_ids`` and
    ``attention_mask`` ``(B, S)`` (1 = real token, 0 = padding) and ``labels (B, T)``, the
    target ids with ``IGNORE_INDEX`` (-100) at the padding, as Hugging Face's ``labels``."""

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def subset(self, index: Tensor) -> Seq2SeqBatch:
        """The examples at ``index``, cut to the longest input and the longest target among them."""
        input_ids, attention_mask, labels = (t[index] for t in self)
        source_length = max(1, int(attention_mask.sum(1).max())) if len(input_ids) else 1
        target_length = max(1, int((labels != IGNORE_INDEX).sum(1).max())) if len(labels) else 1
        return Seq2SeqBatch(input_ids[:, :source_length], attention_mask[:, :source_length],
                            labels[:, :target_length])

    def to(self, device: torch.device | str) -> Seq2SeqBatch:
        return Seq2SeqBatch(*(t.to(device) for t in self))


def seq2seq_batch(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int) -> Seq2SeqBatch:
    """Taught in notebook 07. ``(input ids, target ids)`` pairs as one ``Seq2SeqBatch``: inputs
    right-padded with ``pad_id``, targets right-padded with ``IGNORE_INDEX``.

    >>> batch = seq2seq_batch([([5, 6, 1], [7, 1]), ([5, 1], [7, 8, 1])], pad_id=0)
    >>> batch.input_ids.tolist(), batch.attention_mask.tolist()
    ([[5, 6, 1], [5, 1, 0]], [[1, 1, 1], [1, 1, 0]])
    >>> batch.labels.tolist()
    [[7, 1, -100], [7, 8, 1]]
    """
    if not pairs:
        raise ValueError("pairs is empty; give at least one (input ids, target ids) pair")
    empty = [i for i, (source, target) in enumerate(pairs) if not len(source) or not len(target)]
    if empty:
        raise ValueError(f"pair {empty[0]} has an empty input or target; each needs at least </s>")
    input_ids, attention_mask = pad_batch([source for source, _ in pairs], pad_id)  # (B, S) each
    labels, target_mask = pad_batch([target for _, target in pairs], pad_id)  # (B, T) each
    return Seq2SeqBatch(input_ids, attention_mask, labels.masked_fill(target_mask == 0, IGNORE_INDEX))


class DenoisingData:
    """Taught in notebook 07. Pretraining batches for T5 or BART: ``batch(B)`` draws ``B``
    chunks of text at random (``text_chunks``) and noises each afresh with ``objective``
    (``noised_pair``), so a chunk seen twice comes with other spans. Chunks are cut to
    ``max_length - 1`` tokens (room for ``</s>``). All randomness comes from a
    ``random.Random`` seeded with ``seed``."""

    def __init__(
        self, chunks: Sequence[Sequence[int]], tokenizer: WordPieceTokenizer, objective: str,
        max_length: int, seed: int = 0,
    ) -> None:  # fmt: skip
        _check_objective(objective)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an int >= 2 (a token and </s>); got {max_length!r}")
        self.chunks = [list(chunk)[: max_length - 1] for chunk in chunks if len(chunk)]
        if not self.chunks:
            raise ValueError("chunks is empty; give at least one chunk of token ids")
        self.ids = special_ids(tokenizer)
        self.objective, self.max_length, self.seed = objective, max_length, seed
        self.rng = random.Random(seed)
        longest = max(map(len, self.chunks))
        noised_pair(list(range(longest)), objective, self.ids, random.Random(0))  # enough sentinels?

    def __len__(self) -> int:
        return len(self.chunks)

    def batch(self, batch_size: int, rng: random.Random | None = None) -> Seq2SeqBatch:
        """Taught in notebook 07. ``batch_size`` random chunks, noised, as a ``Seq2SeqBatch``
        (from ``rng``, default the data's own)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        rng = rng or self.rng
        chunks = [self.chunks[rng.randrange(len(self.chunks))] for _ in range(batch_size)]
        pairs = [noised_pair(chunk, self.objective, self.ids, rng, self.max_length) for chunk in chunks]
        return seq2seq_batch(pairs, self.ids.pad)

    def fixed_batches(self, num_batches: int, batch_size: int) -> list[Seq2SeqBatch]:
        """The same ``num_batches`` batches, the same noise too, at every call (drawn from a
        generator seeded with ``seed``): a validation loss on them changes only with the model."""
        rng = random.Random(self.seed)
        return [self.batch(batch_size, rng) for _ in range(num_batches)]


def world_chunks(num_words: int, tokenizer: WordPieceTokenizer, max_tokens: int, seed: int = 0) -> list[list[int]]:
    """Taught in notebook 07. The small world's corpus (``num_words`` words, seeded) as
    ``text_chunks`` of at most ``max_tokens`` tokens (``course_utils.pretraining.world_documents``)."""
    from course_utils.pretraining import world_documents

    return text_chunks(world_documents(num_words, tokenizer, seed=seed), max_tokens)


def split_chunks(chunks: Sequence[list[int]], validation_fraction: float = 0.1) -> tuple[list, list]:
    """The chunks' first part for training and their last ``validation_fraction`` for
    validation (chunks of one document are neighbours, so few documents are cut in two)."""
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be between 0 and 1; got {validation_fraction}")
    cut = len(chunks) - max(1, round(len(chunks) * validation_fraction))
    if cut < 1:
        raise ValueError(f"{len(chunks)} chunks are too few to split; use a larger corpus")
    return list(chunks[:cut]), list(chunks[cut:])


# ---------------------------------------------------------------- the loss
def shift_right(labels: Tensor, start_id: int, pad_id: int) -> Tensor:
    """Taught in notebook 07. The decoder's input under teacher forcing: ``start_id``, then
    ``labels`` without their last column, with ``pad_id`` where the labels are padding.
    ``(B, T)`` in, ``(B, T)`` out, as Hugging Face's ``shift_tokens_right``.

    >>> shift_right(torch.tensor([[7, 8, 1], [7, 1, -100]]), start_id=0, pad_id=0).tolist()
    [[0, 7, 8], [0, 7, 1]]
    """
    if labels.dim() != 2 or labels.shape[1] < 1:
        raise ValueError(f"labels must be (B, T) with T >= 1; got shape {tuple(labels.shape)}")
    start = torch.full_like(labels[:, :1], start_id)  # (B, 1)
    shifted = torch.cat([start, labels[:, :-1]], dim=1)  # (B, T)
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad_id)


def seq2seq_loss(model: nn.Module, batch: Seq2SeqBatch, start_id: int | None = None) -> Tensor:
    """Taught in notebook 07. The encoder-decoder's loss: the mean cross-entropy of every real
    target token, each predicted from the whole input and the target tokens before it
    (teacher forcing: the decoder reads ``shift_right(labels)``). ``start_id`` defaults to
    the id of ``[PAD]`` in ``seq2seq_tokenizer()``, which is 0. The same number as Hugging
    Face's ``T5ForConditionalGeneration(input_ids, attention_mask, labels=labels)`` with its
    ``decoder_start_token_id`` and ``pad_token_id`` set to ``start_id``."""
    if batch.labels.dim() != 2 or batch.input_ids.shape != batch.attention_mask.shape:
        raise ValueError(f"expected input_ids and attention_mask (B, S) and labels (B, T); got "
                         f"{tuple(batch.input_ids.shape)}, {tuple(batch.attention_mask.shape)} and "
                         f"{tuple(batch.labels.shape)}")
    start = _START_ID if start_id is None else start_id
    decoder_input = shift_right(batch.labels, start, start)  # (B, T)
    logits = model(batch.input_ids, decoder_input, src_mask=batch.attention_mask).logits  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def target_log_probs(model: nn.Module, batch: Seq2SeqBatch, start_id: int | None = None) -> Tensor:
    """Taught in notebook 07. ``(B,)``: the log-probability the model gives each row's whole
    target (the sum over its real tokens of ``log p(token | input, earlier tokens)``), in eval
    mode (the model's mode is restored afterwards). ``-seq2seq_loss`` times the number of
    target tokens, row by row: the score that ranks candidate answers to one input."""
    start = _START_ID if start_id is None else start_id
    was_training = model.training
    model.eval()
    try:
        decoder_input = shift_right(batch.labels, start, start)  # (B, T)
        log_probs = model(batch.input_ids, decoder_input, src_mask=batch.attention_mask).logits.log_softmax(-1)
        real = batch.labels != IGNORE_INDEX  # (B, T)
        per_token = log_probs.gather(-1, batch.labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T)
        return (per_token * real).sum(dim=1)
    finally:
        model.train(was_training)


def rank_fills(
    model: nn.Module, prefix: Sequence[int], candidates: Sequence[Sequence[int]], ids: SpecialIds
) -> Tensor:
    """Taught in notebook 07. Span corruption read as a question: the text ``prefix`` with its
    end missing. T5's recipe always ends a text with a noise span, so the input is ``prefix
    <extra_id_0> </s>`` and each candidate end is scored as the target ``<extra_id_0> end </s>``,
    the layout the T5 pretrained on. Returns ``(len(candidates),)`` log-probabilities of the
    whole target; ``argmax`` is the model's fill."""
    if not candidates or any(len(end) == 0 for end in candidates):
        raise ValueError("need at least one candidate, and every candidate end needs a token")
    source = [*prefix, ids.sentinels[0], ids.eos]
    pairs = [(source, [ids.sentinels[0], *end, ids.eos]) for end in candidates]
    return target_log_probs(model, seq2seq_batch(pairs, ids.pad), start_id=ids.pad)


@torch.no_grad()
def evaluate_seq2seq(model: nn.Module, batches: Sequence[Seq2SeqBatch]) -> float:
    """Taught in notebook 07. The mean ``seq2seq_loss`` (nats per target token) over
    ``batches``, in eval mode (the model's mode is restored afterwards)."""
    if not batches:
        raise ValueError("batches is empty; give at least one Seq2SeqBatch")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return sum(seq2seq_loss(model, batch.to(device)).item() for batch in batches) / len(batches)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------- the loop
def pretrain_seq2seq(
    model: nn.Module,
    data: DenoisingData,
    steps: int,
    learning_rate: float = 1e-3,
    warmup_steps: int = 0,
    batch_size: int = 32,
    decay: bool = False,
    eval_data: DenoisingData | None = None,
    eval_every: int | None = None,
    eval_batches: int = 4,
    desc: str | None = None,
    show_progress: bool = True,
) -> dict[str, object]:
    """Taught in notebook 07. Train ``model`` (an ``EncoderDecoderModel``) with ``seq2seq_loss``
    on ``steps`` batches of ``batch_size`` noised chunks of ``data``, in
    ``course_utils.training.train`` (AdamW, gradient clipping, ``warmup_steps`` of linear
    warmup, then a constant rate or, with ``decay``, a linear decay to 0; one progress bar).

    With ``eval_data`` the validation loss is measured on the same ``eval_batches`` batches
    (``DenoisingData.fixed_batches``) before training (step 0), every ``eval_every`` steps
    (default: 10 times per run) and after the last step. Returns the history, as
    ``course_utils.lm.pretrain_lm`` does: ``"train_loss"`` (one per step), ``"eval_steps"``,
    ``"eval_loss"`` (empty without ``eval_data``) and the training ``"seconds"``.
    """
    from course_utils.training import train

    if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
        raise ValueError(f"eval_every must be a positive int or None; got {eval_every!r}")
    if eval_every is not None and eval_data is None:
        raise ValueError("eval_every needs eval_data: the DenoisingData to measure the validation loss on")
    device = next(model.parameters()).device
    every = eval_every or max(1, steps // 10)
    fixed = eval_data.fixed_batches(eval_batches, batch_size) if eval_data is not None else []
    history: dict[str, list] = {"eval_steps": [], "eval_loss": []}

    def record(step: int, model: nn.Module) -> None:  # after optimizer step `step` (0: before any)
        if fixed and (step % every == 0 or step == steps):
            history["eval_steps"].append(step)
            history["eval_loss"].append(evaluate_seq2seq(model, fixed))

    start = time.perf_counter()
    record(0, model)
    losses = train(
        model, lambda: data.batch(batch_size).to(device), seq2seq_loss, steps, learning_rate=learning_rate,
        warmup_steps=warmup_steps, decay=decay, fused=True, desc=desc or f"pretraining ({data.objective})",
        callback=record, show_progress=show_progress,
    )  # fmt: skip
    return {"train_loss": losses, **history, "seconds": round(time.perf_counter() - start, 2)}


# ---------------------------------------------------------------- the shared models
def tiny_seq2seq_config(
    flavour: str, vocab_size: int, scale: Scale | Seq2SeqSizes | str | None = None
) -> ModelConfig:
    """Taught in notebook 07. The "t5-tiny" or "bart-tiny" preset (``flavour`` "t5" or
    "bart") with the sizes of ``scale.seq2seq`` (a ``Scale``, its name, or the
    ``Seq2SeqSizes`` themselves; default the environment's scale) for ``vocab_size`` tokens;
    ``max_positions`` is ``max_length``.

    >>> config = tiny_seq2seq_config("bart", 100, "smoke")
    >>> config.vocab_size, config.d_model, config.max_positions, config.norm
    (100, 32, 40, 'layer')
    """
    _check_flavour(flavour)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int; got {vocab_size!r}")
    sizes = _seq2seq_sizes(scale)
    return get_config(
        f"{flavour}-tiny", vocab_size=vocab_size, d_model=sizes.d_model, num_layers=sizes.num_layers,
        num_heads=sizes.num_heads, d_ff=sizes.d_ff, max_positions=sizes.max_length,
    )  # fmt: skip


def tiny_seq2seq(
    flavour: str, scale: Scale | Seq2SeqSizes | str | None = None, seed: int = 0
) -> EncoderDecoderModel:
    """Taught in notebook 07. An untrained T5 or BART of the pretrained one's shape, for
    ``seq2seq_tokenizer``'s vocabulary, initialized from ``seed``: the from-scratch control."""
    sizes = _seq2seq_sizes(scale)
    config = tiny_seq2seq_config(flavour, len(seq2seq_tokenizer(sizes.num_sentinels).vocab), sizes)
    torch.manual_seed(seed)
    return EncoderDecoderModel(config)


def _seq2seq_sizes(scale: Scale | Seq2SeqSizes | str | None) -> Seq2SeqSizes:
    if isinstance(scale, Seq2SeqSizes):
        return scale
    return (scale if isinstance(scale, Scale) else get_scale(scale)).seq2seq


def _seq2seq_key(flavour: str, scale: Scale, config: ModelConfig, vocabulary: list[str], seed: int) -> str:
    """The checkpoint key of ``pretrained_seq2seq``: the flavour, the pretraining sizes, the
    config, the vocabulary, the corpus and the seed."""
    pretraining = {name: getattr(scale.seq2seq, name) for name in PRETRAINING_FIELDS}  # not the fine-tuning sizes
    return checkpoint_key(
        f"{flavour}-{scale.name}", config=config, pretraining=pretraining, corpus_words=scale.world.corpus_words,
        vocabulary=vocabulary, seed=seed, version=SEQ2SEQ_CHECKPOINT_VERSION,
    )  # fmt: skip


def pretrained_seq2seq(
    flavour: str,
    scale: Scale | str | None = None,
    seed: int = 0,
    retrain: bool = False,
    device: torch.device | str | None = None,
) -> tuple[EncoderDecoderModel, dict[str, object]]:
    """Taught in notebook 07. The course's tiny T5 (``flavour="t5"``, span corruption) or BART
    (``"bart"``, text infilling), pretrained on the small world's corpus (``world_chunks``,
    ``seq2seq_tokenizer``): loaded from the checkpoint cache, or trained (then cached) when
    it is missing.

    The cache key holds the pretraining sizes of ``scale.seq2seq`` (``PRETRAINING_FIELDS``),
    the model configuration, the vocabulary, the corpus size, the seed and
    ``SEQ2SEQ_CHECKPOINT_VERSION``. The last 10 % of the chunks are the validation split.
    Training runs on ``device`` (default ``course_utils.config.get_device``); the model comes
    back on the CPU, in eval mode. Returns ``(model, metadata)``: ``pretrain_seq2seq``'s
    history plus the ``"unigram"`` control (the validation targets scored by the frequencies of
    training targets, whatever the input) and the ``"objective"``.
    """
    _check_flavour(flavour)
    scale = get_scale(scale) if not isinstance(scale, Scale) else scale
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    sizes = scale.seq2seq
    tokenizer = seq2seq_tokenizer(sizes.num_sentinels)
    config = tiny_seq2seq_config(flavour, len(tokenizer.vocab), sizes)
    objective = OBJECTIVES[flavour]
    key = _seq2seq_key(flavour, scale, config, tokenizer.vocab, seed)

    def build() -> EncoderDecoderModel:
        torch.manual_seed(seed)
        return EncoderDecoderModel(config)

    def train_model(model: EncoderDecoderModel) -> dict[str, object]:
        chunks = world_chunks(scale.world.corpus_words, tokenizer, sizes.max_length - 1, seed=seed)
        train_chunks, validation_chunks = split_chunks(chunks)
        data = DenoisingData(train_chunks, tokenizer, objective, sizes.max_length, seed=seed)
        validation = DenoisingData(validation_chunks, tokenizer, objective, sizes.max_length, seed=seed)
        model.to(get_device(device))
        history = pretrain_seq2seq(
            model, data, sizes.pretrain_steps, learning_rate=sizes.learning_rate,
            warmup_steps=sizes.warmup_steps, batch_size=sizes.batch_size, decay=sizes.lr_decay,
            eval_data=validation, eval_every=sizes.eval_every,
            desc=f"pretraining the {flavour.upper()} ({objective})",
        )  # fmt: skip
        model.cpu()  # saved, and handed back, on the CPU
        def target_ids(batches: list[Seq2SeqBatch]) -> Tensor:  # every real target token, in one row
            return torch.cat([batch.labels[batch.labels != IGNORE_INDEX] for batch in batches])

        unigram = unigram_baseline(target_ids(data.fixed_batches(8, sizes.batch_size)),
                                   target_ids(validation.fixed_batches(4, sizes.batch_size)), config.vocab_size)
        return {**history, "unigram": unigram, "objective": objective}

    return cached_model(key, build, train_model, retrain=retrain)


def pretrained_t5(
    scale: Scale | str | None = None, seed: int = 0, retrain: bool = False,
    device: torch.device | str | None = None,
) -> tuple[EncoderDecoderModel, dict[str, object]]:
    """Taught in notebook 07. ``pretrained_seq2seq("t5", ...)``: the tiny T5, pretrained with span corruption."""
    return pretrained_seq2seq("t5", scale, seed, retrain, device)


def pretrained_bart(
    scale: Scale | str | None = None, seed: int = 0, retrain: bool = False,
    device: torch.device | str | None = None,
) -> tuple[EncoderDecoderModel, dict[str, object]]:
    """Taught in notebook 07. ``pretrained_seq2seq("bart", ...)``: the tiny BART, pretrained
    with text infilling."""
    return pretrained_seq2seq("bart", scale, seed, retrain, device)


# ---------------------------------------------------------------- text to text
TEXT_TO_TEXT_COLUMNS = ("source", "target", "task", "unseen")
"""The columns of ``load_task("text_to_text")`` that fine-tuning and evaluation read."""


def encode_text_to_text(
    frame: pd.DataFrame, tokenizer: WordPieceTokenizer, max_length: int = Seq2SeqSizes.max_length
) -> Seq2SeqBatch:
    """Taught in notebook 07. A text-to-text split (``load_task("text_to_text")``: columns
    ``source``, ``target``, ``task``, ``unseen``) as one ``Seq2SeqBatch``: each source and
    target encoded, followed by ``</s>``, cut to ``max_length`` tokens (``</s>`` kept last).

    >>> frame = pd.DataFrame({"source": ["sentiment: The food is bad."], "target": ["negative"],
    ...                       "task": ["sentiment"], "unseen": [False]})
    >>> tok = seq2seq_tokenizer()
    >>> data = encode_text_to_text(frame, tok)
    >>> tok.decode(data.input_ids[0].tolist()), tok.decode(data.labels[0].tolist())
    ('sentiment : the food is bad . </s>', 'negative </s>')
    """
    _check_frame(frame)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an int >= 2 (a token and </s>); got {max_length!r}")
    eos = special_ids(tokenizer).eos

    def encode(text: str) -> list[int]:
        return [*tokenizer.encode(text)[: max_length - 1], eos]

    pairs = [(encode(source), encode(target)) for source, target in zip(frame["source"], frame["target"])]
    return seq2seq_batch(pairs, tokenizer.token_to_id[PAD_TOKEN])


def finetune_text_to_text(
    model: EncoderDecoderModel,
    data: Seq2SeqBatch,
    scale: Scale | Seq2SeqSizes | str | None = None,
    seed: int = 0,
    validation: Seq2SeqBatch | None = None,
    epoch_size: int | None = None,
    show_progress: bool = True,
    desc: str = "fine-tuning on text to text",
) -> FinetuneRun:
    """Taught in notebook 07. Multitask fine-tuning: train ``model`` with ``seq2seq_loss`` on
    ``data`` (``encode_text_to_text`` of all tasks together) for ``finetune_epochs`` passes in
    shuffled mini-batches of ``finetune_batch_size`` (``scale.seq2seq``), so each batch mixes
    the tasks in their proportions in the data (T5's examples-proportional mixing). As
    ``course_utils.finetuning.finetune`` does for BERT: with ``validation``, exact match on it
    (greedy decoding, ``exact_match``) is read after each epoch and the model keeps the
    weights of the best epoch; ``epoch_size`` (default ``len(data)``) counts as an epoch."""
    sizes = _seq2seq_sizes(scale)
    if not isinstance(data, Seq2SeqBatch):
        raise ValueError(f"data must be a Seq2SeqBatch (encode_text_to_text); got {type(data).__name__}")

    def validation_exact_match(model: nn.Module, examples: Seq2SeqBatch) -> float:
        return exact_match(model, examples, sizes.max_new_tokens).float().mean().item()

    return finetune(
        model, data, sizes.finetune_epochs, sizes.finetune_learning_rate, sizes.finetune_batch_size,
        seed=seed, desc=desc, validation=validation, epoch_size=epoch_size, show_progress=show_progress,
        loss_fn=seq2seq_loss, validation_accuracy=validation_exact_match,
    )  # fmt: skip


@torch.no_grad()
def generate_ids(
    model: EncoderDecoderModel, data: Seq2SeqBatch, max_new_tokens: int = Seq2SeqSizes.max_new_tokens,
    batch_size: int = 256,
) -> list[list[int]]:  # fmt: skip
    """Taught in notebook 07. Greedy decoding (``course_utils.decoding.seq2seq_generate``) for
    each input of ``data``, ``batch_size`` at a time: the ids written after the start token, up
    to and with the first ``</s>`` (all ``max_new_tokens`` of them if it never comes)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    device = next(model.parameters()).device
    eos = seq2seq_tokenizer().token_to_id[EOS_TOKEN]  # the same id whatever the number of sentinels
    written: list[list[int]] = []
    for first in range(0, len(data), batch_size):
        part = data.subset(torch.arange(first, min(first + batch_size, len(data)))).to(device)
        out = seq2seq_generate(model, part.input_ids, max_new_tokens, start_id=_START_ID, eos_id=eos,
                               src_mask=part.attention_mask, pad_id=_START_ID)  # (b, 1 + new)
        for row in out[:, 1:].tolist():
            written.append(row[: row.index(eos) + 1] if eos in row else row)
    return written


def exact_match(
    model: EncoderDecoderModel, data: Seq2SeqBatch, max_new_tokens: int = Seq2SeqSizes.max_new_tokens
) -> Tensor:
    """Taught in notebook 07. Bool ``(N,)``: greedy decoding writes exactly the target's tokens
    (its ``</s>`` included, so a longer answer is wrong)."""
    targets = [row[row != IGNORE_INDEX].tolist() for row in data.labels]
    return torch.tensor([w == t for w, t in zip(generate_ids(model, data, max_new_tokens), targets)])


def predict_text_to_text(
    model: EncoderDecoderModel, frame: pd.DataFrame, tokenizer: WordPieceTokenizer,
    max_length: int = Seq2SeqSizes.max_length, max_new_tokens: int = Seq2SeqSizes.max_new_tokens,
) -> pd.DataFrame:  # fmt: skip
    """Taught in notebook 07. ``frame`` with two more columns: ``prediction`` (the decoded text
    greedy decoding writes) and ``correct`` (``exact_match``: the same tokens as the target)."""
    data = encode_text_to_text(frame, tokenizer, max_length)
    eos = special_ids(tokenizer).eos
    written = generate_ids(model, data, max_new_tokens)
    targets = [row[row != IGNORE_INDEX].tolist() for row in data.labels]
    out = frame.copy()
    out["prediction"] = [tokenizer.decode([i for i in ids if i != eos]) for ids in written]
    out["correct"] = [w == t for w, t in zip(written, targets)]
    return out


def exact_match_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Taught in notebook 07. Exact match per task (rows, then ``all``) on the items whose
    deciding words or facts the training data shows (``seen``), on the held-out ones
    (``unseen``) and on all, with the number of ``items``; ``predictions`` has the columns
    ``task``, ``unseen`` and ``correct`` (``predict_text_to_text``).

    >>> frame = pd.DataFrame({"task": ["qa", "qa", "nli"], "unseen": [False, True, False],
    ...                       "correct": [True, False, True]})
    >>> exact_match_table(frame)
         seen  unseen       all  items
    nli   1.0     NaN  1.000000      1
    qa    1.0     0.0  0.500000      2
    all   1.0     0.0  0.666667      3
    """
    missing = [name for name in ("task", "unseen", "correct") if name not in predictions]
    if missing:
        raise KeyError(f"predictions lacks the column(s) {', '.join(missing)}; use predict_text_to_text")

    def row(items: pd.DataFrame) -> dict[str, float]:
        unseen = items["unseen"].astype(bool)
        correct = items["correct"].astype(float)
        return {"seen": correct[~unseen].mean() if (~unseen).any() else float("nan"),
                "unseen": correct[unseen].mean() if unseen.any() else float("nan"),
                "all": correct.mean(), "items": len(items)}

    rows = {task: row(items) for task, items in predictions.groupby("task", sort=True)}
    rows["all"] = row(predictions)
    table = pd.DataFrame(rows).T
    return table.astype({"seen": float, "unseen": float, "all": float, "items": int})


def evaluate_text_to_text(
    model: EncoderDecoderModel, frame: pd.DataFrame, tokenizer: WordPieceTokenizer,
    max_length: int = Seq2SeqSizes.max_length, max_new_tokens: int = Seq2SeqSizes.max_new_tokens,
) -> pd.DataFrame:  # fmt: skip
    """Taught in notebook 07. Exact match of greedy decoding on a text-to-text split, per task
    and overall, seen and unseen apart: ``exact_match_table(predict_text_to_text(...))``."""
    return exact_match_table(predict_text_to_text(model, frame, tokenizer, max_length, max_new_tokens))


def majority_text_to_text(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Taught in notebook 07. The control of ``evaluate_text_to_text``: answer every test item
    with its task's most frequent training target, whatever the source (the majority label
    for sentiment and NLI; next to nothing for the questions and the rewrites). The same table
    as ``exact_match_table``."""
    _check_frame(train)
    _check_frame(test)
    majority = train.groupby("task")["target"].agg(lambda targets: targets.value_counts().index[0])
    out = test.copy()
    out["prediction"] = test["task"].map(majority).fillna("")
    out["correct"] = out["prediction"].str.lower() == test["target"].str.lower()
    return exact_match_table(out)


# ---------------------------------------------------------------- argument checks
def _check_flavour(flavour: str) -> None:
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; allowed: {', '.join(FLAVOURS)}")


def _check_objective(objective: str) -> None:
    if objective not in PAIR_OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; allowed: {', '.join(PAIR_OBJECTIVES)}")


def _check_frame(frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame (a split of load_task('text_to_text')); "
                         f"got {type(frame).__name__}")
    missing = [name for name in TEXT_TO_TEXT_COLUMNS if name not in frame]
    if missing:
        raise KeyError(f"the frame lacks the column(s) {', '.join(missing)}; a text-to-text split "
                       f"(load_task('text_to_text')) has {', '.join(TEXT_TO_TEXT_COLUMNS)}")
    if len(frame) == 0:
        raise ValueError("the frame is empty; give at least one source/target row")

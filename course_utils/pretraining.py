"""Pretraining a tiny BERT: documents -> noised batches -> MLM + NSP loss -> the shared checkpoint.

The pieces come from their own rooms (:mod:`course_utils.noising` for the noise,
:mod:`course_utils.models` for the model, :mod:`course_utils.training` for the loop,
:mod:`course_utils.checkpoints` for the cache); this module puts them together.

>>> tok = world_tokenizer()
>>> docs = documents_from_text("Ann lives in Rome. She is a cook.\\n\\nThe dog sleeps. It is tired.", tok)
>>> [[tok.decode([tok.vocab[i] for i in sentence]) for sentence in doc] for doc in docs]
[['ann lives in rome .', 'she is a cook .'], ['the dog sleeps .', 'it is tired .']]
>>> data = PretrainingData(docs, tok, max_length=16, seed=0)
>>> batch = data.batch(4)
>>> batch.input_ids.shape == batch.labels.shape, batch.nsp_labels.shape
(True, torch.Size([4]))
"""

from __future__ import annotations

import random
import re
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from course_utils.checkpoints import cached_model, checkpoint_key
from course_utils.config import BertSizes, Scale, get_device, get_scale
from course_utils.data.world import generate_corpus
from course_utils.data.world.vocabulary import SPECIAL_TOKENS, world_tokenizer
from course_utils.models import BertForPreTraining, ModelConfig, get_config
from course_utils.noising import (
    IGNORE_INDEX,
    mask_tokens,
    masked_lm_loss,
    nsp_pairs,
    pad_batch,
    pair_positions,
)
from course_utils.tokenization import WordPieceTokenizer
from course_utils.training import train

OBJECTIVES = ("mlm+nsp", "mlm")
"""BERT's two objectives together, or the masked LM alone (pairs are then always contiguous)."""

CHECKPOINT_VERSION = 2
"""Bump when the training recipe changes in a way the sizes do not show."""

Documents = list[list[list[int]]]
"""Documents, each a list of sentences, each a list of token ids."""


# ---------------------------------------------------------------- documents
def world_documents(num_words: int, tokenizer: WordPieceTokenizer, seed: int = 0) -> Documents:
    """The small world's corpus (``num_words`` words, seeded) as token ids.

    The same as encoding each sentence's text, but each distinct word is encoded once
    (a million words take seconds, not a minute).
    """
    ids_of: dict[str, list[int]] = {}

    def encode(words: tuple[str, ...]) -> list[int]:
        ids = []
        for word in words:
            if word not in ids_of:
                ids_of[word] = tokenizer.encode(word)
            ids += ids_of[word]
        return ids

    return [
        [encode(sentence.words) for sentence in document.sentences]
        for document in generate_corpus(num_words=num_words, seed=seed)
    ]


def documents_from_text(text: str, tokenizer: WordPieceTokenizer) -> Documents:
    """Any text as documents: blank lines separate documents, ``.``, ``!`` or ``?``
    followed by a space (or a line break) end a sentence. Documents with fewer than two
    sentences are kept (they still supply random "not next" sentences)."""
    documents = []
    for block in re.split(r"\n\s*\n", text):
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", block.strip()) if s]
        encoded = [ids for ids in map(tokenizer.encode, sentences) if ids]
        if encoded:
            documents.append(encoded)
    return documents


# ---------------------------------------------------------------- batches
class PretrainingBatch(NamedTuple):
    """Tensors of one step: ``input_ids``, ``token_type_ids``, ``attention_mask`` and MLM
    ``labels`` (``-100`` where nothing is predicted), all ``(B, L)``; ``nsp_labels (B,)``."""

    input_ids: Tensor
    token_type_ids: Tensor
    attention_mask: Tensor
    labels: Tensor
    nsp_labels: Tensor

    def to(self, device: torch.device | str) -> PretrainingBatch:
        return PretrainingBatch(*(t.to(device) for t in self))


class PretrainingData:
    """Random ``[CLS] A [SEP] B [SEP]`` pairs with BERT's masking, from ``documents``.

    ``objective="mlm+nsp"``: B follows A half of the time (NSP labels matter);
    ``"mlm"``: B always follows A, so the model reads contiguous text.
    ``packed=True`` (BERT's recipe) fills each pair with as many whole sentences as fit
    in ``max_length`` (:func:`course_utils.noising.make_packed_pair`); ``False`` puts one
    sentence in each segment. ``mode``: how positions are picked for the MLM, see
    :func:`course_utils.noising.mask_tokens`. One ``seed`` drives both the pairs and the masks.
    """

    def __init__(
        self,
        documents: Documents,
        tokenizer: WordPieceTokenizer,
        max_length: int,
        objective: str = "mlm+nsp",
        mode: str = "bernoulli",
        seed: int = 0,
        packed: bool = True,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
        self.documents = documents
        self.objective = objective
        self.max_length = max_length
        self.mode = mode
        self.packed = packed
        ids = tokenizer.token_to_id
        self.pad_id, self.cls_id, self.sep_id, self.mask_id = (
            ids["[PAD]"], ids["[CLS]"], ids["[SEP]"], ids["[MASK]"]
        )  # fmt: skip
        self.special_ids = [ids[token] for token in SPECIAL_TOKENS]
        self.vocab_size = len(tokenizer.vocab)
        self.positions = pair_positions(documents)  # computed once, used by every batch
        self.rng = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed)

    def batch(self, batch_size: int) -> PretrainingBatch:
        pairs = nsp_pairs(
            self.documents, batch_size, max_length=self.max_length, cls_id=self.cls_id,
            sep_id=self.sep_id, rng=self.rng,
            next_probability=0.5 if self.objective == "mlm+nsp" else 1.0, positions=self.positions,
            packed=self.packed,
        )  # fmt: skip
        ids, attention_mask = pad_batch([p.input_ids for p in pairs], self.pad_id)
        token_type_ids, _ = pad_batch([p.token_type_ids for p in pairs], 0)
        noised, labels = mask_tokens(
            ids, mask_id=self.mask_id, vocab_size=self.vocab_size, special_ids=self.special_ids,
            mode=self.mode, generator=self.generator,
        )  # fmt: skip
        nsp_labels = torch.tensor([p.label for p in pairs])
        return PretrainingBatch(noised, token_type_ids, attention_mask, labels, nsp_labels)


# ---------------------------------------------------------------- loss and loop
def pretraining_losses(model: BertForPreTraining, batch: PretrainingBatch) -> tuple[Tensor, Tensor]:
    """The masked-LM loss (masked positions only) and the next-sentence loss of one batch."""
    masked = batch.labels != IGNORE_INDEX
    out = model(batch.input_ids, batch.token_type_ids, batch.attention_mask, masked_positions=masked)
    mlm = masked_lm_loss(out.mlm_logits, batch.labels[masked])
    nsp = F.cross_entropy(out.nsp_logits, batch.nsp_labels)
    return mlm, nsp


def pretrain(
    model: BertForPreTraining,
    data: PretrainingData,
    sizes: BertSizes,
    desc: str = "pretraining",
) -> dict[str, object]:
    """Train ``model`` on ``data`` for ``sizes.pretrain_steps`` steps; return the history.

    The loss is MLM + NSP for ``data.objective == "mlm+nsp"``, MLM alone otherwise (the NSP
    loss is still recorded, as a number nobody trains). The history holds both loss curves
    (``"mlm"``, ``"nsp"``), the ``"objective"`` and the training ``"seconds"``.
    """
    device = next(model.parameters()).device
    history: dict[str, list[float]] = {"mlm": [], "nsp": []}
    use_nsp = data.objective == "mlm+nsp"

    def loss_fn(model: BertForPreTraining, batch: PretrainingBatch) -> Tensor:
        mlm, nsp = pretraining_losses(model, batch.to(device))
        history["mlm"].append(mlm.item())
        history["nsp"].append(nsp.item())
        return mlm + nsp if use_nsp else mlm

    start = time.perf_counter()
    train(
        model, lambda: data.batch(sizes.batch_size), loss_fn, sizes.pretrain_steps,
        learning_rate=sizes.learning_rate, warmup_steps=sizes.warmup_steps, desc=desc,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return {**history, "objective": data.objective, "seconds": round(seconds, 2)}


# ---------------------------------------------------------------- the shared model
def tiny_bert_config(tokenizer: WordPieceTokenizer, scale: Scale | None = None) -> ModelConfig:
    """The ``bert-tiny`` preset of ``scale`` for ``tokenizer``'s vocabulary."""
    scale = scale or get_scale()
    tiny = scale.tiny
    return get_config(
        "bert-tiny", vocab_size=len(tokenizer.vocab), d_model=tiny.d_model,
        num_layers=tiny.num_layers, num_heads=tiny.num_heads, d_ff=tiny.d_ff,
        max_positions=tiny.max_positions,
    )  # fmt: skip


def pretrained_bert(
    objective: str = "mlm+nsp",
    scale: Scale | str | None = None,
    seed: int = 0,
    retrain: bool = False,
    device: torch.device | str | None = None,
) -> tuple[BertForPreTraining, dict[str, object]]:
    """The course's tiny BERT, pretrained on the small world: loaded from the checkpoint
    cache, or trained (then cached) when it is missing.

    The cache key holds the scale's sizes, the model configuration, the objective, the
    seed and :data:`CHECKPOINT_VERSION`, so changing any of them trains a new model.
    Training runs on ``device`` (default :func:`course_utils.config.get_device`: a GPU when
    there is one); the model comes back on the CPU, where a notebook's own tensors are.
    Returns ``(model, metadata)``; metadata is :func:`pretrain`'s history.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    scale = get_scale(scale) if not isinstance(scale, Scale) else scale
    tokenizer = world_tokenizer()
    config = tiny_bert_config(tokenizer, scale)
    key = checkpoint_key(
        f"bert-{objective.replace('+', '-')}-{scale.name}", config=config, bert=scale.bert,
        corpus_words=scale.world.corpus_words, vocabulary=tokenizer.vocab, objective=objective,
        seed=seed, version=CHECKPOINT_VERSION,
    )  # fmt: skip

    def build() -> BertForPreTraining:
        torch.manual_seed(seed)
        return BertForPreTraining(config)

    def train_model(model: BertForPreTraining) -> dict[str, object]:
        documents = world_documents(scale.world.corpus_words, tokenizer, seed=seed)
        data = PretrainingData(
            documents, tokenizer, scale.bert.max_length, objective=objective, seed=seed
        )
        model.to(get_device(device))
        history = pretrain(model, data, scale.bert, desc=f"pretraining ({objective})")
        model.cpu()  # saved, and handed back, on the CPU
        return history

    return cached_model(key, build, train_model, retrain=retrain)


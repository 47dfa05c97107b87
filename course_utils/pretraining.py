"""Pretraining a tiny BERT: documents -> noised batches -> MLM + NSP loss -> the shared checkpoint.

The pieces come from their own rooms (``course_utils.noising`` for the noise,
``course_utils.models`` for the model, ``course_utils.training`` for the loop,
``course_utils.checkpoints`` for the cache); this module puts them together.

>>> tok = world_tokenizer()
>>> docs = documents_from_text("Ann lives in Rome. She is a cook.\\n\\nThe dog sleeps. It is tired.", tok)
>>> [[tok.decode(sentence) for sentence in doc] for doc in docs]
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
from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd

import torch
import torch.nn.functional as F
from torch import Tensor

from course_utils.checkpoints import cached_model, checkpoint_key
from course_utils.config import BertSizes, Scale, get_device, get_scale
from course_utils.data.world import generate_corpus
from course_utils.data.world.grammar import Document
from course_utils.data.world.vocabulary import SPECIAL_TOKENS, world_tokenizer
from course_utils.models import BertForPreTraining, ModelConfig, get_config
from course_utils.noising.batching import pad_batch
from course_utils.noising.masked_lm import IGNORE_INDEX, mask_tokens, masked_lm_loss
from course_utils.noising.sentence_pairs import nsp_pairs, pair_positions
from course_utils.tokenization import WordPieceTokenizer, train_wordpiece
from course_utils.training import train

OBJECTIVES = ("mlm+nsp", "mlm")
"""BERT's two objectives together, or the masked LM alone (pairs are then always contiguous)."""

CHECKPOINT_VERSION = 4
"""Bump when the training recipe changes in a way the sizes do not show."""

Documents = list[list[list[int]]]
"""Documents, each a list of sentences, each a list of token ids."""


# ---------------------------------------------------------------- documents
_DOCUMENTS: dict[tuple[int, int, tuple[str, ...]], Documents] = {}


def world_documents(
    num_words: int, tokenizer: WordPieceTokenizer, seed: int = 0, corpus: Sequence[Document] | None = None
) -> Documents:
    """Taught in notebook 04, section 1.
    The small world's corpus (``num_words`` words, seeded) as token ids.

    The same as encoding each sentence's text, but each distinct word is encoded once
    (a million words take seconds, not a minute). Pass ``corpus`` (what
    ``generate_corpus(num_words, seed=seed)`` returned) to skip generating it again. The
    result is kept for the process's lifetime (a notebook asks for it more than once):
    read it, do not change it.
    """
    key = (num_words, seed, tuple(tokenizer.vocab))
    if key in _DOCUMENTS:
        return _DOCUMENTS[key]
    ids_of: dict[str, list[int]] = {}

    def encode(words: tuple[str, ...]) -> list[int]:
        ids = []
        for word in words:
            if word not in ids_of:
                ids_of[word] = tokenizer.encode(word)
            ids += ids_of[word]
        return ids

    if corpus is None:
        corpus = generate_corpus(num_words=num_words, seed=seed)
    documents = [[encode(sentence.words) for sentence in document.sentences] for document in corpus]
    _DOCUMENTS[key] = documents
    return documents


def documents_from_text(
    text: str, tokenizer: WordPieceTokenizer | None = None, vocab_size: int = 2000
) -> Documents:
    """Any text as documents: blank lines separate documents, ``.``, ``!`` or ``?``
    followed by a space (or a line break) end a sentence. Documents with fewer than two
    sentences are kept (they still supply random "not next" sentences).

    Without a ``tokenizer``, a WordPiece vocabulary of at most ``vocab_size`` tokens is
    learned from ``text`` itself: ``train_wordpiece(text, vocab_size)``, BERT's special
    tokens first. Training is deterministic, so to get that tokenizer (``PretrainingData``
    needs it) train it yourself and pass it in:

    >>> from course_utils.tokenization import train_wordpiece
    >>> text = "The cat sat. The dog sat.\\n\\nThe cat ran. The dog ran."
    >>> tok = train_wordpiece(text, 60)
    >>> docs = documents_from_text(text, tok)
    >>> docs == documents_from_text(text, vocab_size=60)
    True
    >>> [tok.tokenize(sentence) for sentence in ["The cat sat.", "The dog ran."]]
    [['the', 'cat', 'sat', '.'], ['the', 'dog', 'ran', '.']]
    """
    if tokenizer is None:
        tokenizer = train_wordpiece(text, vocab_size)
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
    """Taught in notebook 04, section 8.
    Random ``[CLS] A [SEP] B [SEP]`` pairs with BERT's masking, from ``documents``.

    ``objective="mlm+nsp"``: B follows A half of the time (NSP labels matter);
    ``"mlm"``: B always follows A, so the model reads contiguous text.
    ``packed=True`` (BERT's recipe) fills each pair with as many whole sentences as fit
    in ``max_length`` (``course_utils.noising.make_packed_pair``); ``False`` puts one
    sentence in each segment. ``mode``: how positions are picked for the MLM, see
    ``course_utils.noising.mask_tokens``. One ``seed`` drives both the pairs and the masks.
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
        mask_rate: float = 0.15,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
        self.documents = documents
        self.objective = objective
        self.max_length = max_length
        self.mode = mode
        self.packed = packed
        self.mask_rate = mask_rate
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
        """Taught in notebook 04, section 8. ``batch_size`` fresh pairs, noised and padded."""
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
            rate=self.mask_rate, mode=self.mode, generator=self.generator,
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
        learning_rate=sizes.learning_rate, warmup_steps=sizes.warmup_steps, decay=sizes.lr_decay,
        fused=True, desc=desc,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return {**history, "objective": data.objective, "seconds": round(seconds, 2)}


# ---------------------------------------------------------------- the shared model
def tiny_bert_config(tokenizer: WordPieceTokenizer, scale: Scale | None = None) -> ModelConfig:
    """Taught in notebook 04, section 4.
    The ``bert-tiny`` preset of ``scale`` for ``tokenizer``'s vocabulary."""
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
    """Taught in notebook 04, section 5.
    The course's tiny BERT, pretrained on the small world: loaded from the checkpoint
    cache, or trained (then cached) when it is missing.

    The cache key holds the scale's sizes, the model configuration, the objective, the
    seed and ``CHECKPOINT_VERSION``, so changing any of them trains a new model.
    Training runs on ``device`` (default ``course_utils.config.get_device``: a GPU when
    there is one); the model comes back on the CPU, where a notebook's own tensors are.
    Returns ``(model, metadata)``; metadata is ``pretrain``'s history.
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
            documents, tokenizer, scale.bert.max_length, objective=objective, seed=seed,
            mask_rate=scale.bert.mask_rate,
        )
        model.to(get_device(device))
        history = pretrain(model, data, scale.bert, desc=f"pretraining ({objective})")
        model.cpu()  # saved, and handed back, on the CPU
        return history

    return cached_model(key, build, train_model, retrain=retrain)



# ---------------------------------------------------------------- what NSP can be solved by
def segment_lengths(batch: PretrainingBatch) -> dict[str, Tensor]:
    """Taught in notebook 04, section 8. Tokens of segment A, of segment B and of the whole
    pair, per pair ``(B,)`` (with the special tokens: ``[CLS] A [SEP]`` counts for A, ``B [SEP]`` for B)."""
    real = batch.attention_mask.bool()
    length_b = (real & (batch.token_type_ids == 1)).sum(1)
    length = real.sum(1)
    return {"pair": length, "segment A": length - length_b, "segment B": length_b}


def nsp_length_baseline(fit: PretrainingBatch, test: PretrainingBatch) -> pd.DataFrame:
    """Taught in notebook 04, section 8: the simplest heuristic for next-sentence prediction,
    one length threshold.

    For each length (the pair's, segment A's, segment B's)
    pick the rule "``NOT_NEXT`` if length <= t" or "... >= t" that is most accurate on the
    ``fit`` pairs, then score it on the ``test`` pairs. A length cue this simple is what a
    model can learn instead of how sentences follow each other.
    """
    rows = []
    fit_lengths, test_lengths = segment_lengths(fit), segment_lengths(test)
    for name in fit_lengths:
        x, y = fit_lengths[name], fit.nsp_labels
        best = (-1.0, 0, "<=")
        for t in torch.unique(x).tolist():
            for rule, predicted in (("<=", x <= t), (">=", x >= t)):
                accuracy = (predicted.long() == y).float().mean().item()  # NOT_NEXT is 1
                best = max(best, (accuracy, t, rule))
        accuracy, t, rule = best
        x_test = test_lengths[name]
        predicted = x_test <= t if rule == "<=" else x_test >= t
        rows.append({
            "length of": name, "rule": f"NOT_NEXT if length {rule} {t}",
            "fit accuracy": round(accuracy, 3),
            "test accuracy": round((predicted.long() == test.nsp_labels).float().mean().item(), 3),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _clean_ids(batch: PretrainingBatch) -> Tensor:
    """The pairs' token ids before the MLM noise ``(B, L)``: targets get their label back."""
    return torch.where(batch.labels != -100, batch.labels, batch.input_ids)


def nsp_overlap_features(batch: PretrainingBatch, frequent: set[int]) -> Tensor:
    """Taught in notebook 04, section 8. Shallow features of each pair ``(B, 5)``: content words
    shared by A and B (distinct ids outside ``frequent`` and the special ids), that count over
    B's content words, and the lengths of A, B and the pair (see ``segment_lengths``)."""
    ids = _clean_ids(batch)
    real = batch.attention_mask.bool()
    rows = []
    for row in range(ids.shape[0]):
        words = ids[row][real[row]].tolist()
        types = batch.token_type_ids[row][real[row]].tolist()
        content = [(w, t) for w, t in zip(words, types) if w >= len(SPECIAL_TOKENS) and w not in frequent]
        a = {w for w, t in content if t == 0}
        b = {w for w, t in content if t == 1}
        shared = len(a & b)
        rows.append([shared, shared / max(1, len(b))])
    lengths = segment_lengths(batch)
    extra = torch.stack([lengths["segment A"], lengths["segment B"], lengths["pair"]], 1).float()
    return torch.cat([torch.tensor(rows, dtype=torch.float), extra], 1)


def nsp_overlap_baseline(
    fit: PretrainingBatch, test: PretrainingBatch, frequent_words: int = 50, steps: int = 200
) -> dict[str, float]:
    """Taught in notebook 04, section 8: a logistic regression on shallow features
    (``nsp_overlap_features``: shared content words of A and B, lengths), fitted on the
    ``fit`` pairs and scored on the ``test`` pairs. ``frequent_words``: how many of the fit
    pairs' most frequent token ids do not count as content words. Deterministic (full-batch
    L-BFGS from zero weights). Returns the fit and test accuracies."""
    if frequent_words < 0:
        raise ValueError(f"frequent_words must be >= 0, got {frequent_words}")
    counts = torch.bincount(_clean_ids(fit)[fit.attention_mask.bool()])
    frequent = set(counts.argsort(descending=True)[:frequent_words].tolist())
    x_fit, x_test = nsp_overlap_features(fit, frequent), nsp_overlap_features(test, frequent)
    mean, std = x_fit.mean(0), x_fit.std(0).clamp_min(1e-6)
    x_fit, x_test = (x_fit - mean) / std, (x_test - mean) / std  # standardised with the fit pairs
    y = fit.nsp_labels.float()
    weights = torch.zeros(x_fit.shape[1] + 1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = x_fit @ weights[:-1] + weights[-1]
        loss = F.binary_cross_entropy_with_logits(logits, y) + 1e-3 * weights[:-1].pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        def accuracy(x: Tensor, labels: Tensor) -> float:
            return ((x @ weights[:-1] + weights[-1] > 0).long() == labels).float().mean().item()

        return {"fit accuracy": round(accuracy(x_fit, fit.nsp_labels), 3),
                "test accuracy": round(accuracy(x_test, test.nsp_labels), 3)}


@torch.no_grad()
def nsp_accuracy(model: BertForPreTraining, batch: PretrainingBatch) -> float:
    """Taught in notebook 04, section 8. The share of ``batch``'s pairs whose NSP label the
    model predicts (the model is put in eval mode)."""
    model.eval()
    out = model(batch.input_ids, batch.token_type_ids, batch.attention_mask)
    return (out.nsp_logits.argmax(-1) == batch.nsp_labels).float().mean().item()


# ---------------------------------------------------------------- does NSP help downstream?
def nsp_ablation(
    tasks: Sequence[str] = ("sentiment", "nli"),
    scale: Scale | str | None = None,
    pretrain_seeds: Sequence[int] = (0, 1),
    finetune_seeds: Sequence[int] | None = None,
    method: str = "full",
) -> pd.DataFrame:
    """Taught in notebook 05, section 7. RoBERTa's question at the course's scale: pretrain with
    MLM + NSP and with MLM alone, each with every seed of ``pretrain_seeds``, fine-tune each
    model on each task with every seed of ``finetune_seeds`` (default
    ``range(scale.finetune.seeds)``), and test.

    The models come from the checkpoint cache (``pretrained_bert``), so seed 0 of
    MLM + NSP is the course's shared model. Both sources of randomness that differ
    between the arms (pretraining seed, fine-tuning seed) vary, so the spread of
    ``summarize_ablation`` covers them. One row per objective, pretraining seed, task and
    fine-tuning seed, with the test accuracies on ``seen``, ``unseen`` and ``all`` items.
    """
    from tqdm.auto import tqdm

    from course_utils.data.world import load_task
    from course_utils.finetuning import encode_splits, run_finetuning

    scale = get_scale(scale) if not isinstance(scale, Scale) else scale
    if len(pretrain_seeds) < 2:
        raise ValueError("need at least two pretraining seeds per arm, for a spread that covers them")
    seeds = list(range(scale.finetune.seeds)) if finetune_seeds is None else list(finetune_seeds)
    tokenizer = world_tokenizer()
    frames = {task: load_task(task, scale.name) for task in tasks}
    encoded = {task: encode_splits(task, frames[task], tokenizer, scale.finetune.max_length) for task in tasks}
    bodies = {(objective, pretrain_seed): pretrained_bert(objective, scale, seed=pretrain_seed)[0].bert
              for objective in ("mlm+nsp", "mlm") for pretrain_seed in pretrain_seeds}  # one bar per pretraining
    runs = [(objective, pretrain_seed, task, seed) for objective, pretrain_seed in bodies
            for task in tasks for seed in seeds]
    rows = []
    for objective, pretrain_seed, task, seed in tqdm(runs, desc="NSP ablation: fine-tuning runs"):
        scores = run_finetuning(task, frames[task], tokenizer, bodies[objective, pretrain_seed], scale.finetune,
                                "pretrained", method, seed, show_progress=False, encoded=encoded[task])
        rows.append({"objective": objective, "pretrain_seed": pretrain_seed, "task": task,
                     "seed": seed, **scores})
    return pd.DataFrame(rows)


def summarize_ablation(results: pd.DataFrame, items: dict[str, int], column: str = "unseen") -> pd.DataFrame:
    """Taught in notebook 05, section 7. Per task: mean ± standard deviation of ``column`` for
    each objective (over every pretraining and fine-tuning seed), the difference MLM + NSP
    minus MLM alone, the threshold of notebook 05's one evidence rule
    (``course_utils.finetuning.evidence_threshold`` on ``items[task]`` test items) and the
    verdict ("evidence" only when the difference is larger than the threshold)."""
    from course_utils.finetuning import evidence_threshold

    rows = []
    for task, part in results.groupby("task", sort=False):
        stats = part.groupby("objective")[column].agg(["mean", "std", "size"])
        if set(stats.index) != {"mlm+nsp", "mlm"}:
            raise ValueError(f"task {task!r} needs rows of both objectives; got {sorted(stats.index)}")
        if task not in items:
            raise KeyError(f"items has no count of test items for task {task!r}; it has {sorted(items)}")
        with_nsp, without = stats.loc["mlm+nsp"], stats.loc["mlm"]
        difference = with_nsp["mean"] - without["mean"]
        threshold = evidence_threshold([with_nsp["std"], without["std"]], [with_nsp["mean"], without["mean"]],
                                       items[task])
        rows.append({
            "task": task,
            "MLM + NSP": f"{with_nsp['mean']:.3f} ± {with_nsp['std']:.3f}",
            "MLM only": f"{without['mean']:.3f} ± {without['std']:.3f}",
            "runs per arm": int(stats["size"].min()), "difference": round(difference, 3),
            "threshold": round(threshold, 3),
            "verdict": "evidence" if abs(difference) > threshold else "no evidence",
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("task")

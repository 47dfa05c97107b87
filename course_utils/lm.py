"""Pretraining a GPT: one stream of tokens -> random windows -> the next-token loss.

Taught in notebook 06. A language model reads text left to right and at every position
scores the token that comes next, so the whole objective is one cross-entropy with the
targets shifted by one position (``next_token_loss``). The data is as plain (as in nanoGPT's
``get_batch``): the documents' token ids are concatenated into one stream, an end-of-text
id after each, and a batch is ``B`` windows of ``block_size + 1`` consecutive tokens cut at
random from it: the first ``block_size`` are the input, the last ``block_size`` the targets.

>>> stream = lm_stream([[5, 6, 7], [8, 9]], end_id=0)   # two documents
>>> stream.tolist()
[5, 6, 7, 0, 8, 9, 0]
>>> batch = LMData(stream, block_size=3, seed=0).batch(2)
>>> batch.inputs.shape, batch.targets.shape                  # (B, block_size) each
(torch.Size([2, 3]), torch.Size([2, 3]))
>>> bool((batch.inputs[:, 1:] == batch.targets[:, :-1]).all())  # the same window, shifted
True

The control for every loss curve is a model that ignores the context: the unigram
model, which predicts each token with its frequency in the training stream.

>>> unigram_baseline(stream, stream, vocab_size=10)["perplexity"] < 10   # better than uniform
True
"""

from __future__ import annotations

import copy
import math
import os
import re
import time
import types
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_utils.checkpoints import cached_model, checkpoint_dir, checkpoint_key, load_checkpoint, save_checkpoint
from course_utils.config import GPTSizes, Scale, get_device, get_scale
from course_utils.models import GPTModel, ModelConfig, get_config
from course_utils.data.text_files import read_text_corpus
from course_utils.tokenization import CharTokenizer, Tokenizer, WordPieceTokenizer, train_byte_bpe
from course_utils.training import train

IGNORE_INDEX = -100
"""The target value ``F.cross_entropy`` skips (and Hugging Face's ``labels`` use for padding)."""

GPT_SPECIAL_TOKENS = ("<|endoftext|>", "<|start|>", "<|delim|>", "<|extract|>")
"""The GPT's own tokens, appended after the small world's vocabulary (``gpt_tokenizer``).

``<|endoftext|>`` ends every pretraining document (GPT-2's end of text) and pads fine-tuning
batches (masked out, as Hugging Face pads GPT-2); ``<|start|>``, ``<|delim|>`` and
``<|extract|>`` are GPT-1's fine-tuning tokens: the start of an input, the boundary between
its two parts, and the last token, whose hidden state the classifier reads. They are in the
vocabulary from pretraining on, so their embeddings exist; the last three are first seen in
fine-tuning, as in GPT-1."""

WORLD_END_OF_DOCUMENT = GPT_SPECIAL_TOKENS[0]
"""The token a GPT on the small world reads between two documents: ``<|endoftext|>``."""

GPT_CHECKPOINT_VERSION = 1
"""Bump when the recipe of ``pretrained_gpt`` changes in a way the sizes do not show."""


# ---------------------------------------------------------------- the loss
def next_token_loss(logits: Tensor, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Taught in notebook 06. The language-modelling loss: the mean cross-entropy of
    position ``t``'s logits against token ``t + 1``, over every real target.

    ``logits (B, L, V)`` come from reading ``input_ids (B, L)``; the last position has no
    next token, the first token is nobody's target. ``attention_mask (B, L)``: 1 for real
    tokens, 0 for padding; padded targets count for nothing. The same number as Hugging
    Face's ``GPT2LMHeadModel(input_ids, labels=input_ids)`` with ``-100`` at padding.

    >>> logits = torch.zeros(1, 3, 4)          # a uniform model over 4 tokens
    >>> round(next_token_loss(logits, torch.tensor([[1, 2, 3]])).item(), 4) == round(math.log(4), 4)
    True
    """
    if logits.dim() != 3 or input_ids.shape != logits.shape[:2]:
        raise ValueError(f"expected logits (B, L, V) and input_ids (B, L) with the same B and L; "
                         f"got {tuple(logits.shape)} and {tuple(input_ids.shape)}")
    if input_ids.shape[1] < 2:
        raise ValueError(f"need at least 2 positions to predict a next token; got {input_ids.shape[1]}")
    targets = input_ids[:, 1:]  # (B, L-1): the token after each position
    if attention_mask is not None:
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask must have input_ids' shape {tuple(input_ids.shape)}; "
                             f"got {tuple(attention_mask.shape)}")
        targets = targets.masked_fill(attention_mask[:, 1:] == 0, IGNORE_INDEX)
    predictions = logits[:, :-1]  # (B, L-1, V): the last position predicts nothing we know
    return F.cross_entropy(predictions.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


# ---------------------------------------------------------------- the stream
def lm_stream(
    documents: Sequence[int] | Sequence[Sequence[int]] | Sequence[Sequence[Sequence[int]]],
    end_id: int | None = None,
) -> Tensor:
    """Taught in notebook 06. Token ids of ``documents`` concatenated into one stream ``(N,)``,
    with ``end_id`` (GPT-2's ``<|endoftext|>``) after each document when it is given.

    ``documents`` is one document (a list of ids), a list of documents (lists of ids), or a
    list of documents made of sentences (as ``course_utils.pretraining.world_documents``
    gives them); a document's sentences simply follow each other.

    >>> lm_stream([[[1, 2], [3]], [[4]]], end_id=0).tolist()    # documents of sentences
    [1, 2, 3, 0, 4, 0]
    >>> lm_stream([1, 2, 3]).tolist()                            # one document, no separator
    [1, 2, 3]
    """
    if isinstance(documents, Tensor):
        documents = documents.tolist()
    if len(documents) == 0:
        raise ValueError("documents is empty; give at least one document of token ids")
    if not isinstance(documents[0], (list, tuple, Tensor)):
        documents = [documents]  # one document of ids
    ids: list[int] = []
    for document in documents:
        ids += _flat_ids(document)
        if end_id is not None:
            ids.append(end_id)
    if not ids:
        raise ValueError("the documents hold no token ids")
    return torch.tensor(ids, dtype=torch.long)


def _flat_ids(document: Iterable) -> list[int]:
    """A document's ids, whether it is a list of ids or a list of sentences of ids."""
    ids = []
    for item in document:
        if isinstance(item, (list, tuple, Tensor)):
            ids += [int(i) for i in item]
        else:
            ids.append(int(item))
    return ids


def gpt_tokenizer() -> WordPieceTokenizer:
    """Taught in notebook 06. The GPT's tokenizer on the small world: the world's WordPiece
    vocabulary (``course_utils.data.world.vocabulary.world_tokenizer``, whose ids it keeps)
    with ``GPT_SPECIAL_TOKENS`` appended, each kept whole when it occurs in a text.

    >>> tok = gpt_tokenizer()
    >>> tok.tokenize("<|start|> Ann is happy . <|extract|>")
    ['<|start|>', 'ann', 'is', 'happy', '.', '<|extract|>']
    >>> len(tok.vocab) - len(GPT_SPECIAL_TOKENS) == tok.token_to_id["<|endoftext|>"]
    True
    """
    return _gpt_tokenizer()


@lru_cache(maxsize=1)
def _gpt_tokenizer() -> WordPieceTokenizer:
    from course_utils.data.world.vocabulary import SPECIAL_TOKENS, world_tokenizer

    world = world_tokenizer()
    return WordPieceTokenizer([*world.vocab, *GPT_SPECIAL_TOKENS], unk_token="[UNK]",
                              special_tokens=(*SPECIAL_TOKENS, *GPT_SPECIAL_TOKENS))


def world_lm_stream(num_words: int, tokenizer: WordPieceTokenizer | None = None, seed: int = 0) -> Tensor:
    """Taught in notebook 06. The small world's corpus (``num_words`` words, seeded) as one
    stream for a GPT: ``course_utils.pretraining.world_documents``, each document followed
    by ``WORLD_END_OF_DOCUMENT`` (``<|endoftext|>``). ``tokenizer`` defaults to ``gpt_tokenizer()``
    and must have that token."""
    from course_utils.pretraining import world_documents

    tokenizer = tokenizer or gpt_tokenizer()
    if WORLD_END_OF_DOCUMENT not in tokenizer.token_to_id:
        raise KeyError(f"the tokenizer has no {WORLD_END_OF_DOCUMENT!r} to end documents with; "
                       f"use course_utils.lm.gpt_tokenizer() (the world's vocabulary plus "
                       f"{', '.join(GPT_SPECIAL_TOKENS)})")
    end_id = tokenizer.token_to_id[WORLD_END_OF_DOCUMENT]
    return lm_stream(world_documents(num_words, tokenizer, seed=seed), end_id=end_id)


def text_lm_stream(text: str, tokenizer: Tokenizer, end_token: str | None = None) -> Tensor:
    """Taught in notebook 06. Any text as one stream for a GPT, e.g. a file read with
    ``course_utils.data.text_files.read_text_corpus``.

    ``end_token=None``: the text is one document, encoded whole (a character-level model
    reads its blank lines as characters). With ``end_token`` (``"<|endoftext|>"`` for a
    byte-level BPE trained with it), blank lines separate documents and the token's id
    follows each one, as GPT-2's training data does.

    >>> from course_utils.tokenization import CharTokenizer
    >>> tok = CharTokenizer.from_text("ab\\n\\nba")
    >>> text_lm_stream("ab\\n\\nba", tok).tolist()
    [1, 2, 0, 0, 2, 1]
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str; got {text!r:.40}")
    if end_token is None:
        return lm_stream([tokenizer.encode(text)])
    if end_token not in tokenizer.token_to_id:
        raise KeyError(f"end_token {end_token!r} is not in the tokenizer's vocabulary; train it "
                       f"with special_tokens=[{end_token!r}], or pass end_token=None")
    blocks = [block for block in re.split(r"\n\s*\n", text) if block.strip()]
    return lm_stream([tokenizer.encode(block) for block in blocks], end_id=tokenizer.token_to_id[end_token])


TEXT_TOKENIZERS = ("char", "bpe")
"""How ``text_file_corpus`` reads a file of your own: characters, or byte-level BPE learned on it."""


class TextCorpus(NamedTuple):
    """A text file ready for language modelling: its tokenizer (which knows
    ``<|endoftext|>``) and the token ids of its training and validation parts."""

    tokenizer: Tokenizer
    train_ids: Tensor
    validation_ids: Tensor


def text_file_corpus(
    path: str | os.PathLike[str], tokenizer: str = "char", num_merges: int = 500,
    validation_fraction: float = 0.1,
) -> TextCorpus:
    """Taught in notebook 06 (your own text). Any UTF-8 text file as a GPT corpus: a character
    tokenizer of its alphabet (``tokenizer="char"``, nanoGPT's Shakespeare recipe) or
    byte-level BPE with ``num_merges`` merges learned on the file (``"bpe"``, GPT-2's recipe),
    both with ``<|endoftext|>`` between the file's paragraphs (blank-line separated blocks);
    the last ``validation_fraction`` of the stream is held out.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "poem.txt"
    ...     _ = path.write_text("the cat sat.\\n\\nthe dog sat too.\\n" * 20)
    ...     corpus = text_file_corpus(path)
    >>> len(corpus.tokenizer.vocab), len(corpus.train_ids) > len(corpus.validation_ids)
    (13, True)
    """
    if tokenizer not in TEXT_TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}; allowed: {', '.join(TEXT_TOKENIZERS)}")
    text = read_text_corpus(path, min_chars=100)
    if tokenizer == "char":
        tok: Tokenizer = CharTokenizer.from_text(text, special_tokens=[WORLD_END_OF_DOCUMENT])
    else:
        tok = train_byte_bpe(text, num_merges, special_tokens=[WORLD_END_OF_DOCUMENT])
    train_ids, validation_ids = split_stream(text_lm_stream(text, tok, end_token=WORLD_END_OF_DOCUMENT),
                                             validation_fraction)
    return TextCorpus(tok, train_ids, validation_ids)


def split_stream(stream: Tensor, validation_fraction: float = 0.1) -> tuple[Tensor, Tensor]:
    """Taught in notebook 06. The stream's first part for training and its last
    ``validation_fraction`` for validation (nanoGPT's split: no window crosses the cut).

    >>> train_part, validation_part = split_stream(torch.arange(10), 0.2)
    >>> train_part.tolist(), validation_part.tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be between 0 and 1; got {validation_fraction}")
    cut = len(stream) - max(1, round(len(stream) * validation_fraction))
    if cut < 1:
        raise ValueError(f"a stream of {len(stream)} tokens is too short to split")
    return stream[:cut], stream[cut:]


# ---------------------------------------------------------------- batches
class LMBatch(NamedTuple):
    """One step's windows: ``inputs (B, T)`` and ``targets (B, T)``, the same tokens one
    position later (``targets[:, t]`` is the token after ``inputs[:, t]``)."""

    inputs: Tensor
    targets: Tensor

    def to(self, device: torch.device | str) -> LMBatch:
        return LMBatch(self.inputs.to(device), self.targets.to(device))


class LMData:
    """Taught in notebook 06. Random contiguous windows of one token ``stream`` (1-D).

    ``batch(B)`` cuts ``B`` windows of ``block_size + 1`` tokens, each starting at a
    position drawn uniformly from those where the whole window fits: a window never runs
    past the end of the stream. The starts come from a ``torch.Generator`` seeded with
    ``seed``, so the same seed gives the same batches.
    """

    def __init__(self, stream: Tensor | Sequence[int], block_size: int, seed: int = 0) -> None:
        stream = torch.as_tensor(stream, dtype=torch.long)
        if stream.dim() != 1:
            raise ValueError(f"stream must be 1-D (one sequence of token ids); "
                             f"got shape {tuple(stream.shape)}")
        if not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be a positive int; got {block_size!r}")
        if len(stream) < block_size + 1:
            raise ValueError(f"the stream has {len(stream)} tokens; a window of block_size={block_size} "
                             f"needs {block_size + 1} (inputs and the next token). Use a smaller block_size.")
        self.stream = stream
        self.block_size = block_size
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self._offsets = torch.arange(block_size + 1)  # (T+1,)

    def __len__(self) -> int:
        return len(self.stream)

    def windows(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """Taught in notebook 06. ``batch_size`` random windows ``(B, block_size + 1)``
        (from ``generator``, default the data's own)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        last_start = len(self.stream) - (self.block_size + 1)  # the window then ends at the last token
        starts = torch.randint(last_start + 1, (batch_size,), generator=generator or self.generator)
        return self.stream[starts[:, None] + self._offsets]  # (B, T+1)

    def batch(self, batch_size: int, generator: torch.Generator | None = None) -> LMBatch:
        """Taught in notebook 06. ``batch_size`` windows as inputs and targets, each ``(B, block_size)``."""
        window = self.windows(batch_size, generator)  # (B, T+1)
        return LMBatch(window[:, :-1], window[:, 1:])

    def fixed_batches(self, num_batches: int, batch_size: int) -> list[LMBatch]:
        """The same ``num_batches`` batches at every call (drawn from a generator seeded with
        ``seed``, not from the data's own): a validation loss measured on them changes only
        because the model does."""
        generator = torch.Generator().manual_seed(self.seed)
        return [self.batch(batch_size, generator) for _ in range(num_batches)]


def lm_loss(model: nn.Module, batch: LMBatch) -> Tensor:
    """Taught in notebook 06. The next-token loss of one batch of windows: ``model`` reads
    ``batch.inputs`` and each position is scored against ``batch.targets`` (already shifted,
    so this equals ``next_token_loss`` on the whole window without its last logits)."""
    logits = model(batch.inputs).logits  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten())


@torch.no_grad()
def evaluate_lm(model: nn.Module, batches: Sequence[LMBatch]) -> float:
    """Taught in notebook 06. The mean next-token loss (nats per token) over ``batches``,
    in eval mode (the model's mode is restored afterwards)."""
    if not batches:
        raise ValueError("batches is empty; give at least one LMBatch")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return sum(lm_loss(model, batch.to(device)).item() for batch in batches) / len(batches)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------- the control
def unigram_baseline(
    train_ids: Tensor | Sequence[int], test_ids: Tensor | Sequence[int], vocab_size: int
) -> dict[str, float]:
    """Taught in notebook 06. The cross-entropy (nats per token) and perplexity on
    ``test_ids`` of the unigram model of ``train_ids``: every token gets its frequency in the
    training ids, with add-one smoothing (each of the ``vocab_size`` tokens counted once more),
    whatever came before it. A language model that learned anything from context beats it;
    a uniform guess scores ``log(vocab_size)``.

    >>> result = unigram_baseline([0, 0, 1], [0, 1], vocab_size=2)   # p = 3/5 and 2/5
    >>> round(result["cross_entropy"], 4), round(result["perplexity"], 4)
    (0.7136, 2.0412)
    """
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int; got {vocab_size!r}")
    train_ids, test_ids = (torch.as_tensor(ids, dtype=torch.long).flatten() for ids in (train_ids, test_ids))
    for name, ids in (("train_ids", train_ids), ("test_ids", test_ids)):
        if len(ids) and not (0 <= int(ids.min()) and int(ids.max()) < vocab_size):
            raise ValueError(f"{name} has ids outside 0 .. {vocab_size - 1} (vocab_size={vocab_size})")
    if len(test_ids) == 0:
        raise ValueError("test_ids is empty; the baseline needs tokens to score")
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1  # (V,) add-one
    log_probs = (counts / counts.sum()).log()
    cross_entropy = -log_probs[test_ids].mean().item()
    return {"cross_entropy": cross_entropy, "perplexity": math.exp(cross_entropy)}


def ngram_baseline(
    train_ids: Tensor | Sequence[int], test_ids: Tensor | Sequence[int], vocab_size: int, n: int = 2,
    prior_weight: float = 1.0,
) -> dict[str, float]:
    """Taught in notebook 06. The cross-entropy (nats per token) and perplexity on ``test_ids``
    of a counting ``n``-gram model of ``train_ids``: the simplest model that does read context,
    the last ``n - 1`` tokens. Each order is smoothed towards the one below it (a Dirichlet
    prior, ``p(w | h) = (count(h, w) + prior_weight * p_lower(w)) / (count(h) + prior_weight)``),
    down to ``unigram_baseline``; ``n = 1`` is the unigram model itself. The first ``n - 1``
    test tokens are scored with the shorter contexts they have.

    >>> stream = [0, 1] * 50                       # 0 is always followed by 1, 1 by 0
    >>> ngram_baseline(stream, stream, vocab_size=2, n=2)["perplexity"] < 1.05
    True
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    if prior_weight <= 0:
        raise ValueError(f"prior_weight must be > 0; got {prior_weight!r}")
    unigram_baseline(train_ids, test_ids, vocab_size)  # the same argument checks
    train = torch.as_tensor(train_ids, dtype=torch.long).flatten()
    test = torch.as_tensor(test_ids, dtype=torch.long).flatten()
    counts = torch.bincount(train, minlength=vocab_size).double() + 1  # add-one unigram, as unigram_baseline
    probs = (counts / counts.sum())[test]  # (T,): p(test token) under the current order
    for order in range(2, n + 1):
        keys = _ngram_keys(train, order, vocab_size)  # one int per n-gram of the training stream
        grams, gram_counts = keys.unique(return_counts=True)
        contexts, context_counts = (keys // vocab_size).unique(return_counts=True)
        wanted = _ngram_keys(test, order, vocab_size)  # (T - order + 1,)
        found = _lookup(grams, gram_counts, wanted).double()
        seen = _lookup(contexts, context_counts, wanted // vocab_size).double()
        lower = probs[order - 1:]  # the lower order's probability of the same tokens
        probs = torch.cat([probs[:order - 1], (found + prior_weight * lower) / (seen + prior_weight)])
    cross_entropy = -probs.log().mean().item()
    return {"cross_entropy": cross_entropy, "perplexity": math.exp(cross_entropy)}


class NgramLM(nn.Module):
    """Taught in notebook 06 (zero-shot). ``ngram_baseline``'s counting model as a language
    model: ``NgramLM(train_ids, vocab_size, n)(ids).logits`` are log-probabilities ``(B, L, V)``
    of the next token from the last ``n - 1`` tokens, the same smoothing as ``ngram_baseline``,
    so every function that scores text with a GPT (``sequence_log_prob``, the zero-shot
    heuristics) can score it with counts instead: the simplest heuristic beside a GPT.

    >>> counts = NgramLM(torch.tensor([0, 1] * 50), vocab_size=2, n=2)
    >>> [round(p, 2) for p in counts(torch.tensor([[0, 1]])).logits.exp()[0, 0].tolist()]  # after 0: surely 1
    [0.01, 0.99]
    """

    def __init__(self, train_ids: Tensor | Sequence[int], vocab_size: int, n: int = 2, prior_weight: float = 1.0):
        super().__init__()
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        train = torch.as_tensor(train_ids, dtype=torch.long).flatten()
        unigram_baseline(train, train[:1], vocab_size)  # the argument checks
        self.vocab_size, self.n, self.prior_weight = vocab_size, n, prior_weight
        counts = torch.bincount(train, minlength=vocab_size).double() + 1
        self.unigram = counts / counts.sum()  # (V,)
        self.followers: list[dict[int, tuple[Tensor, Tensor]]] = []  # per order: context key -> (tokens, counts)
        for order in range(2, n + 1):
            keys = _ngram_keys(train, order, vocab_size)
            grams, gram_counts = keys.unique(return_counts=True)
            table: dict[int, tuple[list[int], list[int]]] = {}
            for gram, count in zip(grams.tolist(), gram_counts.tolist()):
                entry = table.setdefault(gram // vocab_size, ([], []))
                entry[0].append(gram % vocab_size)
                entry[1].append(count)
            self.followers.append({context: (torch.tensor(tokens), torch.tensor(c, dtype=torch.double))
                                   for context, (tokens, c) in table.items()})
        self.unused = nn.Parameter(torch.zeros(()), requires_grad=False)  # scorers ask for a device

    def next_token_probs(self, context: Sequence[int]) -> Tensor:
        """``p(next | context)`` over the vocabulary ``(V,)``, from its last ``n - 1`` tokens."""
        probs = self.unigram
        for order in range(2, self.n + 1):
            if len(context) < order - 1:
                break
            key = 0
            for token in context[len(context) - order + 1:]:
                key = key * self.vocab_size + int(token)
            tokens, counts = self.followers[order - 2].get(key, (None, None))
            seen = float(counts.sum()) if counts is not None else 0.0
            raised = probs * self.prior_weight  # (V,): the prior, from the order below
            if tokens is not None:
                raised = raised.index_add(0, tokens, counts)
            probs = raised / (seen + self.prior_weight)
        return probs

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None):
        rows = []
        for row in input_ids.tolist():
            rows.append(torch.stack([self.next_token_probs(row[: t + 1]) for t in range(len(row))]))
        logits = torch.stack(rows).log().float()  # (B, L, V) log-probabilities
        return types.SimpleNamespace(logits=logits)


def _ngram_keys(ids: Tensor, order: int, vocab_size: int) -> Tensor:
    """Each window of ``order`` tokens as one int64, base ``vocab_size`` (last token lowest)."""
    windows = ids.unfold(0, order, 1)  # (T - order + 1, order)
    weights = vocab_size ** torch.arange(order - 1, -1, -1, dtype=torch.long)
    return (windows * weights).sum(-1)


def _lookup(keys: Tensor, counts: Tensor, wanted: Tensor) -> Tensor:
    """The count of each wanted key among sorted unique ``keys`` (0 where absent)."""
    where = torch.searchsorted(keys, wanted).clamp(max=len(keys) - 1)
    return torch.where(keys[where] == wanted, counts[where], torch.zeros_like(counts[where]))


# ---------------------------------------------------------------- the loop
def pretrain_lm(
    model: nn.Module,
    data: LMData,
    steps: int,
    learning_rate: float = 1e-3,
    warmup_steps: int = 0,
    batch_size: int = 32,
    decay: bool = False,
    eval_data: LMData | None = None,
    eval_every: int | None = None,
    eval_batches: int = 4,
    checkpoint_steps: Iterable[int] = (),
    desc: str = "pretraining the GPT",
    show_progress: bool = True,
) -> dict[str, object]:
    """Taught in notebook 06. Train ``model`` (a ``GPTModel``) with the next-token loss on
    ``steps`` batches of ``batch_size`` windows of ``data``, in ``course_utils.training.train``
    (AdamW, gradient clipping, ``warmup_steps`` of linear warmup, then a constant rate or,
    with ``decay``, a linear decay to 0; one progress bar).

    With ``eval_data`` the validation loss is measured on the same ``eval_batches`` batches
    (``LMData.fixed_batches``) before training (step 0), every ``eval_every`` steps (default:
    10 times per run) and after the last step. ``checkpoint_steps``: steps after which a copy of
    the model's weights is kept (0: the untrained model), e.g. to measure zero-shot accuracy
    over pretraining. Returns the history: ``"train_loss"`` (one per step), ``"eval_steps"``,
    ``"eval_loss"`` and ``"eval_perplexity"`` (empty without ``eval_data``),
    ``"checkpoints"`` (step -> state dict on the CPU) and the training ``"seconds"``.
    """
    if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
        raise ValueError(f"eval_every must be a positive int or None; got {eval_every!r}")
    if eval_every is not None and eval_data is None:
        raise ValueError("eval_every needs eval_data: the LMData to measure the validation loss on")
    wanted = sorted(set(checkpoint_steps))
    outside = [step for step in wanted if not 0 <= step <= steps]
    if outside:
        raise ValueError(f"checkpoint_steps {outside} are outside 0 .. steps={steps}")
    device = next(model.parameters()).device
    every = eval_every or max(1, steps // 10)
    fixed = eval_data.fixed_batches(eval_batches, batch_size) if eval_data is not None else []
    history: dict[str, object] = {"eval_steps": [], "eval_loss": [], "eval_perplexity": [], "checkpoints": {}}

    def record(step: int, model: nn.Module) -> None:  # after optimizer step `step` (0: before any)
        if fixed and (step % every == 0 or step == steps):
            loss = evaluate_lm(model, fixed)
            history["eval_steps"].append(step)
            history["eval_loss"].append(loss)
            history["eval_perplexity"].append(math.exp(loss))
        if step in wanted:
            history["checkpoints"][step] = {name: value.detach().cpu().clone()
                                            for name, value in model.state_dict().items()}

    start = time.perf_counter()
    record(0, model)
    losses = train(
        model, lambda: data.batch(batch_size).to(device), lm_loss, steps, learning_rate=learning_rate,
        warmup_steps=warmup_steps, decay=decay, fused=True, desc=desc, callback=record,
        show_progress=show_progress,
    )  # fmt: skip
    return {"train_loss": losses, **history, "seconds": round(time.perf_counter() - start, 2)}


def model_at(model: nn.Module, state_dict: dict[str, Tensor]) -> nn.Module:
    """Taught in notebook 06. A copy of ``model`` holding ``state_dict`` (one of
    ``pretrain_lm``'s checkpoints), in eval mode; ``model`` itself is unchanged."""
    snapshot = copy.deepcopy(model)
    snapshot.load_state_dict(state_dict)
    return snapshot.eval()


# ---------------------------------------------------------------- zero-shot scoring
@torch.no_grad()
def sequence_log_prob(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor | None = None,
    start: int | Tensor = 1,
    batch_size: int = 64,
) -> Tensor:
    """Taught in notebook 06. The log-probability the model gives each sequence's tokens
    from position ``start`` on, given all tokens before them: ``(B,)``, one sum per row.

    For zero-shot scoring: put a prompt at positions ``0 .. start - 1`` and a continuation
    after it, and compare the continuations' sums (two continuations for sentiment; one row
    per answer for multiple choice). ``start`` is one int for all rows or one per row ``(B,)``;
    it is at least 1, since the first token has no context to be predicted from.
    ``attention_mask`` (1 real, 0 padding) marks padding, which must be on the right;
    padded tokens are not scored. Runs without gradients, in eval mode (restored afterwards),
    ``batch_size`` rows at a time.
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (B, L); got shape {tuple(input_ids.shape)}")
    rows, length = input_ids.shape
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask must have input_ids' shape {tuple(input_ids.shape)}; "
                         f"got {tuple(attention_mask.shape)}")
    start = torch.as_tensor(start, device=input_ids.device).long().expand(rows)  # (B,)
    if int(start.min()) < 1 or int(start.max()) > length - 1:
        raise ValueError(f"start must be between 1 and L - 1 = {length - 1} (position 0 has no "
                         f"context); got {start.tolist()[:5]}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        sums = []
        for first in range(0, rows, batch_size):
            ids = input_ids[first:first + batch_size].to(device)  # (b, L)
            mask = attention_mask[first:first + batch_size].to(device)
            log_probs = model(ids, attention_mask=mask).logits[:, :-1].log_softmax(-1)  # (b, L-1, V)
            token_log_probs = log_probs.gather(-1, ids[:, 1:, None])[..., 0]  # (b, L-1): of token t+1
            position = torch.arange(1, length, device=device)  # (L-1,): where each target sits
            scored = (position >= start[first:first + batch_size, None].to(device)) & (mask[:, 1:] == 1)
            sums.append(torch.where(scored, token_log_probs, 0.0).sum(-1))
        return torch.cat(sums).cpu()
    finally:
        model.train(was_training)


# ---------------------------------------------------------------- the shared model
def tiny_gpt_config(vocab_size: int, scale: Scale | GPTSizes | str | None = None) -> ModelConfig:
    """Taught in notebook 06. The ``gpt-tiny`` preset with the sizes of ``scale.gpt`` (a
    ``Scale``, its name, or the ``GPTSizes`` themselves; default the environment's scale)
    for a vocabulary of ``vocab_size`` tokens; ``max_positions`` is the pretraining
    ``block_size``.

    >>> config = tiny_gpt_config(100, "smoke")
    >>> config.vocab_size, config.d_model, config.max_positions
    (100, 32, 32)
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int; got {vocab_size!r}")
    sizes = _gpt_sizes(scale)
    return get_config(
        "gpt-tiny", vocab_size=vocab_size, d_model=sizes.d_model, num_layers=sizes.num_layers,
        num_heads=sizes.num_heads, d_ff=sizes.d_ff, max_positions=sizes.block_size,
    )  # fmt: skip


def _gpt_sizes(scale: Scale | GPTSizes | str | None) -> GPTSizes:
    if isinstance(scale, GPTSizes):
        return scale
    return (scale if isinstance(scale, Scale) else get_scale(scale)).gpt


PRETRAINING_FIELDS = ("d_model", "num_layers", "num_heads", "d_ff", "block_size", "pretrain_steps", "batch_size",
                      "learning_rate", "warmup_steps", "lr_decay", "eval_every", "checkpoint_steps")
"""The fields of ``GPTSizes`` that shape the pretrained GPT (and so its checkpoint key); the
fine-tuning sizes can change without pretraining again."""


def _gpt_key(scale: Scale, config: ModelConfig, vocabulary: list[str], seed: int) -> str:
    """The checkpoint key of ``pretrained_gpt``: the pretraining sizes, the config, the
    vocabulary, the corpus and the seed (the checkpoint files of ``checkpoint_steps`` add
    ``-step<N>``)."""
    sizes = scale.gpt
    pretraining = {name: getattr(sizes, name) for name in PRETRAINING_FIELDS}  # not the fine-tuning sizes
    return checkpoint_key(
        f"gpt-{scale.name}", config=config, pretraining=pretraining, corpus_words=scale.world.corpus_words,
        vocabulary=vocabulary, seed=seed, version=GPT_CHECKPOINT_VERSION,
    )  # fmt: skip


def pretrained_gpt(
    scale: Scale | str | None = None,
    seed: int = 0,
    retrain: bool = False,
    device: torch.device | str | None = None,
) -> tuple[GPTModel, dict[str, object]]:
    """Taught in notebook 06. The course's tiny GPT, pretrained with the next-token loss on
    the small world's corpus (``world_lm_stream``, ``gpt_tokenizer``): loaded from the
    checkpoint cache, or trained (then cached) when it is missing.

    The cache key holds ``scale.gpt``, the model configuration, the vocabulary, the corpus
    size, the seed and ``GPT_CHECKPOINT_VERSION``, so changing any of them trains a new model.
    The last 10 % of the stream is the validation split. Training runs on ``device`` (default
    ``course_utils.config.get_device``); the model comes back on the CPU, in eval mode.
    Returns ``(model, metadata)``: ``pretrain_lm``'s history without the weights, plus the
    ``"unigram"`` control on the validation split and the saved ``"checkpoint_steps"``.
    The weights after each of ``scale.gpt.checkpoint_steps`` are cached too, in files of their
    own: read them with ``pretrained_gpt_at``.
    """
    scale = get_scale(scale) if not isinstance(scale, Scale) else scale
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    tokenizer = gpt_tokenizer()
    sizes = scale.gpt
    config = tiny_gpt_config(len(tokenizer.vocab), scale)
    key = _gpt_key(scale, config, tokenizer.vocab, seed)

    def build() -> GPTModel:
        torch.manual_seed(seed)
        return GPTModel(config)

    def train_model(model: GPTModel) -> dict[str, object]:
        train_ids, validation_ids = split_stream(world_lm_stream(scale.world.corpus_words, tokenizer, seed=seed))
        data = LMData(train_ids, sizes.block_size, seed=seed)
        validation = LMData(validation_ids, sizes.block_size, seed=seed)
        model.to(get_device(device))
        history = pretrain_lm(
            model, data, sizes.pretrain_steps, learning_rate=sizes.learning_rate,
            warmup_steps=sizes.warmup_steps, batch_size=sizes.batch_size, decay=sizes.lr_decay,
            eval_data=validation, eval_every=sizes.eval_every, checkpoint_steps=sizes.checkpoint_steps,
        )  # fmt: skip
        model.cpu()  # saved, and handed back, on the CPU
        snapshots = history.pop("checkpoints")
        for step, state_dict in snapshots.items():
            save_checkpoint(checkpoint_dir() / f"{key}-step{step}.pt", state_dict, {"step": step})
        unigram = unigram_baseline(train_ids, validation_ids, config.vocab_size)
        return {**history, "unigram": unigram, "checkpoint_steps": sorted(snapshots)}

    return cached_model(key, build, train_model, retrain=retrain)


def pretrained_gpt_at(step: int, scale: Scale | str | None = None, seed: int = 0) -> GPTModel:
    """Taught in notebook 06. ``pretrained_gpt``'s model as it was after ``step`` pretraining
    steps (one of ``scale.gpt.checkpoint_steps``; 0 is the untrained model), in eval mode on
    the CPU: for zero-shot accuracy over pretraining. Pretrains (once) if needed."""
    scale = get_scale(scale) if not isinstance(scale, Scale) else scale
    if step not in scale.gpt.checkpoint_steps:
        raise ValueError(f"step {step!r} is not a saved checkpoint; allowed (scale "
                         f"{scale.name!r}): {', '.join(map(str, scale.gpt.checkpoint_steps))}")
    model, _ = pretrained_gpt(scale, seed)
    tokenizer = gpt_tokenizer()
    path = checkpoint_dir() / f"{_gpt_key(scale, model.config, tokenizer.vocab, seed)}-step{step}.pt"
    if not path.exists():  # the final model is cached but its snapshots were deleted
        model, _ = pretrained_gpt(scale, seed, retrain=True)
    state_dict, _ = load_checkpoint(path)
    return model_at(model, state_dict)

"""Scale presets, device choice and seeding.

Every notebook reads its sizes from one preset, picked by the ``COURSE_SCALE``
environment variable:

* ``smoke``  - seconds per notebook; for tests and autograding.
* ``laptop`` - a few minutes per notebook on a 2-core CPU; results show the lesson.
* ``gpu``    - bigger models and data for one modern GPU.

Without ``COURSE_SCALE`` the default is ``gpu`` when CUDA is available and
``laptop`` otherwise; nbgrader's autograder (``NBGRADER_EXECUTION=autograde``)
always gets ``smoke``.

>>> get_scale("smoke").name
'smoke'
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

SCALE_NAMES = ("smoke", "laptop", "gpu")


@dataclass(frozen=True)
class BPESizes:
    """Sizes for notebook 01 (BPE tokenization)."""

    num_words: int  # most frequent English words taken from wordfreq
    num_merges: int  # merges learned on those words
    merge_grid: tuple[int, ...]  # merge counts at which segmentations are compared
    loop_words: int  # most frequent words for the recounting loop and the tie count (section 4-5)
    loop_merges: int  # merges the loop and train_bpe learn from them
    byte_merges: int  # merges of the byte-level and character-level tokenizers (section 7)
    byte_repeats: int  # times the small mixed training text is repeated
    sample_words: int  # words of the training sample the tokens-per-word curve measures
    curve_points: int  # merge counts (besides 0) on that curve, spaced evenly on a log scale
    held_out_words: int  # the next-most frequent words after num_words, never trained on
    swahili_merges: int  # merges learned on the Swahili forms (section 10)


@dataclass(frozen=True)
class AttentionSizes:
    """Sizes for notebook 02: its toy experiments and the cost of attention."""

    seq_lengths: tuple[int, ...]  # sequence lengths at which time and memory are measured
    batch_size: int
    d_model: int
    num_heads: int
    repeats: int  # timing runs per length (median and spread are reported)
    scaling_samples: int  # random queries per width in the sqrt(d) experiment (section 2)
    head_task_vocab: int  # distinct digits of the two-job task (section 5)
    head_task_length: int  # its sequence length
    head_task_width: int  # width of its one-layer models
    head_task_batch: int  # sequences per training step
    head_task_eval: int  # test sequences
    head_task_seeds: int  # seeds per arm (two heads, one head)
    head_task_steps: int  # training steps of each two-job model
    position_train_length: int  # the offset task's training sequences (section 7)...
    position_test_length: int  # ...and the longer ones it is tested on
    position_steps: int  # training steps per model of the offset task
    position_seeds: int  # seeds per position method
    position_batch: int  # sequences per training step of the offset task
    position_eval: int  # test sequences of each length
    position_width: int  # width of the offset task's one-layer models
    relative_max_distance: int  # k of clip(j - i, -k, k), Shaw et al.'s relative positions


@dataclass(frozen=True)
class TinyModelSizes:
    """The course's own small transformers, trained in the notebooks."""

    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    max_positions: int


@dataclass(frozen=True)
class ReverseTaskSizes:
    """Notebook 03: a tiny encoder-decoder learns to reverse digit sequences."""

    vocab_size: int  # number of distinct digits
    min_length: int
    max_length: int
    train_steps: int
    batch_size: int
    learning_rate: float
    count_train_steps: int  # the counting task (exposure bias), where errors compound
    count_learning_rate: float


@dataclass(frozen=True)
class NormPlacementSizes:
    """Notebook 03, section 1: post-LN against pre-LN encoders at a high learning rate."""

    num_layers: int
    d_model: int
    num_heads: int
    seq_length: int  # the encoder reverses sequences of this many digits in place
    vocab_size: int  # distinct digits (chance accuracy is 1 / vocab_size)
    train_steps: int
    batch_size: int
    learning_rate: float  # high: post-LN without warm-up fails here
    warmup_steps: int  # for the post-LN-with-warm-up arm
    seeds: int  # runs per arm, each with its own initialisation and batches


@dataclass(frozen=True)
class WorldSizes:
    """The small world (course_utils.data.world): corpus, labelled sets and probes."""

    corpus_words: int  # words (tokens other than punctuation) of unlabelled text
    train: int  # labelled examples per task
    validation: int
    test: int  # half of the test items use held-out words or facts, where the task has them
    probes: int  # cloze items per phenomenon


@dataclass(frozen=True)
class BertSizes:
    """Notebooks 04 and 05: pretraining the tiny BERT on the small world, then fine-tuning it."""

    pretrain_steps: int
    batch_size: int  # sentence pairs per pretraining step
    max_length: int  # tokens of a pair, with [CLS] and two [SEP]
    learning_rate: float
    warmup_steps: int
    finetune_epochs: int
    finetune_learning_rate: float
    probe_learning_rate: float  # a linear probe (frozen body) trains one layer: larger steps
    finetune_batch_size: int
    seeds: int  # fine-tuning runs per setting, for a mean and a standard deviation
    lr_decay: bool = True  # pretraining rate falls linearly to 0 after the warm-up (BERT's schedule)
    mask_rate: float = 0.15  # share of ordinary tokens the pretraining MLM predicts


@dataclass(frozen=True)
class BertAnalysisSizes:
    """Notebook 04's analyses of the pretrained model (none enters the checkpoint key)."""

    demo_pairs: int = 2_000  # sentence pairs for the masking rates, the exercise checks, packing
    nsp_pairs: int = 2_000  # NSP pairs to fit the shallow rules on, and to test them and the model
    held_out_words: int = 20_000  # words of the held-out text the NSP test pairs come from
    frequent_words: int = 50  # most frequent ids that do not count as shared content words
    her_occurrences: int = 400  # sentences with one "her", for the contextual-vector test
    her_heatmap: int = 24  # occurrences in the cosine heat map


@dataclass(frozen=True)
class FinetuneSizes:
    """Notebook 05: fine-tuning the pretrained tiny BERT on the small world's tasks."""

    epochs: int  # passes over the full training set; validation accuracy is read after each
    learning_rate: float
    probe_learning_rate: float  # a linear probe (frozen body) trains one layer: larger steps
    batch_size: int
    max_length: int  # tokens of an encoded example, with [CLS] and [SEP]
    seeds: int  # runs per setting, for a mean and a spread
    label_counts: tuple[int, ...]  # training-set sizes of the fewer-labels curve (the full set too)


@dataclass(frozen=True)
class GPTSizes:
    """Sizes for notebook 06: pretraining a tiny GPT on the small world, then fine-tuning it
    as GPT-1 did (``course_utils.lm.pretrained_gpt``, ``course_utils.gpt_finetuning``)."""

    d_model: int = 32
    num_layers: int = 1
    num_heads: int = 2
    d_ff: int = 64
    block_size: int = 32  # tokens a pretraining window reads; also the model's max_positions
    pretrain_steps: int = 30
    batch_size: int = 16  # windows per pretraining step
    learning_rate: float = 3e-3
    warmup_steps: int = 5
    lr_decay: bool = True  # linear decay to 0 after the warmup
    eval_every: int = 10  # steps between two validation losses
    checkpoint_steps: tuple[int, ...] = (0, 15, 30)  # weights kept for the zero-shot-over-training curve
    finetune_epochs: int = 2
    finetune_learning_rate: float = 1e-3
    finetune_batch_size: int = 32
    max_length: int = 48  # tokens of an encoded example, with <|start|>, <|delim|> and <|extract|>
    seeds: int = 2  # fine-tuning runs per setting
    pretrain_seeds: int = 2  # pretrained GPTs behind the fine-tuning ablation (each costs a pretraining)
    control_seeds: int = 3  # untrained GPTs (random initialisations) behind each zero-shot control
    lm_weight: float = 0.5  # lambda of GPT-1's L3 = L2 + lambda * L1
    label_counts: tuple[int, ...] = (50, 200)  # a small and a larger labelled training set


@dataclass(frozen=True)
class Seq2SeqSizes:
    """Sizes for notebook 07: pretraining a tiny T5 (span corruption) and a tiny BART (text
    infilling) on the small world, then fine-tuning both on its text-to-text tasks
    (``course_utils.seq2seq``). T5 and BART get the same sizes, so only the flavour and the
    objective differ."""

    d_model: int = 32
    num_layers: int = 1  # encoder layers, and as many decoder layers
    num_heads: int = 2
    d_ff: int = 64
    max_length: int = 40  # tokens of an encoder input or a decoder target (with </s>); BART's positions
    num_sentinels: int = 8  # T5's <extra_id_0> .. <extra_id_{n-1}>, the last ids of the vocabulary
    pretrain_steps: int = 30
    batch_size: int = 16  # text chunks per pretraining step
    learning_rate: float = 3e-3
    warmup_steps: int = 5
    lr_decay: bool = True  # linear decay to 0 after the warmup
    eval_every: int = 10  # steps between two validation losses
    finetune_epochs: int = 2
    finetune_learning_rate: float = 1e-3
    finetune_batch_size: int = 32  # examples of all tasks mixed in each batch
    max_new_tokens: int = 16  # longest target greedy decoding writes (the answers have at most 12 tokens)
    seeds: int = 2  # fine-tuning runs per setting
    # the miniature of T5's objective table (course_utils.objectives): four smaller pretrainings
    table_num_layers: int = 1  # encoder and decoder layers each; the decoder-only model gets twice as many
    table_pretrain_steps: int = 20
    table_finetune_epochs: int = 1  # a fixed number of passes, no validation: the same for every arm
    table_seeds: int = 2  # pretraining seeds per arm (each fine-tuned once, with the same seed)


@dataclass(frozen=True)
class HeadAnalysisSizes:
    """Notebook 08: what the pretrained tiny BERT's heads look at (the defaults are the smoke sizes)."""

    analysis_words: int = 3_000  # words of held-out text whose sentence pairs are analysed
    analysis_seed: int = 1_000  # its seed: other text than the pretraining corpus (seed 0)
    min_arcs: int = 5  # arcs a relation needs in each half to get a row of the relation table
    control_seeds: int = 2  # randomly initialised models of the same shape (the control)
    importance_examples: int = 64  # validation examples the head-importance gradients average over
    pruning_seeds: int = 2  # fine-tuning runs per start (pretrained, scratch) whose heads are removed
    probe_sentences: int = 200  # sentences whose words train each layer probe
    probe_epochs: int = 20  # passes of the scalar-mix probes over their training words
    probe_seeds: int = 2  # probe runs per property and model (the spread of the probes' own training)


@dataclass(frozen=True)
class Scale:
    """Taught in notebook 00, section 3. One preset: a name plus the sizes of every notebook."""

    name: str
    bpe: BPESizes
    attention: AttentionSizes
    tiny: TinyModelSizes
    reverse: ReverseTaskSizes
    norm_placement: NormPlacementSizes
    world: WorldSizes
    bert: BertSizes
    finetune: FinetuneSizes
    bert_analysis: BertAnalysisSizes = BertAnalysisSizes()
    gpt: GPTSizes = GPTSizes()  # the defaults are the smoke sizes
    seq2seq: Seq2SeqSizes = Seq2SeqSizes()  # the defaults are the smoke sizes
    heads: HeadAnalysisSizes = HeadAnalysisSizes()  # the defaults are the smoke sizes


SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        bpe=BPESizes(num_words=2_000, num_merges=300, merge_grid=(0, 50, 100, 300),
                       loop_words=500, loop_merges=50, byte_merges=60, byte_repeats=20,
                       sample_words=1_000, curve_points=6, held_out_words=500, swahili_merges=35),
        attention=AttentionSizes(seq_lengths=(32, 64, 128), batch_size=2, d_model=32,
                                 num_heads=2, repeats=2, scaling_samples=200,
                                 head_task_vocab=10, head_task_length=12, head_task_width=16,
                                 head_task_batch=16, head_task_eval=64, head_task_seeds=2,
                                 head_task_steps=20,
                                 position_train_length=8, position_test_length=16,
                                 position_steps=20, position_seeds=2, position_batch=8,
                                 position_eval=64, position_width=16,
                                 relative_max_distance=4),
        tiny=TinyModelSizes(d_model=32, num_layers=1, num_heads=2, d_ff=64, max_positions=64),
        reverse=ReverseTaskSizes(vocab_size=10, min_length=3, max_length=6, train_steps=20,
                                 batch_size=32, learning_rate=3e-3, count_train_steps=20,
                                 count_learning_rate=3e-3),
        norm_placement=NormPlacementSizes(num_layers=2, d_model=16, num_heads=2, seq_length=4,
                                          vocab_size=10, train_steps=10, batch_size=16,
                                          learning_rate=3e-2, warmup_steps=5, seeds=2),
        world=WorldSizes(corpus_words=20_000, train=200, validation=50, test=100, probes=40),
        bert=BertSizes(pretrain_steps=30, batch_size=16, max_length=32, learning_rate=2e-3,
                       warmup_steps=5, finetune_epochs=2, finetune_learning_rate=1e-3,
                       probe_learning_rate=1e-2, finetune_batch_size=32, seeds=3),
        finetune=FinetuneSizes(epochs=2, learning_rate=1e-3, probe_learning_rate=1e-2, batch_size=32,
                               max_length=64, seeds=2, label_counts=(50,)),
        bert_analysis=BertAnalysisSizes(demo_pairs=500, nsp_pairs=500, held_out_words=5_000,
                                        her_occurrences=200),
        gpt=GPTSizes(),
    ),
    "laptop": Scale(
        name="laptop",
        bpe=BPESizes(
            num_words=50_000,
            num_merges=20_000,
            merge_grid=(0, 100, 1_000, 5_000, 10_000, 20_000),
            loop_words=2_000, loop_merges=200, byte_merges=60, byte_repeats=20,
            sample_words=5_000, curve_points=12, held_out_words=5_000, swahili_merges=35,
        ),
        attention=AttentionSizes(seq_lengths=(128, 256, 512, 1_024), batch_size=4,
                                 d_model=256, num_heads=8, repeats=3, scaling_samples=2_000,
                                 head_task_vocab=10, head_task_length=12, head_task_width=64,
                                 head_task_batch=64, head_task_eval=512, head_task_seeds=3,
                                 head_task_steps=200,
                                 position_train_length=12, position_test_length=36,
                                 position_steps=200, position_seeds=3, position_batch=32,
                                 position_eval=512, position_width=16,
                                 relative_max_distance=4),
        tiny=TinyModelSizes(d_model=64, num_layers=2, num_heads=4, d_ff=256, max_positions=128),
        reverse=ReverseTaskSizes(vocab_size=10, min_length=3, max_length=10, train_steps=800,
                                 batch_size=64, learning_rate=1e-3, count_train_steps=200,
                                 count_learning_rate=3e-3),
        norm_placement=NormPlacementSizes(num_layers=6, d_model=32, num_heads=4, seq_length=8,
                                          vocab_size=10, train_steps=200, batch_size=64,
                                          learning_rate=3e-2, warmup_steps=100, seeds=3),
        world=WorldSizes(corpus_words=300_000, train=600, validation=150, test=300, probes=200),
        bert=BertSizes(pretrain_steps=4_000, batch_size=64, max_length=32, learning_rate=4e-3,
                       warmup_steps=100, finetune_epochs=10, finetune_learning_rate=1e-3,
                       probe_learning_rate=1e-2, finetune_batch_size=32, seeds=3, lr_decay=True,
                       mask_rate=0.3),
        finetune=FinetuneSizes(epochs=6, learning_rate=1e-3, probe_learning_rate=1e-2, batch_size=32,
                               max_length=64, seeds=3, label_counts=(50, 200)),
        gpt=GPTSizes(d_model=64, num_layers=2, num_heads=4, d_ff=256, block_size=64,
                     pretrain_steps=1_000, batch_size=32, learning_rate=3e-3, warmup_steps=50,
                     eval_every=100, checkpoint_steps=(0, 50, 150, 400, 600, 800, 1_000),
                     finetune_epochs=10, finetune_learning_rate=1e-3, finetune_batch_size=32,
                     max_length=48, seeds=3, pretrain_seeds=1, control_seeds=5, label_counts=(100, 600)),
        # one pretraining step of 32 chunks took 65 ms (T5) and 111 ms (BART, whose targets are the
        # whole text) on one core of the 2-core CPU: 400 steps are about 26 s and 44 s
        # warm-up over half the steps: with 40, the post-LN BART's encoder collapsed (the same output
        # vector at every position of every input) and the BART never read its input
        seq2seq=Seq2SeqSizes(d_model=64, num_layers=2, num_heads=4, d_ff=256, max_length=48,
                             num_sentinels=8, pretrain_steps=400, batch_size=32, learning_rate=3e-3,
                             warmup_steps=200, eval_every=50, finetune_epochs=15,
                             finetune_learning_rate=1e-3, finetune_batch_size=32, max_new_tokens=16,
                             seeds=2, table_num_layers=1, table_pretrain_steps=150,
                             table_finetune_epochs=8, table_seeds=2),
        heads=HeadAnalysisSizes(analysis_words=20_000, min_arcs=30, control_seeds=2, importance_examples=256,
                                pruning_seeds=4, probe_sentences=400, probe_epochs=20, probe_seeds=2),
    ),
    "gpu": Scale(
        name="gpu",
        bpe=BPESizes(
            num_words=100_000,
            num_merges=40_000,
            merge_grid=(0, 100, 1_000, 5_000, 10_000, 20_000, 40_000),
            loop_words=2_000, loop_merges=200, byte_merges=60, byte_repeats=20,
            sample_words=10_000, curve_points=12, held_out_words=10_000, swahili_merges=35,
        ),
        attention=AttentionSizes(seq_lengths=(256, 512, 1_024, 2_048, 4_096, 8_192),
                                 batch_size=8, d_model=512, num_heads=8, repeats=5,
                                 scaling_samples=2_000, head_task_vocab=10, head_task_length=12,
                                 head_task_width=64, head_task_batch=128, head_task_eval=1_024,
                                 head_task_seeds=5, head_task_steps=1_000,
                                 position_train_length=16,
                                 position_test_length=64, position_steps=400, position_seeds=5,
                                 position_batch=64, position_eval=1_024,
                                 position_width=32, relative_max_distance=4),
        tiny=TinyModelSizes(d_model=256, num_layers=4, num_heads=4, d_ff=1_024,
                            max_positions=512),
        reverse=ReverseTaskSizes(vocab_size=10, min_length=3, max_length=16, train_steps=3_000,
                                 batch_size=128, learning_rate=1e-3, count_train_steps=300,
                                 count_learning_rate=3e-3),
        norm_placement=NormPlacementSizes(num_layers=6, d_model=32, num_heads=4, seq_length=8,
                                          vocab_size=10, train_steps=200, batch_size=64,
                                          learning_rate=3e-2, warmup_steps=100, seeds=5),
        world=WorldSizes(corpus_words=3_000_000, train=1_500, validation=300, test=600,
                         probes=500),
        bert=BertSizes(pretrain_steps=10_000, batch_size=128, max_length=64, learning_rate=1e-3,
                       warmup_steps=200, finetune_epochs=10, finetune_learning_rate=5e-4,
                       probe_learning_rate=5e-3, finetune_batch_size=32, seeds=5),
        finetune=FinetuneSizes(epochs=10, learning_rate=5e-4, probe_learning_rate=5e-3, batch_size=32,
                               max_length=64, seeds=5, label_counts=(25, 50, 100, 200, 400, 800)),
        gpt=GPTSizes(d_model=256, num_layers=4, num_heads=4, d_ff=1_024, block_size=128,
                     pretrain_steps=5_000, batch_size=64, learning_rate=1e-3, warmup_steps=200,
                     eval_every=250, checkpoint_steps=(0, 250, 500, 1_000, 2_000, 5_000),
                     finetune_epochs=10, finetune_learning_rate=5e-4, finetune_batch_size=32,
                     max_length=64, seeds=5, pretrain_seeds=2, control_seeds=5, label_counts=(100, 1_500)),
        seq2seq=Seq2SeqSizes(d_model=256, num_layers=4, num_heads=4, d_ff=1_024, max_length=64,
                             num_sentinels=16, pretrain_steps=3_000, batch_size=64, learning_rate=1e-3,
                             warmup_steps=200, eval_every=250, finetune_epochs=10,
                             finetune_learning_rate=5e-4, finetune_batch_size=32, max_new_tokens=16,
                             seeds=3, table_num_layers=2, table_pretrain_steps=2_000,
                             table_finetune_epochs=10, table_seeds=3),
        heads=HeadAnalysisSizes(analysis_words=60_000, min_arcs=50, control_seeds=3, importance_examples=512,
                                pruning_seeds=8, probe_sentences=2_000, probe_epochs=40, probe_seeds=3),
    ),
}


def scale_name() -> str:
    """Taught in notebook 00, section 3.
    The scale asked for by the environment (see the module docstring)."""
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        return "smoke"
    name = os.environ.get("COURSE_SCALE", "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "laptop"
    if name not in SCALES:
        raise ValueError(
            f"COURSE_SCALE={os.environ['COURSE_SCALE']!r} is not a scale; "
            f"allowed: {', '.join(SCALE_NAMES)}"
        )
    return name


def get_scale(name: str | None = None) -> Scale:
    """Taught in notebook 00, section 3.
    The preset called ``name``, or the one the environment asks for."""
    if name is None:
        name = scale_name()
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; allowed: {', '.join(SCALE_NAMES)}")
    return SCALES[name]


def get_device(prefer: str | None = None) -> torch.device:
    """The device to train on: ``prefer`` if given, else CUDA, then Apple MPS, then CPU."""
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but CUDA is not available; use 'cpu'")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) from one number.

    Returns a ``torch.Generator`` seeded the same way, for code that wants its own stream.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def start_notebook(seed: int = 0) -> Scale:
    """Taught in notebook 00, section 1; every notebook's first cell calls it.
    The first call of every notebook: seed everything, pick the scale, print both.

    Returns the scale preset, from which the notebook reads all its sizes.
    """
    import pandas as pd

    scale = get_scale()
    seed_everything(seed)
    pd.set_option("display.max_colwidth", 200)  # show whole token sequences in tables
    print(f"scale: {scale.name} | device: {get_device().type} | seed: {seed}")
    return scale


def scale_table():
    """Taught in notebook 00, section 3.
    Every size of every preset as one pandas DataFrame (rows ``section.size``, columns scales)."""
    import dataclasses

    import pandas as pd

    columns = {}
    for name, preset in SCALES.items():
        column = {}
        for section in dataclasses.fields(preset):
            sizes = getattr(preset, section.name)
            if dataclasses.is_dataclass(sizes):
                for field in dataclasses.fields(sizes):
                    value = getattr(sizes, field.name)
                    column[f"{section.name}.{field.name}"] = str(value) if isinstance(value, tuple) else value
        columns[name] = column
    return pd.DataFrame(columns)

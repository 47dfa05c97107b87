"""Benchmark: one BERT pretraining step, our BertForPreTraining against Hugging Face's, on CPU.

Run with ``python tests/benchmarks/bench_bert.py [--batch 32 --length 128 ...]``.

Each timed step is a full training step: forward pass, masked-LM plus
next-sentence cross-entropy loss, backward pass and an AdamW update. The
models are tiny but not trivial (by default d_model 128, 2 layers, 4 heads,
d_ff 512, vocabulary 1000) and hold the same weights:
``transformers.BertForPreTraining`` is built from ours with
:func:`course_utils.interop.to_transformers` (its default "sdpa" attention).
Dropout is 0, so both compute the same function. Contestants:

- ``ours``: our model, MLM logits at every position, ``(B, L, V)``;
- ``transformers``: Hugging Face's, the same full logits;
- ``ours, masked``: our model with ``masked_positions``, logits only at the
  ~15% of positions that have a label (not apples to apples: it skips most
  of the vocabulary projection, which is the point of that option).

The batch: random token ids, two segments, and (unless ``--no-padding``)
sequences of random lengths between ``length / 2`` and ``length``, padded,
with the matching ``attention_mask``. 15% of the real positions carry an MLM
label.

Times are wall-clock milliseconds per step, the best and the median of
``--repeats`` steps after ``--warmup`` untimed ones, with contestants
interleaved so that a slow moment of the machine hits all of them alike.
The target is ours/transformers <= 1.2. On a machine shared with other
jobs, ``--threads 1`` gives much steadier numbers (threads that wait for a
busy core make every step slower and noisier).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from timing import time_calls, training_step  # noqa: E402  (this folder)
from course_utils.interop import to_transformers  # noqa: E402
from course_utils.models import BertForPreTraining, ModelConfig  # noqa: E402


def make_batch(args: argparse.Namespace, vocab_size: int) -> dict[str, Tensor]:
    """Token ids, segments, attention mask, MLM labels (-100 = none) and NSP labels."""
    gen = torch.Generator().manual_seed(1)
    b, n = args.batch, args.length
    ids = torch.randint(0, vocab_size, (b, n), generator=gen)
    segments = (torch.arange(n) >= n // 2).long().expand(b, n)  # sentence A, then B
    if args.no_padding:
        real = torch.ones(b, n, dtype=torch.bool)
    else:
        lengths = torch.randint(n // 2, n + 1, (b,), generator=gen)
        real = torch.arange(n) < lengths[:, None]
    labelled = real & (torch.rand(b, n, generator=gen) < 0.15)
    return {
        "input_ids": ids,
        "token_type_ids": segments,
        "attention_mask": None if args.no_padding else real.long(),
        "labels": torch.where(labelled, ids, -100),
        "next_sentence_label": torch.randint(0, 2, (b,), generator=gen),
    }


def pretraining_loss(mlm_logits: Tensor, nsp_logits: Tensor, batch: dict[str, Tensor]) -> Tensor:
    """MLM cross-entropy over the labelled positions plus NSP cross-entropy.

    ``mlm_logits`` are ``(B, L, V)``, or ``(N, V)`` for the labelled positions only.
    """
    labels = batch["labels"]
    if mlm_logits.dim() == 3:
        mlm = F.cross_entropy(mlm_logits.flatten(0, 1), labels.flatten())  # skips -100
    else:
        mlm = F.cross_entropy(mlm_logits, labels[labels != -100])
    return mlm + F.cross_entropy(nsp_logits, batch["next_sentence_label"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-ff", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--no-padding", action="store_true", help="full sequences, no mask")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers

    torch.manual_seed(0)
    config = ModelConfig(
        arch="encoder", vocab_size=args.vocab, max_positions=args.length, d_model=args.d_model,
        num_layers=args.layers, num_heads=args.heads, d_ff=args.d_ff, type_vocab_size=2,
        layer_norm_eps=1e-12, dropout=0.0, pooler=True,
    )  # fmt: skip
    ours = BertForPreTraining(config).train()
    theirs = to_transformers(ours).train()  # same weights, before any step changes them
    batch = make_batch(args, config.vocab_size)
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    masked = batch["labels"] != -100

    def ours_loss() -> Tensor:
        out = ours(**inputs)
        return pretraining_loss(out.mlm_logits, out.nsp_logits, batch)

    def ours_masked_loss() -> Tensor:
        out = ours(**inputs, masked_positions=masked)
        return pretraining_loss(out.mlm_logits, out.nsp_logits, batch)

    def theirs_loss() -> Tensor:
        out = theirs(**inputs)
        return pretraining_loss(out.prediction_logits, out.seq_relationship_logits, batch)

    with torch.no_grad():  # same weights, same loss: check before timing
        expected = theirs_loss()
        torch.testing.assert_close(ours_loss(), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours_masked_loss(), expected, atol=1e-5, rtol=1e-5)

    steps = {
        "ours": training_step(ours_loss, ours),
        "transformers": training_step(theirs_loss, theirs),
        "ours, masked": training_step(ours_masked_loss, ours),
    }
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{torch.get_num_threads()} threads; one training step (forward, MLM + NSP loss, "
        f"backward, AdamW)"
    )
    print(
        f"batch {args.batch} x length {args.length} "
        f"({'no padding' if args.no_padding else 'padded, lengths length/2..length'}, "
        f"{int(masked.sum())} MLM labels); d_model {args.d_model}, {args.layers} layers, "
        f"{args.heads} heads, d_ff {args.d_ff}, vocab {args.vocab}; "
        f"ms per step, {args.repeats} steps after {args.warmup} warm-up"
    )
    times = time_calls(steps, args.warmup, args.repeats)
    best = {name: min(ms) for name, ms in times.items()}
    median = {name: statistics.median(ms) for name, ms in times.items()}

    header = f"{'contestant':<14} {'best':>9} {'median':>9} {'best / transformers':>21}"
    print(header)
    print("-" * len(header))
    for name in steps:
        ratio = best[name] / best["transformers"]
        print(f"{name:<14} {best[name]:>9.1f} {median[name]:>9.1f} {ratio:>21.2f}")
    ratio = best["ours"] / best["transformers"]
    median_ratio = median["ours"] / median["transformers"]
    print(
        f"ours/transformers: {ratio:.2f} (best), {median_ratio:.2f} (median); target <= 1.20"
    )


if __name__ == "__main__":
    main()

"""Benchmark: GPT training steps against Hugging Face's GPT2LMHeadModel, and generation with and
without the key/value cache, on CPU.

Run with ``python tests/benchmarks/bench_gpt.py [--batch 32 --length 128 ...]``.

1. One training step, ours against ``transformers.GPT2LMHeadModel``: forward pass,
   next-token cross-entropy, backward pass and an AdamW update. The models are tiny
   but not trivial (by default d_model 128, 2 layers, 4 heads, d_ff 512, vocabulary
   1000) and hold the same weights: Hugging Face's is built from ours with
   ``course_utils.interop.to_transformers`` (its default "sdpa" attention). Dropout
   is 0, so both compute the same function (checked before timing). The batch is
   random token ids, every sequence full length (GPT pretraining packs text into
   full windows). Times are wall-clock milliseconds per step, the best and the
   median of ``--repeats`` steps after ``--warmup`` untimed ones, the two
   contestants interleaved so that a slow moment of the machine hits both alike.
   The target is ours/transformers <= 1.2. Training throughput is
   ``batch * length`` tokens over the best step time.
2. Generation: ``course_utils.decoding.generate`` (greedy, one prompt of
   ``--prompt`` tokens) of 32, 64, 128 and 256 new tokens, with the cache
   (``use_cache=True``: each step feeds only the newest token) and without it
   (each step runs the whole sequence again). The cache's speed-up grows with the
   length: without it, step ``t`` costs ``t`` positions' work; with it, one.

On a machine shared with other jobs, ``--threads 1`` gives much steadier numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from timing import time_calls, training_step  # noqa: E402  (this folder)
from course_utils.decoding import generate  # noqa: E402
from course_utils.interop import to_transformers  # noqa: E402
from course_utils.lm import next_token_loss  # noqa: E402
from course_utils.models import GPTModel, ModelConfig  # noqa: E402


def bench_training(args: argparse.Namespace, config: ModelConfig) -> None:
    ours = GPTModel(config).train()
    theirs = to_transformers(ours).train()  # same weights, before any step changes them
    ids = torch.randint(0, config.vocab_size, (args.batch, args.length),
                        generator=torch.Generator().manual_seed(1))  # fmt: skip

    def ours_loss() -> Tensor:
        return next_token_loss(ours(ids).logits, ids)

    def theirs_loss() -> Tensor:
        return next_token_loss(theirs(ids).logits, ids)

    with torch.no_grad():  # same weights, same loss: check before timing
        torch.testing.assert_close(ours_loss(), theirs_loss(), atol=1e-5, rtol=1e-5)

    steps = {
        "ours": training_step(ours_loss, ours),
        "transformers": training_step(theirs_loss, theirs),
    }
    print(
        f"1. one training step (forward, next-token loss, backward, AdamW): batch {args.batch} "
        f"x length {args.length}; ms per step, {args.repeats} steps after {args.warmup} warm-up"
    )
    times = time_calls(steps, args.warmup, args.repeats)
    best = {name: min(ms) for name, ms in times.items()}
    median = {name: statistics.median(ms) for name, ms in times.items()}
    tokens = args.batch * args.length
    header = f"{'contestant':<14} {'best':>9} {'median':>9} {'tokens/s':>10}"
    print(header)
    print("-" * len(header))
    for name in steps:
        print(f"{name:<14} {best[name]:>9.1f} {median[name]:>9.1f} "
              f"{tokens / best[name] * 1000:>10,.0f}")  # fmt: skip
    print(
        f"ours/transformers: {best['ours'] / best['transformers']:.2f} (best), "
        f"{median['ours'] / median['transformers']:.2f} (median); target <= 1.20; "
        f"training throughput (ours): {tokens / best['ours'] * 1000:,.0f} tokens/s"
    )


def bench_generation(args: argparse.Namespace, config: ModelConfig) -> None:
    model = GPTModel(config).eval()
    prompt = torch.randint(0, config.vocab_size, (1, args.prompt),
                           generator=torch.Generator().manual_seed(2))  # fmt: skip
    lengths = [n for n in (32, 64, 128, 256) if n <= args.new_tokens] or [args.new_tokens]
    print(
        f"\n2. greedy generation, one prompt of {args.prompt} tokens; ms for the whole "
        f"generation, best of {args.gen_repeats}"
    )
    header = f"{'new tokens':>10} {'cache':>9} {'no cache':>10} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    for new in lengths:
        calls = {
            "cache": partial(generate, model, prompt, new),
            "no cache": partial(generate, model, prompt, new, use_cache=False),
        }
        assert torch.equal(calls["cache"](), calls["no cache"]())  # the same tokens
        times = time_calls(calls, warmup=1, repeats=args.gen_repeats)
        cached, uncached = min(times["cache"]), min(times["no cache"])
        print(f"{new:>10} {cached:>9.1f} {uncached:>10.1f} {uncached / cached:>8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-ff", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--prompt", type=int, default=8, help="prompt length for generation")
    parser.add_argument("--new-tokens", type=int, default=256, help="longest generation")
    parser.add_argument("--gen-repeats", type=int, default=3)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers

    torch.manual_seed(0)
    config = ModelConfig(
        arch="decoder", vocab_size=args.vocab,
        max_positions=max(args.length, args.prompt + args.new_tokens), d_model=args.d_model,
        num_layers=args.layers, num_heads=args.heads, d_ff=args.d_ff, norm_first=True,
        activation="gelu_tanh", dropout=0.0, tie_embeddings=True, final_norm=True,
    )  # fmt: skip
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{torch.get_num_threads()} threads; d_model {args.d_model}, {args.layers} layers, "
        f"{args.heads} heads, d_ff {args.d_ff}, vocab {args.vocab}\n"
    )
    if not args.skip_training:
        bench_training(args, config)
    if not args.skip_generation:
        bench_generation(args, config)


if __name__ == "__main__":
    main()

"""Benchmark: our MultiHeadAttention against ``torch.nn.MultiheadAttention`` on CPU.

Run with ``python tests/benchmarks/bench_attention.py [--lengths 128 256 512 1024]``.

Each timed step is one forward plus backward pass of self-attention on a
``(batch, length, width)`` input that requires grad, so the projections, the
attention kernel and their gradients all count. Three contestants, with equal
weights:

- ``explicit``: ours with ``need_weights=True`` (the step-by-step math that
  builds the full ``(B, H, L, L)`` weight tensor);
- ``fused``: ours with ``need_weights=False`` (``fused_attention``, i.e.
  ``torch.nn.functional.scaled_dot_product_attention``);
- ``torch``: ``torch.nn.MultiheadAttention(batch_first=True)`` called with
  ``need_weights=False``.

Times are wall-clock milliseconds, the best of ``--repeats`` steps after
``--warmup`` untimed ones, with contestants interleaved so that a slow moment
of the machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from course_utils.attention import MultiHeadAttention  # noqa: E402
from course_utils.interop import to_torch_multihead_attention  # noqa: E402


def torch_module_like(ours: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    """A ``torch.nn.MultiheadAttention`` holding the same weights as ``ours``."""
    return to_torch_multihead_attention(ours)


def time_steps(steps: dict[str, Callable[[], None]], warmup: int, repeats: int) -> dict[str, float]:
    """Best wall time in ms of each step, running the steps in turn."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            best[name] = min(best[name], (time.perf_counter() - start) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    ours = MultiHeadAttention(args.width, args.heads)
    theirs = torch_module_like(ours)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; forward + backward, "
          f"batch {args.batch}, width {args.width}, {args.heads} heads, "
          f"best of {args.repeats} after {args.warmup} warm-up")
    columns = ("length", "explicit", "fused", "torch", "fused/torch", "explicit/torch")
    widths = (7, 10, 10, 10, 12, 15)
    header = " ".join(f"{name:>{width}}" for name, width in zip(columns, widths))
    print(header)
    print("-" * len(header))
    worst = 0.0
    for length in args.lengths:
        x = torch.randn(args.batch, length, args.width, requires_grad=True)
        grad = torch.randn(args.batch, length, args.width)

        with torch.no_grad():  # same weights, same answer: check before timing
            expected = theirs(x, x, x, need_weights=False)[0]
            torch.testing.assert_close(ours(x)[0], expected, atol=1e-5, rtol=0)

        steps = {
            "explicit": lambda: ours(x, need_weights=True)[0].backward(grad),
            "fused": lambda: ours(x, need_weights=False)[0].backward(grad),
            "torch": lambda: theirs(x, x, x, need_weights=False)[0].backward(grad),
        }
        ms = time_steps(steps, args.warmup, args.repeats)
        fused_ratio = ms["fused"] / ms["torch"]
        worst = max(worst, fused_ratio)
        print(f"{length:>7} {ms['explicit']:>10.1f} {ms['fused']:>10.1f} {ms['torch']:>10.1f} "
              f"{fused_ratio:>12.2f} {ms['explicit'] / ms['torch']:>15.2f}")
    print(f"worst fused/torch: {worst:.2f} (target <= 1.20)")


if __name__ == "__main__":
    main()

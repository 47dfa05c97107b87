"""Benchmark: how fast the small world's corpus generator writes annotated text.

Run with ``python tests/benchmarks/bench_world.py [--words 1000000] [--repeats 3]``.

Times ``generate_corpus(num_words=...)`` (documents with tokens, dependency
trees and coreference links) and, separately, ``corpus_text`` (the plain-text
export). Wall-clock seconds (``time.perf_counter``), the best of ``--repeats``
runs. The target: 1,000,000 words in under 10 seconds on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from course_utils.data.world.corpus import corpus_text, count_words, generate_corpus  # noqa: E402
from course_utils.data.world.knowledge import default_world  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    default_world()  # built once per process; not part of the timing
    best_generate = best_text = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        documents = generate_corpus(num_words=args.words, seed=args.seed)
        best_generate = min(best_generate, time.perf_counter() - start)
        start = time.perf_counter()
        text = corpus_text(documents)
        best_text = min(best_text, time.perf_counter() - start)
    words = count_words(documents)
    sentences = sum(len(d.sentences) for d in documents)
    print(f"documents: {len(documents):,}  sentences: {sentences:,}  words: {words:,}  "
          f"characters: {len(text):,}")
    print(f"generate_corpus: {best_generate:.2f} s  ({words / best_generate:,.0f} words/s)")
    print(f"corpus_text:     {best_text:.2f} s  ({words / best_text:,.0f} words/s)")
    total = best_generate + best_text
    print(f"total:           {total:.2f} s  ({words / total:,.0f} words/s)  target < 10 s: "
          f"{'ok' if total < 10 else 'MISSED'}")


if __name__ == "__main__":
    main()

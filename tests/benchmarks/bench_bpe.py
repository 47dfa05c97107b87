"""Benchmark: our pure-Python BPE trainer against Hugging Face ``tokenizers`` (Rust).

Run with ``python tests/benchmarks/bench_bpe.py [--words 50000] [--merges 5000]``.

The corpus: the ``--words`` most frequent English words of ``wordfreq`` with
counts ``max(1, round(frequency * SCALE))``. Both trainers get the same
problem: every word split into characters plus a separate end-of-word symbol.

- Ours: ``train_bpe(counts, merges, tie_break)``, given the counts directly.
- ``tokenizers`` cannot take word counts, only text, so it gets each word
  repeated ``count`` times (one string per word) through a ``WhitespaceSplit``
  pre-tokenizer, and every word ends with ``<`` (absent from the corpus) as a
  one-character stand-in for ``</w>``. ``<`` sorts like ``</w>`` among the
  characters, so with the ``"id"`` tie-break both must learn the same merges;
  the script checks that. ``SCALE = 1e7`` keeps that text at about 50 MB (the
  smallest count is then 4, so no count is rounded up to 1; with 1e9 the text
  would not fit in memory).
- Reading that text costs ``tokenizers`` time that ours does not spend, so the
  script also times ``tokenizers`` asked for no merges: that run reads the
  text, counts words and pairs and stops. The difference to the full run is
  its merge loop alone, a stricter yardstick than its total (our time
  includes our own pair counting).

A last line times byte-level BPE with GPT-2's special token: ``--documents``
documents of random wordfreq words (drawn by frequency), each ended by
``<|endoftext|>``, go to ``train_byte_bpe(text, merges, special_tokens=...)`` and
to ``tokenizers``' ``BpeTrainer`` with the same special token, behind a
``ByteLevel`` pre-tokenizer; ``tokenizers`` gets the parts between the special
tokens (its trainer would read them as text). The script checks that both learn
the same merges and both encode the special token whole.

Times are wall-clock (``time.perf_counter``), the best of ``--repeats`` runs.
Peak memory of our trainer is measured in a separate run under
``tracemalloc`` (Python allocations only; tracemalloc slows the run down, so
it is not a timed one).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import wordfreq
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from course_utils.tokenization import END_OF_TEXT, train_bpe, train_byte_bpe  # noqa: E402
from course_utils.tokenization.base import split_special_tokens  # noqa: E402

SCALE = 1e7
T = TypeVar("T")
END = "<"  # stand-in for "</w>" in the text given to tokenizers


def wordfreq_counts(n_words: int) -> dict[str, int]:
    words = wordfreq.top_n_list("en", n_words)
    return {w: max(1, round(wordfreq.word_frequency(w, "en") * SCALE)) for w in words}


def train_tokenizers(counts: dict[str, int], num_merges: int) -> list[tuple[str, str]]:
    """Train tokenizers' BPE on the repeated words and return its merges."""
    alphabet = {c for word in counts for c in word} | {END}
    text = ((word + END + " ") * count for word, count in counts.items())
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=len(alphabet) + num_merges, min_frequency=0, show_progress=False, special_tokens=[]
    )
    tokenizer.train_from_iterator(text, trainer=trainer)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    merges = [m.split(" ") if isinstance(m, str) else m for m in merges]
    return [(a.replace(END, "</w>"), b.replace(END, "</w>")) for a, b in merges]


def documents_text(counts: dict[str, int], n_documents: int, seed: int = 0) -> str:
    """``n_documents`` documents of 10 to 200 words drawn by frequency, each ended by END_OF_TEXT."""
    rng = random.Random(seed)
    words, weights = list(counts), list(counts.values())
    documents = (rng.choices(words, weights, k=rng.randint(10, 200)) for _ in range(n_documents))
    return "".join(" ".join(document) + "." + END_OF_TEXT for document in documents)


def train_tokenizers_byte_level(text: str, num_merges: int) -> Tokenizer:
    """tokenizers' byte-level BPE with END_OF_TEXT, trained on the parts between special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=1 + 256 + num_merges, min_frequency=0, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[END_OF_TEXT],
    )
    parts = [p for p in split_special_tokens(text, [END_OF_TEXT]) if p != END_OF_TEXT]
    tokenizer.train_from_iterator(parts, trainer=trainer)
    return tokenizer


def merges_of(tokenizer: Tokenizer) -> list[tuple[str, str]]:
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


def best_time(repeats: int, function: Callable[[], T]) -> tuple[T, float]:
    """The result of ``function()`` and its fastest wall time over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--merges", type=int, default=5_000)
    parser.add_argument("--documents", type=int, default=2_000,
                        help="documents for the byte-level run with <|endoftext|>")
    parser.add_argument("--repeats", type=int, default=3, help="report the best of this many runs")
    args = parser.parse_args()

    counts = wordfreq_counts(args.words)
    assert not any(END in word for word in counts)
    total = sum(counts.values())
    print(f"corpus: {len(counts)} distinct words, {total} in all; {args.merges} merges; "
          f"best of {args.repeats} runs")

    ours = {}
    for tie_break in ("first", "id"):
        train = lambda: train_bpe(counts, args.merges, tie_break=tie_break)  # noqa: E731
        tok, seconds = best_time(args.repeats, train)
        tracemalloc.start()
        train()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        ours[tie_break] = tok.merges, seconds
        memory = f"peak {peak / 2**20:.0f} MiB (tracemalloc)"
        print(f"ours ({tie_break!r}):".ljust(16) + f"{seconds:.2f} s, {memory}")

    hf_merges, hf_seconds = best_time(args.repeats, lambda: train_tokenizers(counts, args.merges))
    _, hf_read_seconds = best_time(args.repeats, lambda: train_tokenizers(counts, 0))
    hf_train_seconds = hf_seconds - hf_read_seconds
    print("tokenizers:".ljust(16) + f"{hf_seconds:.2f} s in all = {hf_read_seconds:.2f} s reading "
          f"the text (a run with no merges) + {hf_train_seconds:.2f} s merging")

    for tie_break, (merges, seconds) in ours.items():
        same = next((i for i, (a, b) in enumerate(zip(merges, hf_merges)) if a != b), None)
        agreement = "same merges" if same is None else f"merges differ from rank {same} on"
        merging_alone = (
            f"{seconds / hf_train_seconds:.1f}x its merging alone"
            if hf_train_seconds > 0.05 else "its merging alone is lost in the noise of reading"
        )
        print(f"ours ({tie_break!r}) / tokenizers: {seconds / hf_seconds:.1f}x its total, "
              f"{merging_alone}; {agreement}")

    text = documents_text(counts, args.documents)
    train = lambda: train_byte_bpe(text, args.merges, special_tokens=[END_OF_TEXT])  # noqa: E731
    byte_tok, byte_seconds = best_time(args.repeats, train)
    reference, hf_byte_seconds = best_time(
        args.repeats, lambda: train_tokenizers_byte_level(text, args.merges)
    )
    same = byte_tok.merges == merges_of(reference)
    whole = byte_tok.tokenize(END_OF_TEXT) == reference.encode(END_OF_TEXT).tokens == [END_OF_TEXT]
    print(f"byte-level with {END_OF_TEXT} ({len(text.encode()) / 2**20:.1f} MiB of text, "
          f"{args.documents} documents): ours {byte_seconds:.2f} s, tokenizers {hf_byte_seconds:.2f} s "
          f"({byte_seconds / hf_byte_seconds:.1f}x); "
          f"{'same merges' if same else 'merges differ'}; "
          f"special token {'whole in both' if whole else 'split'}")


if __name__ == "__main__":
    main()

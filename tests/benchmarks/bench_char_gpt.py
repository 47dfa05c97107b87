"""Benchmark: validation loss against wall time for a character-level GPT on about a megabyte of
plain text, on CPU, the way people compare minimal GPT trainers.

Run with ``python tests/benchmarks/bench_char_gpt.py [--text FILE] [--minutes 1 2 3]``.

The corpus is a plain-text file of your choice (``--text``, e.g. tiny Shakespeare if you have
it) or, by default, the small world's corpus text cut to ``--megabytes`` (offline, generated).
Characters are the tokens (``course_utils.tokenization.CharTokenizer``); the last 10 % of the
text is the validation split. The model and run follow nanoGPT's CPU "baby GPT" example: 4
layers, 4 heads, width 128, context 64, batch 12, AdamW at a constant 1e-3, no dropout. The
clock runs only while training: each time a mark (``--minutes``) is passed, the validation loss
is measured on the same 20 batches (not counted), and the run stops after the last mark.
Printed: the steps done and the validation loss (nats per character) at each mark, and the
unigram control (character frequencies).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from course_utils import lm  # noqa: E402
from course_utils.data.text_files import read_text_corpus  # noqa: E402
from course_utils.data.world import corpus_text, generate_corpus  # noqa: E402
from course_utils.models import GPTModel, get_config  # noqa: E402
from course_utils.tokenization import CharTokenizer  # noqa: E402


def world_text(megabytes: float) -> str:
    """The small world's corpus text, generated until it holds ``megabytes`` of UTF-8."""
    words = int(megabytes * 1_000_000 / 5.5)  # about 5.5 bytes per word with spaces and punctuation
    while True:
        text = corpus_text(generate_corpus(num_words=words, seed=0))
        if len(text.encode()) >= megabytes * 1_000_000:
            return text[: int(megabytes * 1_000_000)]
        words = int(words * 1.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, help="a UTF-8 text file (default: the small world's corpus)")
    parser.add_argument("--megabytes", type=float, default=1.0, help="size of the default corpus")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    text = read_text_corpus(args.text) if args.text else world_text(args.megabytes)
    tokenizer = CharTokenizer.from_text(text)
    train_ids, validation_ids = lm.split_stream(lm.text_lm_stream(text, tokenizer))
    block, batch = 64, 12
    data, validation = lm.LMData(train_ids, block, seed=0), lm.LMData(validation_ids, block, seed=0)
    fixed = validation.fixed_batches(20, batch)
    torch.manual_seed(0)
    config = get_config("gpt-tiny", vocab_size=len(tokenizer.vocab), d_model=128, num_layers=4, num_heads=4,
                        d_ff=512, max_positions=block)
    model = GPTModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    unigram = lm.unigram_baseline(train_ids, validation_ids, len(tokenizer.vocab))
    source = args.text or f"the small world's corpus text ({args.megabytes:g} MB)"
    print(f"corpus: {source}, {len(text.encode()):,} bytes, {len(tokenizer.vocab)} characters; "
          f"model {sum(p.numel() for p in model.parameters()):,} parameters; {torch.get_num_threads()} threads")
    print(f"validation loss before training: {lm.evaluate_lm(model, fixed):.3f}; "
          f"unigram control: {unigram['cross_entropy']:.3f} nats per character")
    marks = sorted(60 * m for m in args.minutes)
    trained, steps = 0.0, 0
    model.train()
    while marks:
        start = time.perf_counter()
        loss = lm.lm_loss(model, data.batch(batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        trained += time.perf_counter() - start
        steps += 1
        if trained >= marks[0]:
            print(f"after {marks.pop(0) / 60:g} min of training: {steps:,} steps "
                  f"({steps * batch * block / trained:,.0f} characters/s), validation loss "
                  f"{lm.evaluate_lm(model, fixed):.3f}", flush=True)


if __name__ == "__main__":
    main()

"""Decoding side by side: the same prompt continued under several settings, as a table
and as an interactive playground.

Taught in notebook 06, section 4. Each row is one continuation, with two numbers that make
the settings comparable: how likely the model itself finds the continuation (mean
log-probability per token, at temperature 1) and how much of it repeats itself
(``course_utils.decoding.repeated_ngram_fraction``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd
import torch
from torch import nn

from course_utils.decoding import generate, repeated_ngram_fraction
from course_utils.lm import WORLD_END_OF_DOCUMENT, sequence_log_prob
from course_utils.tokenization import Tokenizer

DECODING_SETTINGS: dict[str, dict[str, object]] = {
    "greedy": {"do_sample": False},
    "sampling, T = 1": {"do_sample": True, "temperature": 1.0},
    "sampling, T = 0.7": {"do_sample": True, "temperature": 0.7},
    "sampling, T = 1.5": {"do_sample": True, "temperature": 1.5},
    "top-k = 10": {"do_sample": True, "top_k": 10},
    "top-p = 0.9": {"do_sample": True, "top_p": 0.9},
}
"""The settings notebook 06 compares: keyword arguments of ``course_utils.decoding.generate``."""


def continue_prompt(
    model: nn.Module, tokenizer: Tokenizer, prompt: str, setting: Mapping[str, object],
    samples: int = 3, max_new_tokens: int = 24, seed: int = 0,
) -> list[list[int]]:
    """Taught in notebook 06, section 4. ``samples`` continuations of ``prompt`` (new token ids
    only, cut after ``<|endoftext|>``), generated with ``setting`` (keyword arguments of
    ``generate``) from a seeded generator. The prompt is read after ``<|endoftext|>``, as a
    document starts in pretraining."""
    end = tokenizer.token_to_id[WORLD_END_OF_DOCUMENT]
    prompt_ids = [end] + tokenizer.encode(prompt)
    room = getattr(getattr(model, "config", None), "max_positions", None)
    if room is not None and len(prompt_ids) + max_new_tokens > room:
        raise ValueError(f"prompt ({len(prompt_ids)} tokens) + max_new_tokens={max_new_tokens} exceed the "
                         f"model's {room} positions; shorten the prompt or ask for fewer tokens")
    input_ids = torch.tensor([prompt_ids] * samples)  # (S, L)
    generator = torch.Generator().manual_seed(seed)
    out = generate(model, input_ids, max_new_tokens, eos_id=end, generator=generator, **setting)
    continuations = []
    for row in out[:, len(prompt_ids):].tolist():
        continuations.append(row[:row.index(end) + 1] if end in row else row)
    return continuations


def decoding_table(
    model: nn.Module, tokenizer: Tokenizer, prompt: str,
    settings: Mapping[str, Mapping[str, object]] | None = None,
    samples: int = 3, max_new_tokens: int = 24, seed: int = 0,
) -> pd.DataFrame:
    """Taught in notebook 06, section 4. One row per (setting, sample): the continuation's
    text, its mean log-probability per token under the model (temperature 1, no filtering)
    and its share of repeated 3-grams (within prompt + continuation)."""
    settings = DECODING_SETTINGS if settings is None else settings
    end = tokenizer.token_to_id[WORLD_END_OF_DOCUMENT]
    prompt_ids = [end] + tokenizer.encode(prompt)
    rows = []
    for name, setting in settings.items():
        for sample, new in enumerate(continue_prompt(model, tokenizer, prompt, setting, samples,
                                                     max_new_tokens, seed)):
            if not new:
                continue
            ids = torch.tensor([prompt_ids + new])
            log_prob = sequence_log_prob(model, ids, start=len(prompt_ids)).item() / len(new)
            rows.append({"setting": name, "sample": sample,
                         "continuation": tokenizer.decode(new),
                         "log-prob / token": round(log_prob, 3),
                         "repeated 3-grams": round(repeated_ngram_fraction(prompt_ids[1:] + new, 3), 3)})
    return pd.DataFrame(rows)


def decoding_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Taught in notebook 06, section 4. ``decoding_table``'s numbers averaged per setting,
    plus how many of its continuations differ from each other."""
    groups = table.groupby("setting", sort=False)
    return pd.DataFrame({
        "mean log-prob / token": groups["log-prob / token"].mean().round(3),
        "mean repeated 3-grams": groups["repeated 3-grams"].mean().round(3),
        "distinct continuations": groups["continuation"].nunique(),
        "samples": groups.size(),
    })  # fmt: skip


def decoding_playground(model: nn.Module, tokenizer: Tokenizer, prompt: str = "lutro is a"):
    """Taught in notebook 06, section 4. An interactive widget: type a prompt, move the
    temperature, top-k and top-p sliders, and read freshly sampled continuations."""
    import ipywidgets as widgets

    box = widgets.Text(value=prompt, description="prompt", layout=widgets.Layout(width="70%"),
                       continuous_update=False)
    temperature = widgets.FloatSlider(value=1.0, min=0.1, max=2.0, step=0.1, description="temperature")
    top_k = widgets.IntSlider(value=0, min=0, max=50, description="top-k (0: off)")
    top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p")
    samples = widgets.IntSlider(value=4, min=1, max=8, description="samples")
    seed = widgets.IntText(value=0, description="seed")
    output = widgets.HTML()

    def refresh(_=None) -> None:
        setting = {"do_sample": True, "temperature": temperature.value,
                   "top_k": top_k.value or None, "top_p": top_p.value if top_p.value < 1 else None}
        try:
            continuations = continue_prompt(model, tokenizer, box.value, setting, samples.value, seed=seed.value)
        except (ValueError, KeyError) as error:
            output.value = f"<b>{html.escape(str(error))}</b>"
            return
        lines = "".join(f"<li><code>{html.escape(tokenizer.decode(c))}</code></li>" for c in continuations)
        output.value = f"<ol>{lines}</ol>"

    for control in (box, temperature, top_k, top_p, samples, seed):
        control.observe(refresh, names="value")
    refresh()
    return widgets.VBox([box, widgets.HBox([temperature, top_k, top_p]), widgets.HBox([samples, seed]), output])


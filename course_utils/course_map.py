"""The course map: every notebook, its topic and whether it is ready yet.

One list feeds the welcome notebook and is checked against the README's table by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    number: str
    file: str
    title: str
    topics: str
    status: str  # "ready" or "planned"


COURSE_MAP: tuple[Lesson, ...] = (
    Lesson("00", "00_welcome.ipynb", "Welcome",
           "environment check, course map, scales, exercises and checks", "ready"),
    Lesson("01", "01_bpe_tokenization.ipynb", "BPE tokenization",
           "the lecture's merges, tie-breaks, WordPiece, byte-level BPE, real word frequencies",
           "ready"),
    Lesson("02", "02_self_attention.ipynb", "Self-attention",
           "Q/K/V, scaling, masks, multi-head, MQA/GQA, positional encodings, quadratic cost",
           "ready"),
    Lesson("03", "03_transformer_architectures.ipynb", "Transformer architectures",
           "encoder, decoder, encoder-decoder, residuals and layer norm, teacher forcing, "
           "parameter counts", "ready"),
    Lesson("04", "04_bert_pretraining.ipynb", "BERT pretraining",
           "masked LM (80/10/10), next-sentence prediction, contextual embeddings, word guessing",
           "ready"),
    Lesson("05", "05_bert_finetuning.ipynb", "BERT fine-tuning",
           "[CLS] classification, sentence pairs, tagging, pretrained vs from scratch", "ready"),
    Lesson("06", "06_gpt.ipynb", "GPT",
           "causal LM pretraining, decoding, fine-tuning with an auxiliary LM loss, zero-shot",
           "ready"),
    Lesson("07", "07_t5_and_bart.ipynb", "T5 and BART",
           "span corruption, BART noising, text-to-text multitask fine-tuning", "ready"),
    Lesson("08", "08_attention_heads.ipynb", "Attention-head analysis",
           "bertviz, head statistics, syntax heads, head importance, probing", "ready"),
    Lesson("09", "09_peft.ipynb", "Parameter-efficient fine-tuning",
           "LoRA, adapters, prefix tuning, merging, many tasks on one frozen model", "planned"),
)


def course_table():
    """Taught in notebook 00, section 2. The course map as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame(
        [(l.number, l.title, l.topics, l.status) for l in COURSE_MAP],
        columns=["#", "notebook", "what you build", "status"],
    ).set_index("#")

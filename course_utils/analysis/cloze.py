"""Word guessing with a masked language model: fill in ``[MASK]``, score cloze probes.

A probe (see ``course_utils.data.world.cloze_probes``) has one ``[MASK]``, its ``answer``
and a few ``distractors`` ("The cats near the dog [MASK] hungry." -> are, not is). The model
*chooses* right when it gives the answer a higher probability than every distractor; chance is
one over the number of candidates.

>>> import torch
>>> from course_utils.data.world.vocabulary import world_tokenizer
>>> from course_utils.models import BertForPreTraining, get_config
>>> tok = world_tokenizer()
>>> model = BertForPreTraining(get_config("bert-tiny", vocab_size=len(tok.vocab))).eval()
>>> table = fill_mask(model, tok, "Dodoma is the capital of [MASK].", k=3)
>>> list(table.columns), len(table)
(['mask', 'rank', 'token', 'probability'], 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor

from course_utils.models import BertForPreTraining
from course_utils.noising.batching import pad_batch
from course_utils.tokenization import WordPieceTokenizer

MASK = "[MASK]"


def encode_with_specials(tokenizer: WordPieceTokenizer, text: str) -> list[int]:
    """``[CLS] text [SEP]`` as ids."""
    ids = tokenizer.token_to_id
    return [ids["[CLS]"], *tokenizer.encode(text), ids["[SEP]"]]


@torch.no_grad()
def masked_log_probs(
    model: BertForPreTraining, tokenizer: WordPieceTokenizer, texts: Sequence[str], batch_size: int = 256
) -> list[Tensor]:
    """For each text, the log-probabilities ``(num_masks, vocab)`` at its ``[MASK]`` tokens."""
    model.eval()
    device = next(model.parameters()).device
    mask_id, pad_id = tokenizer.token_to_id["[MASK]"], tokenizer.token_to_id["[PAD]"]
    results: list[Tensor] = []
    for start in range(0, len(texts), batch_size):
        chunk = [encode_with_specials(tokenizer, t) for t in texts[start : start + batch_size]]
        ids, attention_mask = pad_batch(chunk, pad_id)
        ids, attention_mask = ids.to(device), attention_mask.to(device)
        masked = ids == mask_id
        log_probs = model(ids, attention_mask=attention_mask, masked_positions=masked).mlm_logits
        log_probs = log_probs.log_softmax(-1).cpu()
        counts = masked.sum(1).tolist()
        results += list(log_probs.split(counts))
    return results


def fill_mask(model: BertForPreTraining, tokenizer: WordPieceTokenizer, text: str, k: int = 5) -> pd.DataFrame:
    """Taught in notebook 04, section 6.
    The ``k`` likeliest tokens at each ``[MASK]`` of ``text``: columns ``mask`` (which one,
    from 1), ``rank``, ``token``, ``probability``."""
    (log_probs,) = masked_log_probs(model, tokenizer, [text])
    if log_probs.shape[0] == 0:
        raise ValueError(f"no [MASK] in {text!r}; put [MASK] where a word should be guessed")
    rows = []
    for mask, row in enumerate(log_probs, start=1):
        top = row.exp().topk(k)
        for rank, (p, i) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
            rows.append({"mask": mask, "rank": rank, "token": tokenizer.vocab[i], "probability": round(p, 3)})
    return pd.DataFrame(rows)


def _candidates(row: pd.Series) -> list[str]:
    return [str(row["answer"]).lower(), *(str(d).lower() for d in row["distractors"])]


def score_probes(model: BertForPreTraining, tokenizer: WordPieceTokenizer, probes: pd.DataFrame) -> pd.DataFrame:
    """Taught in notebook 04, section 6.
    ``probes`` with the model's guesses added: ``choice`` (the likeliest candidate),
    ``chose_right``, ``top1`` (the likeliest token of the whole vocabulary) and ``top1_right``."""
    log_probs = masked_log_probs(model, tokenizer, list(probes["text"]))
    ids = tokenizer.token_to_id
    choices, top1 = [], []
    for (_, row), lp in zip(probes.iterrows(), log_probs):
        candidates = _candidates(row)
        scores = [lp[0, ids[c]].item() for c in candidates]
        choices.append(candidates[max(range(len(candidates)), key=scores.__getitem__)])
        top1.append(tokenizer.vocab[int(lp[0].argmax())])
    scored = probes.copy()
    scored["choice"] = choices
    scored["chose_right"] = scored["choice"] == scored["answer"].str.lower()
    scored["top1"] = top1
    scored["top1_right"] = scored["top1"] == scored["answer"].str.lower()
    return scored


def unigram_choices(probes: pd.DataFrame, counts: Mapping[str, int]) -> pd.Series:
    """The baseline that ignores the context: pick the candidate seen most often in the corpus."""
    return probes.apply(lambda row: max(_candidates(row), key=lambda c: counts.get(c, 0)), axis=1)


def probe_table(
    scored: pd.DataFrame, counts: Mapping[str, int], in_corpus: Sequence[bool] | None = None
) -> pd.DataFrame:
    """Taught in notebook 04, section 6.
    Accuracy per phenomenon (rows): the model's choice among the candidates, its top-1
    guess over the vocabulary, the unigram-frequency baseline and chance.

    With ``in_corpus`` (one bool per probe: does the filled-in item occur verbatim in the
    pretraining corpus? see ``course_utils.analysis.verbatim_in_corpus``), two more
    columns: the share of items found in the corpus, and the model's accuracy on the others
    (``nan`` where every item is in the corpus).
    """
    frame = scored.copy()
    frame["unigram_right"] = unigram_choices(frame, counts) == frame["answer"].str.lower()
    frame["chance"] = frame["distractors"].map(lambda d: 1 / (1 + len(d)))
    table = frame.groupby("phenomenon", sort=False).agg(
        model=("chose_right", "mean"),
        model_top1=("top1_right", "mean"),
        unigram=("unigram_right", "mean"),
        chance=("chance", "mean"),
        items=("text", "size"),
    )
    if in_corpus is not None:
        if len(in_corpus) != len(frame):
            raise ValueError(f"in_corpus needs one value per probe ({len(frame)}); got {len(in_corpus)}")
        frame["in_corpus"] = list(in_corpus)
        groups = frame.groupby("phenomenon", sort=False)
        table.insert(1, "in corpus", groups["in_corpus"].mean())
        fresh = frame[~frame["in_corpus"]].groupby("phenomenon", sort=False)["chose_right"].mean()
        table.insert(2, "model (items not in corpus)", fresh.reindex(table.index))
    return table.round(3)


def two_antecedent_probes(num_items: int, seed: int = 0) -> pd.DataFrame:
    """Taught in notebook 04, section 6: coreference with two candidate antecedents of
    different genders, in the world's own construction: "Ann is happy that John invited
    [MASK] friends." -> "her" (the world always means the happy person's friends). The nearer
    name points to the wrong pronoun, so a model must use the sentence's structure, not the
    gender of the closest name.

    Columns as ``course_utils.data.world.cloze_probes``
    (``phenomenon`` is ``"coreference (two names)"``, ``unseen`` is False).
    """
    import random

    from course_utils.data.world.knowledge import default_world

    if not isinstance(num_items, int) or num_items < 1:
        raise ValueError(f"num_items must be a positive int, got {num_items!r}")
    people = [p for p in default_world().lexicon.people if not p.heldout]
    rng = random.Random(seed)
    rows, texts = [], set()
    while len(rows) < num_items:
        a, b = rng.sample(people, 2)
        if a.gender == b.gender:
            continue
        answer, other = ("her", "his") if a.gender == "f" else ("his", "her")
        text = f"{a.name} is happy that {b.name} invited {MASK} friends."
        if text in texts and len(texts) < len(people) ** 2:
            continue
        texts.add(text)
        tokens = (a.name, "is", "happy", "that", b.name, "invited", answer, "friends", ".")
        rows.append({"text": text, "answer": answer, "distractors": (other,),
                     "phenomenon": "coreference (two names)", "unseen": False,
                     "tokens": tokens, "mask_index": 6})
    return pd.DataFrame(rows)


_PRONOUN_GENDER = {"he": "m", "his": "m", "him": "m", "she": "f", "her": "f"}


def position_heuristics(probes: pd.DataFrame) -> pd.DataFrame:
    """Taught in notebook 04, section 6: two rules that read no meaning, only word order.

    For agreement probes (``syntax``): pick the verb form that agrees in number with the
    *first* noun of the sentence, or with the *nearest* noun before ``[MASK]`` (the attractor).
    For coreference probes: pick the pronoun of the first name, or of the nearest name before
    ``[MASK]``, given each name's gender. With one name only, that rule would just restate
    the name's gender, which is what the probe asks the model, so it applies only where two
    or more different names come before ``[MASK]``. Returns one row per probe with bool columns
    ``first noun or name`` and ``nearest noun or name`` (``None`` where a rule does not apply:
    other phenomena, fewer than two names, or no noun before the mask).
    """
    from course_utils.data.world.knowledge import default_world

    lexicon = default_world().lexicon
    gender = {p.name.lower(): p.gender for p in lexicon.people}
    rows = []
    for _, row in probes.iterrows():
        candidates = _candidates(row)
        before = [str(w).lower() for w in row["tokens"][: row["mask_index"]]]
        if row["phenomenon"] == "syntax":
            cues = [lexicon.noun_number(w) for w in before if lexicon.noun_number(w)]
            feature = {c: lexicon.verb_number(c) for c in candidates}
        elif str(row["phenomenon"]).startswith("coreference"):
            names = [w for w in before if w in gender]
            cues = [gender[w] for w in names] if len(set(names)) >= 2 else []
            feature = {c: _PRONOUN_GENDER.get(c, "") for c in candidates}
        else:
            cues, feature = [], {}
        result = {}
        for name, cue in (("first noun or name", cues[:1]), ("nearest noun or name", cues[-1:])):
            picks = [c for c in candidates if cue and feature[c] == cue[0]]
            result[name] = picks[0] == candidates[0] if len(picks) == 1 else None
        rows.append(result)
    return pd.DataFrame(rows, index=probes.index)

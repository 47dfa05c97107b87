"""The small world's labelled tasks, cloze probes and baselines."""

import re

import pytest

from course_utils.data.world import (PHENOMENA, TASK_NAMES, WORLD_SIZES, WorldSizes, baselines, cloze_probes,
                                     default_world, detokenize, load_task, world_sizes)
from course_utils.data.world.corpus import generate_corpus

KEYS = {
    "sentiment": ("text",),
    "nli": ("premise", "hypothesis"),
    "tagging": ("text",),
    "qa": ("context", "question"),
    "multiple_choice": ("premise", "question", "choice0", "choice1"),
    "text_to_text": ("source",),
}


@pytest.fixture(scope="module")
def world():
    return default_world()


@pytest.fixture(scope="module")
def tasks():
    return {name: load_task(name, "laptop") for name in TASK_NAMES}


def _text(frame, task):
    return frame[list(KEYS[task])].astype(str).agg(" || ".join, axis=1)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_split_sizes_and_no_overlap(tasks, name):
    splits = tasks[name]
    sizes = WORLD_SIZES["laptop"]
    assert {k: len(v) for k, v in splits.items()} == {"train": sizes.train, "validation": sizes.validation,
                                                       "test": sizes.test}
    texts = {split: set(_text(frame, name)) for split, frame in splits.items()}
    assert all(len(t) == len(splits[s]) for s, t in texts.items()), "duplicates inside a split"
    assert not texts["train"] & texts["test"]
    assert not texts["train"] & texts["validation"]
    assert not texts["validation"] & texts["test"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_unseen_only_in_test(tasks, name):
    splits = tasks[name]
    assert not splits["train"]["unseen"].any() and not splits["validation"]["unseen"].any()
    assert 0.3 < splits["test"]["unseen"].mean() <= 0.5


@pytest.mark.parametrize("name,column", [("sentiment", "label"), ("nli", "label"), ("multiple_choice", "label")])
def test_label_balance(tasks, name, column):
    for split, frame in tasks[name].items():
        shares = frame[column].value_counts(normalize=True)
        assert shares.max() - shares.min() < 0.04, (split, shares.to_dict())


def test_heldout_adjectives_never_in_training_but_in_corpus(tasks, world):
    heldout = {a.word for a in world.lexicon.adjectives if a.heldout}
    for split in ("train", "validation"):
        for text in tasks["sentiment"][split]["text"]:
            assert not heldout & set(re.findall(r"[a-z]+", text)), text
        for text in tasks["text_to_text"][split]["source"]:
            if text.startswith("sentiment:"):
                assert not heldout & set(re.findall(r"[a-z]+", text)), text
    test = tasks["sentiment"]["test"]
    for text, unseen in zip(test["text"], test["unseen"]):
        assert bool(heldout & set(re.findall(r"[a-z]+", text))) == unseen, text
    corpus_words = {w for d in generate_corpus(num_words=20_000, seed=0) for s in d.sentences for w in s.words}
    assert heldout <= corpus_words


def test_heldout_entities_and_facts_only_in_test(tasks, world):
    lex = world.lexicon
    heldout_names = {p.name for p in lex.people if p.heldout}
    heldout_places = set(lex.heldout_places) | {world.capital_of[c] for c in lex.heldout_places}
    heldout = heldout_names | heldout_places
    for name in ("tagging", "qa", "nli", "multiple_choice"):
        for split in ("train", "validation"):
            for text in _text(tasks[name][split], name):
                assert not heldout & set(re.findall(r"[A-Z][a-z]+", text)), (name, text)
    for tokens, tags, unseen in tasks["tagging"]["test"][["tokens", "tags", "unseen"]].itertuples(index=False):
        assert len(tokens) == len(tags)
        assert bool(heldout & set(tokens)) == unseen


def test_qa_answers_match_the_knowledge_base(tasks, world):
    for row in tasks["qa"]["test"].itertuples():
        if row.relation == "capital":
            country = re.search(r"of (\w+)\?|^(\w+)'s capital", row.question)
            assert world.capital_of[country.group(1) or country.group(2)] == row.answer
        elif row.relation == "lives_in":
            name = re.search(r"does (\w+) live|^(\w+) lives", row.question)
            assert world.home[name.group(1) or name.group(2)] == row.answer


def test_multiple_choice_answer_is_the_right_effect(tasks, world):
    effect_of = {c.text("her"): c.effect for c in world.causes} | {c.text("his"): c.effect for c in world.causes}
    for row in tasks["multiple_choice"]["train"].itertuples():
        right = row.choice0 if row.label == 0 else row.choice1
        if row.question == "What happened as a result?":
            cause = row.premise.split(" ", 1)[1].rstrip(".")
            assert right.endswith(f"is {effect_of[cause]}.")


@pytest.mark.parametrize("phenomenon", PHENOMENA)
def test_probes_have_one_mask_consistent_with_tokens(phenomenon, world):
    probes = cloze_probes(phenomenon, 60)
    assert len(probes) == 60 and probes["text"].is_unique
    for row in probes.itertuples():
        assert row.text.count("[MASK]") == 1
        assert row.tokens[row.mask_index] == row.answer
        assert row.answer not in row.distractors and len(row.distractors) >= 1
        assert row.text.replace("[MASK]", row.answer) == detokenize(row.tokens)
    if phenomenon == "knowledge":
        for row in probes.itertuples():
            if row.answer in world.capital_of:  # the country was masked
                assert world.capital_of[row.answer] in row.tokens
            else:
                assert world.country_of[row.answer] in row.tokens
    if phenomenon == "syntax":
        lex = world.lexicon
        for row in probes.itertuples():
            assert lex.noun_number(row.tokens[1]) == lex.verb_number(row.answer), row.text
    if phenomenon == "numbers":
        for row in probes.itertuples():
            numbers = [int(t) for t in row.tokens if t.isdigit()]
            words = row.tokens
            total = numbers[0]
            for i, t in enumerate(words[:row.mask_index]):
                if t.isdigit() and i > 2:
                    gave_away = words[i - 1] == "gave" and words[i + 2] == "to"
                    sign = -1 if words[i - 1] == "ate" or gave_away else 1
                    total += sign * int(t)
            assert str(total) == row.answer, row.text


def test_bag_of_words_fails_where_pretraining_is_needed():
    table = baselines("sentiment", "laptop").set_index("baseline")
    bow = table.loc["bag_of_words"]
    assert bow["seen_plain"] > 0.85  # word identity is enough for plain reviews
    assert abs(bow["unseen"] - 0.5) < 0.15  # ... and useless for held-out adjectives
    assert bow["seen_negation"] < 0.65 and abs(bow["seen_contrast"] - 0.5) < 0.2
    for task in ("nli", "multiple_choice", "tagging"):
        assert set(baselines(task, "smoke")["baseline"]) >= {"majority"}


def _places(text):
    return re.findall(r"in (\w+) or in (\w+)\.", text)[0]


def test_nli_labels_are_balanced_in_seen_and_unseen_items(tasks):
    for split, frame in tasks["nli"].items():
        for unseen, part in frame.groupby("unseen"):
            counts = part["label"].value_counts()
            assert set(counts.index) == {"entailment", "neutral", "contradiction"}, (split, unseen)
            assert counts.max() - counts.min() <= 1, (split, unseen, counts.to_dict())
    assert set(tasks["nli"]["test"]["kind"]) == {"location"}  # seen and unseen items are one kind


def test_nli_label_is_the_fact_and_unseen_items_use_heldout_facts(tasks, world):
    heldout = set(world.lexicon.heldout_places)
    for split, frame in tasks["nli"].items():
        for row in frame.itertuples():
            cities, countries = _places(row.premise), _places(row.hypothesis)
            homes = {world.country_of[c] for c in cities}
            matches = sum(c in homes for c in countries)
            assert matches == row.matches == {"entailment": 2, "neutral": 1, "contradiction": 0}[row.label]
            assert row.premise.split(" in ")[0] == row.hypothesis.split(" in ")[0]  # same person and verb
            places = {world.country_of[c] for c in cities} | set(countries)
            assert places <= heldout if row.unseen else not places & heldout, (split, row)


def test_nli_surface_heuristics_sit_near_chance():
    for scale in ("laptop", "gpu"):
        table = baselines("nli", scale).set_index("baseline")
        assert {"subject_cue+coin", "word_overlap", "bag_of_words", "bag_of_word_pairs",
                "real_name_counts"} <= set(table.index)
        n = WORLD_SIZES[scale].test // 2
        limit = 3 * (1 / 3 * 2 / 3 / n) ** 0.5  # three standard errors of an accuracy on n items
        for name, row in table.iterrows():
            # the pair table can learn seen facts (city|country) from enough labels: not a surface cue
            for column in ("unseen",) if name == "bag_of_word_pairs" else ("seen", "unseen"):
                assert abs(row[column] - 1 / 3) < limit, (scale, name, column, row[column])


def test_nli_heuristics_catch_a_task_with_a_cue():
    import numpy as np
    import pandas as pd

    from course_utils.data.world.baselines import _nli_heuristics

    rows = []  # neutral exactly when the person differs: the flaw of a naive design
    for i in range(300):
        label = ("entailment", "contradiction", "neutral")[i % 3]
        other = "brother" if label == "neutral" else "sister"
        place = ("Italy", "Peru")[(i // 3) % 2] if label != "contradiction" else "Chile"
        rows.append({"premise": f"My sister lives in City{i}.", "hypothesis": f"My {other} lives in {place}.",
                     "label": label, "unseen": i % 2 == 1})
    frame = pd.DataFrame(rows)
    scores = {r["baseline"]: r["test"] for r in _nli_heuristics(frame, frame, seed=0)}
    assert scores["subject_cue+coin"] > 0.6 and scores["word_overlap"] > 0.6, scores
    assert np.isfinite(list(scores.values())).all()


def test_bad_arguments_name_what_is_allowed():
    with pytest.raises(ValueError, match="allowed: sentiment"):
        load_task("parsing")
    with pytest.raises(ValueError, match="allowed: smoke, laptop, gpu"):
        load_task("sentiment", "huge")
    with pytest.raises(ValueError, match="allowed: syntax"):
        cloze_probes("semantics", 5)
    with pytest.raises(ValueError, match="positive int"):
        cloze_probes("syntax", 0)
    with pytest.raises(ValueError, match="allowed: sentiment"):
        baselines("qa")
    assert world_sizes(WorldSizes(1, 2, 3, 4, 5)).test == 4


def test_largest_scale_can_be_drawn():
    sizes = WORLD_SIZES["gpu"]
    for name in ("sentiment", "qa", "tagging"):
        splits = load_task(name, "gpu")
        assert len(splits["test"]) == sizes.test
    for phenomenon in PHENOMENA:
        assert len(cloze_probes(phenomenon, sizes.probes)) == sizes.probes


def test_sentence_tokens_view(world):
    sentence = generate_corpus(num_documents=1, seed=0)[0].sentences[0]
    tokens = sentence.tokens
    assert [t.text for t in tokens] == list(sentence.words)
    assert sum(t.head == -1 for t in tokens) == 1


def test_nli_distractors_keep_the_mix_of_real_and_invented_names():
    from course_utils.data.world.baselines import real_name_counts

    for split, frame in load_task("nli", "laptop").items():
        for row in frame.itertuples():
            in_premise, in_hypothesis = real_name_counts(row.premise, row.hypothesis)
            assert in_premise == in_hypothesis, (split, row.premise, row.hypothesis)


def test_tagging_suffix_baseline_is_reported():
    table = baselines("tagging", "laptop").set_index("baseline")
    assert table.loc["majority+suffix_backoff", "unseen"] >= table.loc["majority+capital_backoff", "unseen"]

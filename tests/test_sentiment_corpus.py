"""Tests for tasks.generators.sentiment_corpus: API, determinism, balance, label rules, BoW hardness."""

from __future__ import annotations

import collections
import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


from tasks.generators import sentiment_corpus as sc  # noqa: E402
Clause, Predicate, generate_reviews = sc.Clause, sc.Predicate, sc.generate_reviews
render_contrast, PREDICATES, PHENOMENA = sc.render_contrast, sc.PREDICATES, sc.PHENOMENA
CONTRASTS, COPULA_NEGATIONS, VERB_NEGATIONS = sc.CONTRASTS, sc.COPULA_NEGATIONS, sc.VERB_NEGATIONS
INTENSIFIERS, OPENERS, VERDICTS = sc.INTENSIFIERS, sc.OPENERS, sc.VERDICTS

# --- an independent rule interpreter over the surface text ------------------------------
# It knows the lexicon's polarities and the opener/verdict prefixes, but re-derives the
# composition rules itself: the last sentence decides, a contrast follows its main clause,
# every negation cue flips the predicate's polarity.
_CUES = re.compile(r"n't\b|\bnot\b|\bnever\b|\bhardly\b|\bno one\b|\bfar from\b")
_FORM_POLARITY = {form: p.polarity for p in PREDICATES for form in p.forms}
_FORM_RE = re.compile(r"\b(?:%s)\b" % "|".join(
    re.escape(f) for f in sorted(_FORM_POLARITY, key=len, reverse=True)))
_PREFIXES = tuple(p.lower() for p in OPENERS + VERDICTS if p.endswith(", "))
_LEADING = ("although ", "even though ", "while ", "despite ")
_TRAILING = (", although ", " even though ")
_AFTER = (", but ", "; however, ", ", yet ")
_INTENSIFIER_RE = re.compile(r"\b(?:%s)\b" % "|".join(
    sorted(set(INTENSIFIERS + sc.NP_INTENSIFIERS + sc.VERB_INTENSIFIERS))))


def _sentences(text: str) -> list[str]:
    """Lower-cased sentences without end punctuation."""
    return [s.rstrip(".!") for s in re.split(r"(?<=[.!])\s+", text.strip().lower())]


def _strip_prefixes(sentence: str) -> str:
    """Remove leading opener/verdict markers such as "honestly, " or "overall, "."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if sentence.startswith(prefix):
                sentence, stripped = sentence[len(prefix):], True
    return sentence


def _split_clauses(sentence: str) -> tuple[str, str]:
    """(main clause, subordinate/contrasted clause or "") of one sentence."""
    sentence = _strip_prefixes(sentence)
    for lead in _LEADING:
        if sentence.startswith(lead):
            other, main = sentence[len(lead):].split(", ", 1)
            return main, other
    for mid in _TRAILING:
        if mid in sentence:
            main, other = sentence.split(mid, 1)
            return main, other
    for mid in _AFTER:
        if mid in sentence:
            other, main = sentence.split(mid, 1)
            return main, other
    return sentence, ""


def _clause_polarity(clause: str) -> int:
    """Predicate polarity flipped once per negation cue."""
    match = _FORM_RE.search(clause)
    assert match, f"no predicate in {clause!r}"
    return _FORM_POLARITY[match.group(0)] * (-1) ** len(_CUES.findall(clause))


def interpret(text: str) -> int:
    """Label (0/1) re-derived from the text alone."""
    return int(_clause_polarity(_split_clauses(_sentences(text)[-1])[0]) > 0)


def _tokens(text: str) -> list[str]:
    """Lower-cased word tokens for the bag-of-words checks."""
    return re.findall(r"[a-z']+", text.lower())


def _pred(phrase: str) -> Predicate:
    """The lexicon entry whose first form is ``phrase``."""
    return next(p for p in PREDICATES if p.forms[0] == phrase)


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    """A 5000-example corpus shared by the corpus-level tests."""
    return generate_reviews(5000, 0)


# --- API and determinism -----------------------------------------------------------------
def test_constants() -> None:
    assert sc.GENERATOR_VERSION == "1"
    assert sc.LABELS == ("negative", "positive")
    required = {"plain", "intensifier", "negation", "contrast", "negated_contrast",
                "multi_sentence", "double_negation"}
    assert required <= set(PHENOMENA) and len(set(PHENOMENA)) == len(PHENOMENA)
    assert len(sc.SHARES_PERCENT) == len(PHENOMENA) and sum(sc.SHARES_PERCENT) == 100


def test_schema(corpus: list[dict]) -> None:
    for review in corpus:
        assert set(review) == {"text", "label", "phenomenon"}
        assert isinstance(review["text"], str) and review["text"].strip()
        assert review["label"] in (0, 1) and review["phenomenon"] in PHENOMENA
        assert len(review["text"].split()) <= sc.MAX_WORDS <= 40


@pytest.mark.parametrize("bad", [0, -1, -100])
def test_rejects_non_positive_sizes(bad: int) -> None:
    with pytest.raises(ValueError):
        generate_reviews(bad, 0)


def test_sizes_are_exact() -> None:
    for n in (1, 2, 7, 101):
        assert len(generate_reviews(n, 3)) == n


def test_same_seed_same_output_different_seed_different() -> None:
    assert generate_reviews(300, 11) == generate_reviews(300, 11)
    assert generate_reviews(300, 11) != generate_reviews(300, 12)


def test_global_random_untouched_and_irrelevant() -> None:
    random.seed(123)
    state = random.getstate()
    first = generate_reviews(200, 5)
    assert random.getstate() == state
    random.seed(999)
    assert generate_reviews(200, 5) == first


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_deterministic_across_processes(hash_seed: str) -> None:
    code = ("import json; from tasks.generators import sentiment_corpus as mod; "
            "print(json.dumps(mod.generate_reviews(400, 21)))")
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == generate_reviews(400, 21)


# --- distribution --------------------------------------------------------------------------
def test_label_balance_and_phenomenon_shares(corpus: list[dict]) -> None:
    assert abs(sum(r["label"] for r in corpus) / len(corpus) - 0.5) <= 0.05
    counts = collections.Counter(r["phenomenon"] for r in corpus)
    for name, share in zip(PHENOMENA, sc.SHARES_PERCENT):
        assert abs(counts[name] / len(corpus) - share / 100) <= 0.01, name
        labels = [r["label"] for r in corpus if r["phenomenon"] == name]
        assert abs(sum(labels) / len(labels) - 0.5) <= 0.05, name


@pytest.mark.parametrize("n", [1000, 1001, 1999])
def test_label_balance_small_n(n: int) -> None:
    reviews = generate_reviews(n, n)
    assert abs(sum(r["label"] for r in reviews) / n - 0.5) <= 0.05


def test_texts_mostly_unique(corpus: list[dict]) -> None:
    assert len({r["text"] for r in corpus}) >= 0.9 * len(corpus)


def test_surface_variety(corpus: list[dict]) -> None:
    texts = [r["text"] for r in corpus]
    assert any(t[0].islower() for t in texts) and any(t[0].isupper() for t in texts)
    assert {t[-1] for t in texts} >= {".", "!"} and any(t.endswith("...") for t in texts)
    assert any(t.startswith(o) for t in texts for o in OPENERS)


# --- hand-checked composition rules (helper level) -----------------------------------------
def test_negation_flips_polarity() -> None:
    brilliant, work = _pred("brilliant"), _pred("works")
    isnt = Clause("the plot", brilliant, negation="{s} {be}n't {p}")
    assert (isnt.text(), isnt.polarity) == ("the plot isn't brilliant", -1)
    for template in COPULA_NEGATIONS:
        clause = Clause("the plot", brilliant, negation=template)
        assert clause.polarity == -1 and "brilliant" in clause.text()
    for template in VERB_NEGATIONS:
        assert Clause("the plot", work, negation=template).polarity == -1
    drags = Clause("the plot", _pred("drags"), negation="{s} never {v}", past=True)
    assert (drags.text(), drags.polarity) == ("the plot never dragged", 1)
    framed = Clause("the score", _pred("dull"), frame="I don't think {c}")
    assert (framed.text(), framed.polarity) == ("I don't think the score is dull", 1)


def test_double_negation_restores_polarity() -> None:
    clause = Clause("the film", _pred("brilliant"), negation="{s} {be}n't {p}",
                    frame="I can't say {c}")
    assert (clause.text(), clause.polarity) == ("I can't say the film isn't brilliant", 1)
    charms = Clause("the film", _pred("without charm"), negation="{s} {be} not {p}")
    assert (charms.text(), charms.polarity) == ("the film is not without charm", 1)
    flaws = Clause("the film", _pred("without flaws"), negation="{s} {be} not {p}")
    assert flaws.polarity == -1


def test_intensifier_keeps_polarity() -> None:
    for word in INTENSIFIERS:
        dull = Clause("the plot", _pred("dull"), intensifier=word)
        assert (dull.text(), dull.polarity) == (f"the plot is {word} dull", -1)
    shines = Clause("the cast", _pred("shines"), intensifier="really")
    assert (shines.text(), shines.polarity) == ("the cast really shines", 1)


def test_but_follows_second_clause() -> None:
    good, bad = Clause("the acting", _pred("brilliant")), Clause("the plot", _pred("drags"))
    assert render_contrast("{a}, but {b}", good, bad) == (
        "the acting is brilliant, but the plot drags", 0)
    assert render_contrast("{a}, but {b}", bad, good) == (
        "the plot drags, but the acting is brilliant", 1)


def test_although_and_despite_follow_main_clause() -> None:
    good, bad = Clause("the acting", _pred("brilliant")), Clause("the plot", _pred("drags"))
    assert render_contrast("although {a}, {b}", good, bad) == (
        "although the acting is brilliant, the plot drags", 0)
    assert render_contrast("{b}, although {a}", good, bad) == (
        "the plot drags, although the acting is brilliant", 0)
    assert render_contrast("despite {a}, {b}", good, bad) == (
        "despite the acting being brilliant, the plot drags", 0)
    not_dull = Clause("the plot", _pred("dull"), negation=COPULA_NEGATIONS[0])
    assert render_contrast("despite {a}, {b}", not_dull, good) == (
        "despite the plot not being dull, the acting is brilliant", 1)


def test_interpreter_on_hand_written_reviews() -> None:
    cases = {
        "The acting is brilliant, but the plot drags.": 0,
        "Although the plot drags, the acting is brilliant!": 1,
        "The plot drags, although the acting is brilliant": 0,
        "I can't say the film isn't gripping.": 1,
        "No one would call the ending a triumph...": 0,
        "The cast shines. The pacing is dull. Overall, the movie is not a mess.": 1,
    }
    for text, label in cases.items():
        assert interpret(text) == label, text


# --- generated examples obey the rules ------------------------------------------------------
def test_every_generated_label_matches_independent_interpreter() -> None:
    reviews = generate_reviews(3000, 77)
    wrong = [r for r in reviews if interpret(r["text"]) != r["label"]]
    assert not wrong, wrong[:5]


def test_decoys_have_the_opposite_polarity(corpus: list[dict]) -> None:
    for review in corpus:
        target, sentences = 2 * review["label"] - 1, _sentences(review["text"])
        if review["phenomenon"] in ("contrast", "negated_contrast"):
            main, other = _split_clauses(sentences[0])
            assert (_clause_polarity(main), _clause_polarity(other)) == (target, -target)
        elif review["phenomenon"] == "multi_sentence":
            context = [_clause_polarity(_split_clauses(s)[0]) for s in sentences[:-1]]
            assert -target in context, review


def test_phenomenon_tags_match_surface(corpus: list[dict]) -> None:
    for review in corpus:
        text, kind = review["text"], review["phenomenon"]
        sentences = _sentences(text)
        cues = len(_CUES.findall(text.lower()))
        contrastive = bool(_split_clauses(sentences[-1])[1])
        if kind == "multi_sentence":
            assert 2 <= len(sentences) <= 3 and sentences[-1].startswith(
                tuple(v.lower() for v in VERDICTS)), text
            continue
        assert len(sentences) == 1, text
        expected = {"plain": (0, False), "intensifier": (0, False), "negation": (1, False),
                    "contrast": (0, True)}
        if kind in expected:
            assert (cues, contrastive) == expected[kind], text
        elif kind == "negated_contrast":
            assert contrastive and cues >= 1, text
        else:
            assert cues == 2 or (cues == 1 and "without" in text), text
        assert (kind == "intensifier") <= bool(_INTENSIFIER_RE.search(text.lower())), text
        if kind == "plain":
            assert not _INTENSIFIER_RE.search(text.lower()), text


def test_contrast_templates_all_used(corpus: list[dict]) -> None:
    texts = [r["text"].lower() for r in corpus if "contrast" in r["phenomenon"]]
    for template in CONTRASTS:
        marker = template.replace("{a}", "").replace("{b}", "").strip(" ,")
        assert any(marker in t for t in texts), template


def test_every_polarity_word_occurs_under_both_labels(corpus: list[dict]) -> None:
    texts = [(r["text"].lower(), r["label"]) for r in corpus]
    for pred in PREDICATES:
        pattern = re.compile(r"\b(?:%s)\b" % "|".join(map(re.escape, pred.forms)))
        labels = {label for text, label in texts if pattern.search(text)}
        assert labels == {0, 1}, pred


def test_no_token_is_a_label_giveaway(corpus: list[dict]) -> None:
    docs, positive = collections.Counter(), collections.Counter()
    for review in corpus:
        for token in set(_tokens(review["text"])):
            docs[token] += 1
            positive[token] += review["label"]
    for token, count in docs.items():
        if count >= 30:
            assert 0.2 <= positive[token] / count <= 0.8, token


# --- a bag-of-words baseline cannot solve it --------------------------------------------------
def naive_bayes_accuracy(train: list[dict], test: list[dict]) -> dict[str, float]:
    """Multinomial naive Bayes (add-one smoothing); accuracy overall and per phenomenon."""
    counts = [collections.Counter(), collections.Counter()]
    priors = collections.Counter(r["label"] for r in train)
    for review in train:
        counts[review["label"]].update(_tokens(review["text"]))
    vocab = len(set(counts[0]) | set(counts[1]))
    totals = [sum(c.values()) + vocab for c in counts]

    def predict(text: str) -> int:
        scores = [math.log(priors[c] / len(train)) + sum(
            math.log((counts[c][t] + 1) / totals[c]) for t in _tokens(text)) for c in (0, 1)]
        return int(scores[1] > scores[0])

    hits: dict[str, list[bool]] = collections.defaultdict(list)
    for review in test:
        correct = predict(review["text"]) == review["label"]
        hits["overall"].append(correct)
        hits[review["phenomenon"]].append(correct)
    return {name: sum(v) / len(v) for name, v in hits.items()}


def test_bag_of_words_baseline_fails_on_composition() -> None:
    acc = naive_bayes_accuracy(generate_reviews(4000, 1), generate_reviews(1000, 2))
    print("naive Bayes accuracy:", {k: round(v, 3) for k, v in sorted(acc.items())})
    assert acc["overall"] < 0.8
    # it does learn word polarity, so the easy cases are solvable ...
    assert acc["plain"] >= 0.75 and acc["intensifier"] >= 0.75
    # ... and composition is where it breaks: negation is systematically inverted
    assert acc["negation"] < 0.5 and acc["contrast"] < 0.7 and acc["multi_sentence"] < 0.75
    assert acc["plain"] - acc["negation"] >= 0.4

"""Deterministic, offline generator of a compositional movie-review sentiment corpus.

Labels are correct by construction: a clause's polarity is its predicate's polarity
flipped once per negation (a template such as "isn't", a frame such as "I can't say"),
a contrast follows its main clause and a multi-sentence review its final verdict.
Negations and opposite-polarity decoy clauses put every polarity word under both
labels, so bag-of-words models fail on the compositional phenomena.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Callable

GENERATOR_VERSION: str = "1"
LABELS: tuple[str, ...] = ("negative", "positive")
PHENOMENA: tuple[str, ...] = ("plain", "intensifier", "negation", "double_negation",
                               "contrast", "negated_contrast", "multi_sentence")
SHARES_PERCENT: tuple[int, ...] = (15, 15, 17, 5, 18, 15, 15)
MAX_WORDS: int = 40


@dataclass(frozen=True)
class Predicate:
    """Polarity (+1/-1) phrase; kind "adj"/"np" (copula), "without" (copula, lexically
    negated, not intensified) or "verb"; forms (phrase,) or (3rd singular, base, past)."""

    kind: str
    polarity: int
    forms: tuple[str, ...]


def _lex(kind: str, polarity: int, spec: str) -> tuple[Predicate, ...]:
    """Parse ``"a/b/c, d/e/f"`` into predicates of one kind and polarity."""
    items = (item.strip() for item in spec.split(","))
    return tuple(Predicate(kind, polarity, tuple(item.split("/"))) for item in items)


PREDICATES: tuple[Predicate, ...] = (
    *_lex("adj", 1, "brilliant, gripping, superb, moving, clever, stunning, delightful, "
          "compelling, charming, engaging, inventive, memorable, gorgeous, powerful, "
          "witty, thrilling, heartfelt, polished, masterful, fresh"),
    *_lex("adj", -1, "dull, boring, clumsy, tedious, bland, forgettable, lifeless, "
          "predictable, messy, shallow, awkward, painful, sloppy, tiresome, incoherent, "
          "lazy, uninspired, stale, weak, dreary"),
    *_lex("np", 1, "a triumph, a masterpiece, a delight, a joy to watch, a treat, "
          "a revelation, worth the ticket"),
    *_lex("np", -1, "a mess, a disaster, a chore, a letdown, a waste of time, a slog, a misfire"),
    *_lex("without", 1, "without flaws, without a dull moment"),
    *_lex("without", -1, "without charm, without merit"),
    *_lex("verb", 1, "works/work/worked, delivers/deliver/delivered, shines/shine/shone, "
          "soars/soar/soared, holds up/hold up/held up, lands/land/landed, "
          "impresses/impress/impressed, pays off/pay off/paid off, "
          "comes together/come together/came together, wins you over/win you over/won you over"),
    *_lex("verb", -1, "falls flat/fall flat/fell flat, drags/drag/dragged, "
          "disappoints/disappoint/disappointed, fizzles out/fizzle out/fizzled out, "
          "misses the mark/miss the mark/missed the mark, falls apart/fall apart/fell apart, "
          "grates/grate/grated, stumbles/stumble/stumbled, wears thin/wear thin/wore thin, "
          "goes nowhere/go nowhere/went nowhere"),
)
ASPECTS: tuple[str, ...] = tuple(f"the {a}" for a in (
    "acting, plot, script, soundtrack, cinematography, pacing, dialogue, ending, "
    "director's vision, cast, score, editing, story, lead performance, humor, screenplay, "
    "finale, premise, first act, climax").split(", "))
FILM_SUBJECTS: tuple[str, ...] = ("this film", "the movie", "the film", "this movie",
                                  "the whole thing")
SUBJECTS: tuple[str, ...] = ASPECTS + FILM_SUBJECTS
COPULA_NEGATIONS: tuple[str, ...] = (
    "{s} {be} not {p}", "{s} {be}n't {p}", "{s} {be} never {p}", "{s} {be} hardly {p}",
    "{s} {be} not at all {p}", "{s} {be} far from {p}", "no one would call {s} {p}")
VERB_NEGATIONS: tuple[str, ...] = ("{s} {do}n't {vb}", "{s} {do} not {vb}", "{s} never {v}",
                                   "{s} hardly {v}")
NEG_FRAMES: tuple[str, ...] = ("I don't think {c}", "I wouldn't say {c}", "I can't say {c}",
                               "it's not true that {c}", "no one could claim {c}")
INTENSIFIERS: tuple[str, ...] = ("very", "truly", "remarkably", "somewhat", "a bit", "really",
                                 "incredibly", "rather", "genuinely", "quite")
NP_INTENSIFIERS: tuple[str, ...] = ("truly", "really", "absolutely", "simply")
VERB_INTENSIFIERS: tuple[str, ...] = ("really", "truly", "genuinely", "mostly", "somewhat")
OPENERS: tuple[str, ...] = ("Honestly, ", "Frankly, ", "I thought ", "In my view, ",
                            "To be fair, ", "If you ask me, ", "Truth be told, ")
VERDICTS: tuple[str, ...] = ("Overall, ", "In the end, ", "All in all, ", "Ultimately, ",
                             "On balance, ", "Still, ", "That said, ")
CONTRASTS: tuple[str, ...] = (
    "{a}, but {b}", "{a}; however, {b}", "{a}, yet {b}", "although {a}, {b}",
    "{b}, although {a}", "even though {a}, {b}", "{b} even though {a}", "while {a}, {b}",
    "despite {a}, {b}")
ALL_KINDS: tuple[str, ...] = ("adj", "np", "without", "verb")
NEGATABLE_KINDS: tuple[str, ...] = ("adj", "np", "verb")
_NEGATIONS = {"adj": COPULA_NEGATIONS, "np": COPULA_NEGATIONS,
              "without": COPULA_NEGATIONS[:3], "verb": VERB_NEGATIONS}
_INTENSIFIERS = {"adj": INTENSIFIERS, "np": NP_INTENSIFIERS, "without": (),
                 "verb": VERB_INTENSIFIERS}


@dataclass(frozen=True)
class Clause:
    """Subject + predicate with optional negation template, negating frame, intensifier."""

    subject: str
    predicate: Predicate
    negation: str = ""
    frame: str = ""
    intensifier: str = ""
    past: bool = False

    @property
    def polarity(self) -> int:
        """Predicate polarity flipped once for the negation and once for the frame."""
        return self.predicate.polarity * (-1) ** (bool(self.negation) + bool(self.frame))

    def text(self, gerund: bool = False) -> str:
        """Surface form; ``gerund`` gives "S (not) being P" (copula, frame-less only)."""
        pred, inten = self.predicate, f"{self.intensifier} " if self.intensifier else ""
        if gerund:
            if pred.kind == "verb" or self.frame:
                raise ValueError("gerund clauses need a copula predicate and no frame")
            return f"{self.subject} {'not ' if self.negation else ''}being {inten}{pred.forms[0]}"
        verb = pred.kind == "verb"
        slots = {"s": self.subject, "be": "was" if self.past else "is", "p": pred.forms[0],
                 "do": "did" if self.past else "does", "vb": pred.forms[1] if verb else "",
                 "v": pred.forms[2 if self.past else 0] if verb else ""}
        template = self.negation or ("{s} {i}{v}" if verb else "{s} {be} {i}{p}")
        core = template.format(i=inten, **slots)
        return self.frame.format(c=core) if self.frame else core


def _negation_choices(kind: str, framed: bool) -> list[str]:
    """Negation templates for ``kind``; under a frame only the plain "not"/"n't"/"never"."""
    odd = ("hardly", "far from", "at all", "no one") if framed else ()
    return [t for t in _NEGATIONS[kind] if not any(w in t for w in odd)]


def make_clause(rng: random.Random, target: int, flips: int = 0, *, intensify: bool = False,
                kinds: tuple[str, ...] | None = None, subjects: tuple[str, ...] = SUBJECTS,
                allow_frame: bool = True) -> Clause:
    """Random clause whose polarity is ``target`` after ``flips`` (0, 1 or 2) negations."""
    if flips not in (0, 1, 2) or (flips == 2 and not allow_frame):
        raise ValueError(f"unsupported flips={flips}")
    kinds = kinds or (ALL_KINDS if flips == 0 and not intensify else NEGATABLE_KINDS)
    wanted = target * (-1) ** flips
    pred = rng.choice([p for p in PREDICATES if p.polarity == wanted and p.kind in kinds])
    use_frame = flips == 2 or (flips == 1 and allow_frame and rng.random() < 0.2)
    frame = rng.choice(NEG_FRAMES) if use_frame else ""
    single = flips - use_frame == 1
    negation = rng.choice(_negation_choices(pred.kind, use_frame)) if single else ""
    choices = _INTENSIFIERS[pred.kind] if intensify and flips == 0 else ()
    intensifier = rng.choice(choices) if choices else ""
    return Clause(rng.choice(subjects), pred, negation, frame, intensifier, rng.random() < 0.3)


def render_contrast(template: str, decoy: Clause, main: Clause) -> tuple[str, int]:
    """Fill a CONTRASTS template; the label (0/1) follows the main clause ``{b}``."""
    first = decoy.text(gerund=template.startswith("despite"))
    return template.format(a=first, b=main.text()), int(main.polarity > 0)


def _finish(rng: random.Random, body: str, first: bool = True, final: bool = True) -> str:
    """Capitalise (a first sentence, rarely, lower-case) and add end punctuation."""
    lower = first and not body.startswith("I ") and rng.random() < 0.1
    ends = (".", ".", ".", "!", "...", "") if final else (".", ".", "!")
    return (body[0].lower() if lower else body[0].upper()) + body[1:] + rng.choice(ends)


def _single(rng: random.Random, clause: Clause, first: bool = True,
            final: bool = True) -> tuple[str, int]:
    """One-clause sentence with an optional opener ("I thought" forces past tense)."""
    opener = rng.choice(OPENERS) if rng.random() < 0.35 else ""
    if opener == "I thought ":
        opener, clause = ("", clause) if clause.frame else (opener, replace(clause, past=True))
    return _finish(rng, opener + clause.text(), first, final), clause.polarity


def _contrast(rng: random.Random, target: int, negated: bool) -> tuple[str, int]:
    """Two opposite-polarity clauses; ``negated`` negates the decoy, the main or both."""
    template = rng.choice(CONTRASTS)
    flips = rng.choice(((1, 0), (1, 0), (0, 1), (1, 1))) if negated else (0, 0)
    despite = template.startswith("despite")
    kinds = ("adj", "np") if flips[0] else ("adj", "np", "without")
    decoy = make_clause(rng, -target, flips[0], intensify=rng.random() < 0.3,
                        kinds=kinds if despite else None, allow_frame=not despite)
    pool = ASPECTS if decoy.subject in FILM_SUBJECTS else SUBJECTS
    others = tuple(s for s in pool if s != decoy.subject)
    main = make_clause(rng, target, flips[1], intensify=rng.random() < 0.3, subjects=others)
    text, label = render_contrast(template, decoy, replace(main, past=decoy.past))
    opener = rng.choice([o for o in OPENERS if o != "I thought "]) if rng.random() < 0.25 else ""
    return _finish(rng, opener + text), 2 * label - 1


def _multi(rng: random.Random, target: int) -> tuple[str, int]:
    """1-2 context sentences (at least one decoy) and a final verdict sentence."""
    targets = [-target] + ([target] if rng.random() < 0.5 else [])
    rng.shuffle(targets)
    sentences, aspects = [], ASPECTS
    for context in targets:
        clause = make_clause(rng, context, rng.choice((0, 0, 1)), intensify=rng.random() < 0.3,
                             subjects=aspects)
        aspects = tuple(a for a in aspects if a != clause.subject)
        sentences.append(_single(rng, clause, first=not sentences, final=False)[0])
    subjects = FILM_SUBJECTS if rng.random() < 0.7 else aspects
    verdict = make_clause(rng, target, int(rng.random() < 0.3), subjects=subjects)
    sentences.append(_finish(rng, rng.choice(VERDICTS) + verdict.text(), first=False))
    return " ".join(sentences), verdict.polarity


_BUILDERS: dict[str, Callable[[random.Random, int], tuple[str, int]]] = {
    "plain": lambda rng, t: _single(rng, make_clause(rng, t)),
    "intensifier": lambda rng, t: _single(rng, make_clause(rng, t, intensify=True)),
    "negation": lambda rng, t: _single(rng, make_clause(rng, t, 1)),
    "double_negation": lambda rng, t: _single(rng, (  # "not without X" or frame + negation
        make_clause(rng, t, 1, kinds=("without",)) if rng.random() < 0.5
        else make_clause(rng, t, 2))),
    "contrast": lambda rng, t: _contrast(rng, t, negated=False),
    "negated_contrast": lambda rng, t: _contrast(rng, t, negated=True),
    "multi_sentence": _multi,
}


def _plan(num_examples: int, rng: random.Random) -> list[tuple[str, int]]:
    """Exact phenomenon counts (largest remainder) with alternating labels, shuffled."""
    raw = [num_examples * share for share in SHARES_PERCENT]
    counts = [r // 100 for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (-(raw[i] % 100), i))
    for i in by_remainder[: num_examples - sum(counts)]:
        counts[i] += 1
    names = [name for name, count in zip(PHENOMENA, counts) for _ in range(count)]
    plan = [(name, index % 2) for index, name in enumerate(names)]
    rng.shuffle(plan)
    return plan


def generate_reviews(num_examples: int, seed: int) -> list[dict]:
    """Reviews {"text", "label" (0/1), "phenomenon"}, deterministic in (num_examples, seed).

    Label and phenomenon shares are exact up to rounding; ValueError if num_examples < 1."""
    if num_examples < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples}")
    rng = random.Random(seed)
    reviews = []
    for phenomenon, label in _plan(num_examples, rng):
        target = 1 if label else -1
        text, polarity = _BUILDERS[phenomenon](rng, target)
        while len(text.split()) > MAX_WORDS:
            text, polarity = _BUILDERS[phenomenon](rng, target)
        if polarity != target:
            raise RuntimeError(f"label construction failed for {text!r}")
        reviews.append({"text": text, "label": label, "phenomenon": phenomenon})
    return reviews

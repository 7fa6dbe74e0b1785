"""Clinical efficacy of generated chest radiograph reports: a small rule-based labeler and its P/R/F1.

``label_report(text)`` labels each finding of ``FINDINGS`` (cardiomegaly, pleural_effusion, nodule,
pneumothorax, consolidation) as "positive", "negative", "uncertain" or "absent", plus ``no_finding``:
"positive" when no finding is positive, else "negative". The rules (vocabulary in ``clinical_rules``), with the
convention each follows:

1. sentences split at ``.`` (not inside a number), ``?``, ``!`` and newlines; clauses at ``;``, ``:``, "but",
   "however", "although", "though", "whereas", "except", "and there is/are". No cue reaches past its clause
   (NegEx / NegBio terminations);
2. mentions are each finding's synonyms; overlapping phrases keep the longest ("nodular opacity" is a nodule).
   An opacity is consolidation unless named interstitial, reticular, linear, plate-like, fibrotic, atelectatic
   or scarring, or said to be atelectasis, scar or fibrosis ("opacity likely atelectasis"): CheXpert keeps
   consolidation apart from other lung opacity. "Mass effect" is no mass. Heart-size wordings ("the heart is
   mildly to moderately enlarged", "heart enlargement", "the heart remains large") are cardiomegaly. Normal
   wordings are negative mentions: "heart size and vascularity are within normal limits", "cardio mediastinal
   contours are unremarkable", "the pleural spaces are clear" (effusion and pneumothorax), "the lungs are
   clear" (consolidation);
3. inside a clause a cue's scope also ends at "with", "which", or a comma / "and" that starts a new finding
   with its own modifier ("no pneumothorax, small effusion"); a bare list ("no effusion, pneumothorax or
   consolidation") stays in scope (NegBio);
4. the nearest cue before a mention in its scope decides: negation ("no", "without", "free of", "resolved",
   "resolution of") → negative; uncertainty ("possible", "may", "suggests", "concerning for", "cannot rule
   out", "can not exclude", "rule out") → uncertain (CheXpert: hedged findings are uncertain); pseudo-negation
   ("no change in", "partially resolved", "near complete resolution of") → positive. With none, a cue after
   it in its scope: negation ("has resolved", "is not seen", "is ruled out") → negative, an uncertainty that
   is a predicate of the mention ("cannot be excluded", "may be present", "is likely." at the clause end,
   "versus") → uncertain. An uncertainty word that opens the next phrase ("opacity concerning for
   pneumonia", "effusion and probable atelectasis") qualifies that phrase only: the finding before it stays
   positive (CheXpert labels the hedged condition, not the certain one beside it). A finding "not seen on the
   lateral view" was seen on another and stays positive (CheXpert reports a finding seen on one view). With
   no cue it is positive;
5. per finding over the report: positive if any mention is positive, else uncertain if any is uncertain,
   else negative if any is negative, else absent (CheXpert's aggregation).

``report_attributes(text)`` gives, per positive or uncertain finding, the side ("left", "right",
"bilateral") and the lobe ("right upper lobe", "lingula") stated nearest to its mentions in the same clause.

``ClinicalEfficacy`` compares the labels of generated and reference reports as R2Gen's CE evaluation does:
a label counts as present only when "positive" (uncertain counts as negative). Precision, recall and F1 are
micro-averaged over the six labels (the five findings and no_finding), with per-label F1 beside them; a ratio
with a zero denominator is 0.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import NamedTuple

import torch

from tasks.med_report import clinical_rules as rules
from tasks.metrics.gather import RecordMetric, as_tensor, check_lengths

_NOT_A_MENTION = "none"
_SENTENCE_BREAK = re.compile(r"(?<!\d)\.|\.(?!\d)|[?!\n]")
_CLAUSE_BREAK = re.compile(r"[;:]|" + rules.compile_words(rules.CLAUSE_BREAK_WORDS).pattern)
_MENTIONS = {finding: rules.compile_words(patterns) for finding, patterns in rules.MENTIONS.items()}
_MENTIONS[_NOT_A_MENTION] = rules.compile_words(rules.NOT_MENTIONS)
_NORMALS = {finding: rules.compile_words(patterns) for finding, patterns in rules.NORMAL_MENTIONS.items()}
_CUES = {
    "pre_negation": rules.compile_words(rules.PRE_NEGATION),
    "post_negation": rules.compile_words(rules.POST_NEGATION),
    "negation": rules.compile_words(rules.BOTH_WAYS_NEGATION),
    "pre_uncertain": rules.compile_words(rules.UNCERTAINTY),
    "post_uncertain": rules.compile_words(rules.POST_UNCERTAINTY),
    "uncertain": rules.compile_words(rules.BOTH_WAYS_UNCERTAINTY),
    "pseudo": rules.compile_words(rules.PSEUDO_NEGATION),
}
_BEFORE_KINDS = {"pre_negation": "negative", "negation": "negative", "pre_uncertain": "uncertain",
                 "uncertain": "uncertain", "pseudo": "positive"}
_AFTER_KINDS = {"post_negation": "negative", "negation": "negative", "post_uncertain": "uncertain",
                "uncertain": "uncertain"}
_SIDE = rules.compile_words(rules.SIDES)
_LOBE = rules.compile_words(rules.LOBES)
_PRECEDENCE = ("positive", "uncertain", "negative")


class Span(NamedTuple):
    """A matched phrase in a clause: ``start``/``end`` offsets and what it is (a finding or a cue kind)."""

    start: int
    end: int
    kind: str


class Mention(NamedTuple):
    """One mention of a finding: its label and the clause and offsets it came from (for attributes)."""

    finding: str
    label: str
    clause: str
    start: int
    end: int


def clauses(text: str) -> list[str]:
    """The lower-cased clauses of a report, in order (rule 1 of the module docstring)."""
    if not isinstance(text, str):
        raise ValueError(f"report must be a string, got {type(text).__name__}")
    parts: list[str] = []
    for sentence in _SENTENCE_BREAK.split(" ".join(text.lower().split())):
        parts.extend(part.strip() for part in _CLAUSE_BREAK.split(sentence) if part and part.strip())
    return parts


def _longest_first(spans: list[Span], keep_ties: bool = False) -> list[Span]:
    """Drop every span that overlaps an earlier-starting or, at the same start, a longer span.

    With ``keep_ties`` spans of the very same extent all stay ("pleural spaces are clear" is two findings).
    """
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, s.start - s.end)):
        tie = keep_ties and kept and (span.start, span.end) == (kept[-1].start, kept[-1].end)
        if not kept or span.start >= kept[-1].end or tie:
            kept.append(span)
    return kept


def _find(patterns: dict[str, re.Pattern[str]], clause: str) -> list[Span]:
    """Every match of every pattern in ``clause``, labelled with the pattern's key."""
    return [Span(m.start(), m.end(), kind) for kind, regex in patterns.items() for m in regex.finditer(clause)]


def _overlaps(start: int, end: int, spans: list[Span]) -> bool:
    """Whether ``[start, end)`` overlaps any of ``spans``."""
    return any(start < s.end and s.start < end for s in spans)


def _mention_label(mention: Span, cues: list[Span], breaks: list[int]) -> str:
    """Rule 4: the nearest cue before the mention in its scope decides, else the nearest after it, else positive.

    ``breaks`` are the offsets where a scope ends (rule 3): a cue never reaches a mention across one.
    """
    before = [c for c in cues if c.end <= mention.start and c.kind in _BEFORE_KINDS
              and not any(c.end <= b < mention.start for b in breaks)]
    if before:
        return _BEFORE_KINDS[max(before, key=lambda c: c.end).kind]
    after = [c for c in cues if c.start >= mention.end and c.kind in _AFTER_KINDS
             and not any(mention.end <= b < c.start for b in breaks)]
    if after:
        return _AFTER_KINDS[min(after, key=lambda c: c.start).kind]
    return "positive"


def mentions(text: str) -> list[Mention]:
    """Every finding mention of a report with its label (rules 1-4 of the module docstring)."""
    found: list[Mention] = []
    for clause in clauses(text):
        normals = {span: "negative" for span in _find(_NORMALS, clause)}
        spans = _longest_first([*_find(_MENTIONS, clause), *normals], keep_ties=True)
        cues = _longest_first(_find(_CUES, clause))
        cues = [c for c in cues if not _overlaps(c.start, c.end, spans)]
        breaks = [m.start() for m in rules.SCOPE_BREAK.finditer(clause)
                  if not _overlaps(m.start(), m.end(), [*spans, *cues])]
        for span in spans:
            if span.kind == _NOT_A_MENTION:
                continue
            label = normals.get(span) or _mention_label(span, cues, breaks)
            found.append(Mention(span.kind, label, clause, span.start, span.end))
    return found


def label_report(text: str) -> dict[str, str]:
    """``{finding: "positive" | "negative" | "uncertain" | "absent"}`` for every label in ``LABELS``."""
    labels = {finding: "absent" for finding in rules.FINDINGS}
    for mention in mentions(text):
        current = labels[mention.finding]
        if current == "absent" or _PRECEDENCE.index(mention.label) < _PRECEDENCE.index(current):
            labels[mention.finding] = mention.label
    has_positive = any(label == "positive" for label in labels.values())
    labels[rules.NO_FINDING] = "negative" if has_positive else "positive"
    return labels


def _nearest(regex: re.Pattern[str], mention: Mention) -> str | None:
    """The match of ``regex`` in the mention's clause closest to the mention (None when there is none)."""
    matches = list(regex.finditer(mention.clause))
    if not matches:
        return None
    best = min(matches, key=lambda m: min(abs(m.start() - mention.end), abs(mention.start - m.end())))
    return best.group(0)


def _side_name(word: str) -> str:
    """``left``/``right`` as they are; every word for both sides becomes ``bilateral``."""
    return word if word in ("left", "right") else "bilateral"


def report_attributes(text: str) -> dict[str, dict[str, str]]:
    """``{finding: {"side": ..., "lobe": ...}}`` for positive or uncertain findings whose side or lobe is stated.

    A lobe also gives its side. Mentions on both sides make the side "bilateral"; several lobes are listed,
    sorted and comma-separated.
    """
    sides: dict[str, set[str]] = {}
    lobes: dict[str, set[str]] = {}
    for mention in mentions(text):
        if mention.label not in ("positive", "uncertain"):
            continue
        lobe = _nearest(_LOBE, mention)
        side = _nearest(_SIDE, mention)
        if lobe is not None:
            lobes.setdefault(mention.finding, set()).add("lingula" if lobe.startswith("lingula") else lobe)
            side = "left" if lobe.startswith("lingula") else lobe.split()[0]
        if side is not None:
            sides.setdefault(mention.finding, set()).add(_side_name(side))
    attributes: dict[str, dict[str, str]] = {}
    for finding in rules.FINDINGS:
        found = sides.get(finding, set())
        entry = {}
        if found:
            entry["side"] = found.pop() if len(found) == 1 else "bilateral"
        if finding in lobes:
            entry["lobe"] = ", ".join(sorted(lobes[finding]))
        if entry:
            attributes[finding] = entry
    return attributes


def positive_labels(text: str) -> frozenset[str]:
    """The labels of ``LABELS`` that ``label_report`` marks "positive" (uncertain counts as negative)."""
    return frozenset(name for name, label in label_report(text).items() if label == "positive")


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, 0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0


class ClinicalEfficacy(RecordMetric):
    """Micro P/R/F1 of the positive labels of generated reports against reference reports.

    ``compute`` gives ``{"ce_precision", "ce_recall", "ce_f1", "ce_f1/<label>"...}`` over ``LABELS``.
    """

    def update(
        self, predictions: Sequence[str], references: Sequence[str], ids: Sequence[Hashable] | None = None
    ) -> None:
        """Label each generated report and its reference report (labels are kept, not the text)."""
        if isinstance(predictions, str):
            raise ValueError("predictions must be a list of reports, got a single string")
        check_lengths("references", references, len(predictions))
        pairs = []
        for position, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
            if not isinstance(prediction, str):
                raise ValueError(f"predictions[{position}] must be a string, got {type(prediction).__name__}")
            if not isinstance(reference, str):
                raise ValueError(f"references[{position}] must be a string, got {type(reference).__name__}")
            pairs.append((positive_labels(prediction), positive_labels(reference)))
        self.add_records(pairs, ids)

    def compute(self) -> dict[str, torch.Tensor]:
        """Micro-averaged precision, recall and F1, and the F1 of every label."""
        counts = {label: [0, 0, 0] for label in rules.LABELS}  # true positives, false positives, false negatives
        for predicted, reference in self.synced_records():
            for label in rules.LABELS:
                counts[label][0] += label in predicted and label in reference
                counts[label][1] += label in predicted and label not in reference
                counts[label][2] += label not in predicted and label in reference
        tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
        values = {
            "ce_precision": _ratio(tp, tp + fp),
            "ce_recall": _ratio(tp, tp + fn),
            "ce_f1": _ratio(2 * tp, 2 * tp + fp + fn),
        }
        for label, (label_tp, label_fp, label_fn) in counts.items():
            values[f"ce_f1/{label}"] = _ratio(2 * label_tp, 2 * label_tp + label_fp + label_fn)
        return {name: as_tensor(value) for name, value in values.items()}

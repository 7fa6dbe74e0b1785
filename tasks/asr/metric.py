"""Speech-recognition metrics: WER and CER after whisper's English text normaliser.

Normalisation (``normalize_transcript``) is ``whisper.normalizers.EnglishTextNormalizer`` exactly (it ships
inside ``openai-whisper`` with its spelling table; nothing downloads): lower case, punctuation and fillers
("um", "uh", "hmm") removed, British spellings americanised, spelled numbers written as digits. Consequences
to know when reading the scores:

* a run of spoken digits becomes ONE token: "four one seven" -> "417", so on digit strings WER counts a
  wrong string as one error (a string error rate), and CER counts wrong digits;
* "oh", "o" and "zero" are all "0" ("four oh seven" -> "407", a lone "oh" -> "0", "oh no" -> "0 no"), so
  saying "zero" for a spoken "oh" is not an error;
* a lone "1" is written "one" ("4 1 7" -> "4 one 7" but "four one seven" -> "417").

``split_digits=True`` adds one documented step after whisper's normaliser: every run of digits is split
into single digits and a lone "one" becomes "1" ("four one seven" and "4 1 7" both -> "4 1 7"), which
makes WER count digits. ``normalizer_name`` says which was used; records should carry it.

Whisper's normaliser can leave a space at either end ("about 50 %" -> "about 50 "); ``normalize_transcript``
strips both ends, so CER does not count it (jiwer's CER strips too). WER splits on whitespace and never saw it.

Corpus scores are total edits / total reference words (characters), never a mean of per-utterance rates.
Edits and lengths are counted in integers and the rates are exact ratios in float64 (torchmetrics' float32
states were about 1e-8 off). A reference that is empty after normalisation has no defined rate:
``ASRMetrics`` skips it with a warning and counts it in ``num_skipped``; ``per_example`` reports its counts
with ``wer``/``cer`` set to ``None``.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchmetrics import Metric

NORMALIZER_NAME = "whisper-english"


@functools.lru_cache(maxsize=1)
def _whisper_normalizer() -> Callable[[str], str]:
    """Whisper's ``EnglishTextNormalizer`` (reads its bundled english.json once)."""
    from whisper.normalizers import EnglishTextNormalizer  # deferred: importing whisper takes about a second

    return EnglishTextNormalizer()


def normalizer_name(split_digits: bool = False) -> str:
    """The name to record for the normalisation used: ``whisper-english`` or ``whisper-english+split-digits``."""
    return NORMALIZER_NAME + ("+split-digits" if split_digits else "")


def normalize_transcript(text: str, split_digits: bool = False) -> str:
    """``text`` through whisper's English normaliser (and, with ``split_digits``, digits split one per token)."""
    if not isinstance(text, str):
        raise ValueError(f"normalize_transcript: expected a string, got {type(text).__name__}")
    normalized = _whisper_normalizer()(text).strip()  # it can leave an edge space: "about 50 %" -> "about 50 "
    if not split_digits:
        return normalized
    tokens = []
    for token in normalized.split():
        if re.fullmatch(r"\d+", token):
            tokens.extend(token)
        else:
            tokens.append("1" if token == "one" else token)
    return " ".join(tokens)


def _alignment_counts(hypothesis: Sequence[str], reference: Sequence[str]) -> tuple[int, int, int]:
    """``(substitutions, deletions, insertions)`` of a minimum-edit (Levenshtein) alignment."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    cost = [[0] * cols for _ in range(rows)]  # cost[i][j]: reference[:i] -> hypothesis[:j]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            diagonal = cost[i - 1][j - 1] + (reference[i - 1] != hypothesis[j - 1])
            cost[i][j] = min(diagonal, cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    substitutions = deletions = insertions = 0
    i, j = rows - 1, cols - 1
    while i > 0 or j > 0:  # walk back, preferring match/substitution, then deletion, then insertion
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            substitutions += reference[i - 1] != hypothesis[j - 1]
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            deletions, i = deletions + 1, i - 1
        else:
            insertions, j = insertions + 1, j - 1
    return substitutions, deletions, insertions


def edit_distance(hypothesis: Sequence[str], reference: Sequence[str]) -> int:
    """Levenshtein distance (substitutions + deletions + insertions), two rows at a time: only the count."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, start=1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, start=1):
            current.append(min(previous[j - 1] + (ref_token != hyp_token), previous[j] + 1, current[j - 1] + 1))
        previous = current
    return previous[-1]


def error_counts(hypothesis: str, reference: str) -> tuple[int, int, int, int]:
    """``(word_edits, ref_words, char_edits, ref_chars)`` of two normalised transcripts, edge spaces stripped.

    Words split on whitespace; characters include inner spaces, as torchmetrics and jiwer count them.
    """
    hypothesis, reference = hypothesis.strip(), reference.strip()
    return (edit_distance(hypothesis.split(), reference.split()), len(reference.split()),
            edit_distance(hypothesis, reference), len(reference))


def corpus_error_rates(pairs: Sequence[tuple[str, str]]) -> dict[str, float]:
    """Corpus ``{"wer", "cer"}`` of normalised (hypothesis, reference) pairs: summed integer edits over summed
    reference words/characters, exact in float64. Empty references are skipped; ``ValueError`` if all are."""
    totals = [0, 0, 0, 0]
    for hypothesis, reference in pairs:
        if reference.strip():
            totals = [total + count for total, count in zip(totals, error_counts(hypothesis, reference))]
    word_edits, ref_words, char_edits, ref_chars = totals
    if not ref_words:
        raise ValueError("no example with a non-empty reference to score")
    return {"wer": word_edits / ref_words, "cer": char_edits / ref_chars}


def per_example(prediction: str, reference: str, split_digits: bool = False) -> dict[str, Any]:
    """Edit counts of one normalised prediction against its normalised reference.

    Returns ``ref_words``, ``hyp_words``, ``substitutions``, ``deletions``, ``insertions``, ``word_edits``,
    ``wer`` (``word_edits / ref_words``), ``ref_chars``, ``char_edits`` and ``cer`` (characters, spaces
    included, as torchmetrics counts them); ``wer``/``cer`` are ``None`` for an empty reference.
    """
    hypothesis = normalize_transcript(prediction, split_digits)
    target = normalize_transcript(reference, split_digits)
    substitutions, deletions, insertions = _alignment_counts(hypothesis.split(), target.split())
    char_edits = sum(_alignment_counts(list(hypothesis), list(target)))
    word_edits = substitutions + deletions + insertions
    ref_words, ref_chars = len(target.split()), len(target)
    return {"ref_words": ref_words, "hyp_words": len(hypothesis.split()), "substitutions": substitutions,
            "deletions": deletions, "insertions": insertions, "word_edits": word_edits,
            "wer": word_edits / ref_words if ref_words else None,
            "ref_chars": ref_chars, "char_edits": char_edits, "cer": char_edits / ref_chars if ref_chars else None}


def corpus_rates(examples: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Corpus WER and CER from ``per_example`` results: summed edits over summed reference words/characters."""
    scored = [example for example in examples if example["ref_words"] > 0]
    if not scored:
        raise ValueError("corpus_rates: no example with a non-empty reference to score")
    return {"wer": sum(e["word_edits"] for e in scored) / sum(e["ref_words"] for e in scored),
            "cer": sum(e["char_edits"] for e in scored) / sum(e["ref_chars"] for e in scored)}


class ASRMetrics(Metric):
    """Corpus WER and CER (``{"wer", "cer"}``, lower is better) of normalised transcripts.

    States are integer sums (edits, reference words and characters, skipped examples), reduced by sum across
    processes, so the rates are exact: total edits / total reference words, as float64 tensors.
    ``update(preds, refs)`` takes lists of strings; references empty after normalisation are skipped with a warning.
    """

    higher_is_better = False
    full_state_update = False
    COUNTS = ("word_edits", "ref_words", "char_edits", "ref_chars")

    def __init__(self, split_digits: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.split_digits = split_digits
        for name in (*self.COUNTS, "skipped"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @property
    def normalizer_name(self) -> str:
        """The normalisation used, for records."""
        return normalizer_name(self.split_digits)

    def _batch_counts(self, preds: Sequence[str], refs: Sequence[str]) -> tuple[list[int], int]:
        """Summed ``COUNTS`` of a batch and the number of examples skipped for an empty normalised reference."""
        if isinstance(preds, str) or isinstance(refs, str) or len(preds) != len(refs):
            raise ValueError("ASRMetrics.update: preds and refs must be lists of strings of equal length, "
                             f"got {type(preds).__name__} and {type(refs).__name__}")
        totals, num_skipped = [0, 0, 0, 0], 0
        for pred, ref in zip(preds, refs):
            target = normalize_transcript(ref, self.split_digits)
            if not target:
                num_skipped += 1
                continue
            counts = error_counts(normalize_transcript(pred, self.split_digits), target)
            totals = [total + count for total, count in zip(totals, counts)]
        if num_skipped:
            warnings.warn(f"ASRMetrics: skipped {num_skipped} example(s) whose reference is empty after "
                          "normalisation (WER is undefined for them)", stacklevel=3)
        return totals, num_skipped

    def _add(self, totals: list[int], num_skipped: int) -> None:
        for name, count in zip(self.COUNTS, totals):
            setattr(self, name, getattr(self, name) + count)
        self.skipped += num_skipped

    @staticmethod
    def _rates(word_edits: int, ref_words: int, char_edits: int, ref_chars: int) -> dict[str, torch.Tensor]:
        """Exact float64 ratios (NaN when there is no reference word)."""
        def ratio(edits: int, total: int) -> torch.Tensor:
            return torch.tensor(edits / total if total else float("nan"), dtype=torch.float64)
        return {"wer": ratio(word_edits, ref_words), "cer": ratio(char_edits, ref_chars)}

    def update(self, preds: Sequence[str], refs: Sequence[str]) -> None:
        """Add a batch of predicted and reference transcripts."""
        self._add(*self._batch_counts(preds, refs))

    def forward(self, preds: Sequence[str], refs: Sequence[str]) -> dict[str, torch.Tensor]:
        """Add the batch and return the batch's own scores (NaN when every reference was skipped)."""
        before = [int(getattr(self, name)) for name in self.COUNTS]
        self.update(preds, refs)  # through update, so torchmetrics' update count and compute cache stay right
        return self._rates(*(int(getattr(self, name)) - count for name, count in zip(self.COUNTS, before)))

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"wer", "cer"}`` over everything added; ``ValueError`` when no reference could be scored."""
        totals = [int(getattr(self, name)) for name in self.COUNTS]
        if not totals[1]:
            raise ValueError("ASRMetrics: no example with a non-empty reference to score")
        return self._rates(*totals)

    @property
    def num_skipped(self) -> int:
        """How many examples were skipped for an empty (normalised) reference."""
        return int(self.skipped)

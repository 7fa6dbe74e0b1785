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

Corpus scores are total edits / total reference words (characters), never a mean of per-utterance rates.
A reference that is empty after normalisation has no defined rate: ``ASRMetrics`` skips it with a warning
and counts it in ``num_skipped``; ``per_example`` reports its counts with ``wer``/``cer`` set to ``None``.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchmetrics.aggregation import SumMetric
from torchmetrics.functional.text import char_error_rate, word_error_rate
from torchmetrics.text import CharErrorRate, WordErrorRate
from torchmetrics.wrappers.abstract import WrapperMetric

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
    normalized = _whisper_normalizer()(text)
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


class ASRMetrics(WrapperMetric):
    """Corpus WER and CER (``{"wer", "cer"}``, lower is better) of normalised transcripts.

    Wraps torchmetrics' ``WordErrorRate`` and ``CharErrorRate``, whose summed edit and reference counts
    (reduced by sum across processes) give total edits / total reference words. ``update(preds, refs)``
    takes lists of strings; references empty after normalisation are skipped with a warning.
    """

    def __init__(self, split_digits: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.split_digits = split_digits
        self.word = WordErrorRate()
        self.char = CharErrorRate()
        self.skipped = SumMetric()

    @property
    def normalizer_name(self) -> str:
        """The normalisation used, for records."""
        return normalizer_name(self.split_digits)

    def _pairs(self, preds: Sequence[str], refs: Sequence[str]) -> tuple[list[str], list[str], int]:
        """Normalised ``(predictions, references, number skipped)``, without empty references."""
        if isinstance(preds, str) or isinstance(refs, str) or len(preds) != len(refs):
            raise ValueError("ASRMetrics.update: preds and refs must be lists of strings of equal length, "
                             f"got {type(preds).__name__} and {type(refs).__name__}")
        kept_preds, kept_refs = [], []
        for pred, ref in zip(preds, refs):
            target = normalize_transcript(ref, self.split_digits)
            if target.strip():
                kept_preds.append(normalize_transcript(pred, self.split_digits))
                kept_refs.append(target)
        num_skipped = len(refs) - len(kept_refs)
        if num_skipped:
            warnings.warn(f"ASRMetrics: skipped {num_skipped} example(s) whose reference is empty after "
                          "normalisation (WER is undefined for them)", stacklevel=3)
        return kept_preds, kept_refs, num_skipped

    def update(self, preds: Sequence[str], refs: Sequence[str]) -> None:
        """Add a batch of predicted and reference transcripts."""
        kept_preds, kept_refs, num_skipped = self._pairs(preds, refs)
        self.skipped.update(float(num_skipped))
        if kept_refs:
            self.word.update(kept_preds, kept_refs)
            self.char.update(kept_preds, kept_refs)

    def forward(self, preds: Sequence[str], refs: Sequence[str]) -> dict[str, torch.Tensor]:
        """Add the batch and return the batch's own scores (NaN when every reference was skipped)."""
        kept_preds, kept_refs, num_skipped = self._pairs(preds, refs)
        self.skipped.update(float(num_skipped))
        if not kept_refs:
            return {"wer": torch.tensor(float("nan")), "cer": torch.tensor(float("nan"))}
        self.word.update(kept_preds, kept_refs)
        self.char.update(kept_preds, kept_refs)
        return {"wer": word_error_rate(kept_preds, kept_refs), "cer": char_error_rate(kept_preds, kept_refs)}

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"wer", "cer"}`` over everything added; ``ValueError`` when no reference could be scored."""
        with warnings.catch_warnings():  # torchmetrics warns when nothing was added; the error below says more
            warnings.filterwarnings("ignore", message=".*called before the ``update`` method")
            scores = {"wer": self.word.compute(), "cer": self.char.compute()}
        if not all(torch.isfinite(value) for value in scores.values()):
            raise ValueError("ASRMetrics: no example with a non-empty reference to score")
        return scores

    @property
    def num_skipped(self) -> int:
        """How many examples were skipped for an empty (normalised) reference."""
        return int(self.skipped.compute())

    def reset(self) -> None:
        """Reset the wrapped metrics."""
        super().reset()
        for metric in (self.word, self.char, self.skipped):
            metric.reset()

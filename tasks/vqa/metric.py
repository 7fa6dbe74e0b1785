"""Answer accuracy: the VQA accuracy and exact-match accuracy, overall and per group.

``vqa_accuracy`` is the VQA score (Antol et al. 2015): the mean, over the ways of leaving out one of the N human
answers, of min(1, #remaining answers equal to the prediction / 3). With N = 10 and k matching answers that is
(k · min(1, (k-1)/3) + (10-k) · min(1, k/3)) / 10: 0 → 0, 1 → 0.3, 2 → 0.6, 3 → 0.9, 4 or more → 1.
The same leave-one-out average is used for any N ≥ 2; with a single answer the score is exact match.

Which strings are compared is the ``normalization`` policy (``NORMALIZATIONS``); the evaluation script's versions
differ here. Every policy first turns newlines and tabs into spaces and strips the prediction; then:

* ``"official"`` (default; the current VQA API ``vqaEval.py``): the human answers are stripped too; only when they
  are not all equal are both sides normalised (``normalize_vqa_answer``), else the strings are compared as they
  are: ``"Yes."`` against ten ``"yes"`` scores 0.
* ``"official-2016"`` (the 2016 script): the prediction is always normalised; the human answers only have their
  punctuation processed (``process_punctuation``), and only when they are not all equal: ``"Yes."`` scores 1.
* ``"always"`` (the zoo's earlier behaviour): both sides always normalised; ``"Yes."`` scores 1.

The policies agree whenever the prediction and the human answers are already normalised (fixed points of
``normalize_vqa_answer``), as the ``vqav2`` loaders store the human answers (``tasks/vqa/data.py``) and as
classify-mode predictions are; they can differ on generated answers. docs/recipes/vqa.md compares them.

``ExactMatchAccuracy`` is for closed-vocabulary sets (VQA-RAD, Sort-of-CLEVR): 1 when the prediction equals
the target after ``normalize_exact``, else 0.

Both metrics accept ``groups`` (one name per example, e.g. the question or answer type) and report
``{"<name>": overall, "<name>/<group>": per group}``; ``ids`` as in ``tasks.metrics.gather``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Any

import torch

from tasks.metrics.gather import RecordMetric, as_tensor, check_lengths
from tasks.vqa.normalize import clean_whitespace, normalize_exact, normalize_vqa_answer, process_punctuation

ScoredExample = tuple[float, str | None]  # (score, group)
NORMALIZATIONS = ("official", "official-2016", "always")  # see the module docstring


def check_normalization(normalization: str) -> str:
    """``normalization`` if it is one of ``NORMALIZATIONS``, else ``ValueError`` naming them."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization: must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
    return normalization


def compared_forms(prediction: str, answers: Sequence[str], normalization: str = "official") -> tuple[str, list[str]]:
    """The prediction and human answers as the ``normalization`` policy compares them (module docstring)."""
    check_normalization(normalization)
    for position, answer in enumerate([prediction, *answers]):
        if not isinstance(answer, str):
            name = "prediction" if position == 0 else f"answers[{position - 1}]"
            raise ValueError(f"{name} must be a string, got {type(answer).__name__}")
    if normalization == "always":
        return normalize_vqa_answer(prediction), [normalize_vqa_answer(answer) for answer in answers]
    if normalization == "official-2016":
        humans = [process_punctuation(a) for a in answers] if len(set(answers)) > 1 else list(answers)
        return normalize_vqa_answer(prediction), humans
    predicted, humans = clean_whitespace(prediction), [clean_whitespace(answer) for answer in answers]
    if len(set(humans)) > 1:
        return normalize_vqa_answer(predicted), [normalize_vqa_answer(answer) for answer in humans]
    return predicted, humans


def vqa_accuracy(prediction: str, answers: Sequence[str], normalization: str = "official") -> float:
    """The VQA accuracy of ``prediction`` against the human ``answers`` under ``normalization`` (module docstring)."""
    if isinstance(answers, str) or len(answers) == 0:
        raise ValueError(f"answers must be a non-empty list of strings, got {answers!r}")
    predicted, humans = compared_forms(prediction, answers, normalization)
    matches = [human == predicted for human in humans]
    if len(matches) == 1:
        return float(matches[0])
    total_matches = sum(matches)
    left_out = [min(1.0, (total_matches - is_match) / 3.0) for is_match in matches]
    return sum(left_out) / len(left_out)


def exact_match(prediction: str, target: str) -> float:
    """1.0 when ``prediction`` equals ``target`` after ``normalize_exact``, else 0.0."""
    return float(normalize_exact(prediction) == normalize_exact(target))


def grouped_means(name: str, examples: Sequence[ScoredExample]) -> dict[str, torch.Tensor]:
    """``{name: mean score, f"{name}/{group}": mean score of the group}`` (groups sorted; 0 when empty)."""
    by_group: dict[str, list[float]] = defaultdict(list)
    for score, group in examples:
        if group is not None:
            by_group[group].append(score)
    scores = [score for score, _ in examples]
    values = {name: as_tensor(sum(scores) / len(scores) if scores else 0.0)}
    for group in sorted(by_group):
        values[f"{name}/{group}"] = as_tensor(sum(by_group[group]) / len(by_group[group]))
    return values


def _check_groups(groups: Sequence[str] | None, num_examples: int) -> list[str | None]:
    """One group name per example (``None`` when ``groups`` is ``None``); ``ValueError`` naming ``groups``."""
    if groups is None:
        return [None] * num_examples
    check_lengths("groups", groups, num_examples)
    for position, group in enumerate(groups):
        if not isinstance(group, str) or not group:
            raise ValueError(f"groups[{position}] must be a non-empty string, got {group!r}")
    return list(groups)


def _check_predictions(predictions: Sequence[str]) -> None:
    """``ValueError`` naming ``predictions`` unless it is a list of strings."""
    if isinstance(predictions, str):
        raise ValueError("predictions must be a list of answers, got a single string")
    for position, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            raise ValueError(f"predictions[{position}] must be a string, got {type(prediction).__name__}")


class VQAAccuracy(RecordMetric):
    """Mean VQA accuracy: ``{"vqa_accuracy", "vqa_accuracy/<group>"...}``; ``normalization`` as ``vqa_accuracy``."""

    def __init__(self, normalization: str = "official", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.normalization = check_normalization(normalization)

    def update(
        self,
        predictions: Sequence[str],
        answers: Sequence[Sequence[str]],
        groups: Sequence[str] | None = None,
        ids: Sequence[Hashable] | None = None,
    ) -> None:
        """Score each prediction against its list of human answers."""
        _check_predictions(predictions)
        check_lengths("answers", answers, len(predictions))
        group_names = _check_groups(groups, len(predictions))
        scored = []
        for position, (prediction, human) in enumerate(zip(predictions, answers, strict=True)):
            if isinstance(human, str) or len(human) == 0:
                raise ValueError(f"answers[{position}] must be a non-empty list of strings, got {human!r}")
            scored.append((vqa_accuracy(prediction, human, self.normalization), group_names[position]))
        self.add_records(scored, ids)

    def per_example(self) -> list[float]:
        """The VQA accuracy of every unique example, in the order the examples were added."""
        return [score for score, _ in self.synced_records()]

    def compute(self) -> dict[str, torch.Tensor]:
        """Overall and per-group mean VQA accuracy."""
        return grouped_means("vqa_accuracy", self.synced_records())


class ExactMatchAccuracy(RecordMetric):
    """Exact-match accuracy after ``normalize_exact``: ``{"accuracy", "accuracy/<group>"...}``."""

    def update(
        self,
        predictions: Sequence[str],
        targets: Sequence[str],
        groups: Sequence[str] | None = None,
        ids: Sequence[Hashable] | None = None,
    ) -> None:
        """Compare each prediction with its single target answer."""
        _check_predictions(predictions)
        check_lengths("targets", targets, len(predictions))
        group_names = _check_groups(groups, len(predictions))
        scored = []
        for position, (prediction, target) in enumerate(zip(predictions, targets, strict=True)):
            if not isinstance(target, str):
                raise ValueError(f"targets[{position}] must be a string, got {type(target).__name__}")
            scored.append((exact_match(prediction, target), group_names[position]))
        self.add_records(scored, ids)

    def per_example(self) -> list[float]:
        """1.0/0.0 for every unique example, in the order the examples were added."""
        return [score for score, _ in self.synced_records()]

    def compute(self) -> dict[str, torch.Tensor]:
        """Overall and per-group accuracy."""
        return grouped_means("accuracy", self.synced_records())

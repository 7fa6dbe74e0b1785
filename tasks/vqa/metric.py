"""Answer accuracy: the official VQA accuracy and exact-match accuracy, overall and per group.

``vqa_accuracy`` is the VQA score (Antol et al. 2015): with the prediction and the human answers normalised by
``normalize_vqa_answer``, it is the mean, over the ways of leaving out one of the N human answers, of
min(1, #remaining answers equal to the prediction / 3). With N = 10 and k matching answers that is
(k · min(1, (k-1)/3) + (10-k) · min(1, k/3)) / 10: 0 → 0, 1 → 0.3, 2 → 0.6, 3 → 0.9, 4 or more → 1.
The same leave-one-out average is used for any N ≥ 2; with a single answer the score is exact match.
The official script normalises the human answers only when they disagree, and then only their punctuation;
here both sides get the full normalisation, which changes nothing on VQA v2's already-normalised answers.

``ExactMatchAccuracy`` is for closed-vocabulary sets (VQA-RAD, Sort-of-CLEVR): 1 when the prediction equals
the target after ``normalize_exact``, else 0.

Both metrics accept ``groups`` (one name per example, e.g. the question or answer type) and report
``{"<name>": overall, "<name>/<group>": per group}``; ``ids`` as in ``tasks.metrics.gather``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import torch

from tasks.metrics.gather import RecordMetric, as_tensor, check_lengths
from tasks.vqa.normalize import normalize_exact, normalize_vqa_answer

ScoredExample = tuple[float, str | None]  # (score, group)


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """The official VQA accuracy of ``prediction`` against the human ``answers`` (see the module docstring)."""
    if isinstance(answers, str) or len(answers) == 0:
        raise ValueError(f"answers must be a non-empty list of strings, got {answers!r}")
    predicted = normalize_vqa_answer(prediction)
    matches = [normalize_vqa_answer(answer) == predicted for answer in answers]
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
    """Mean official VQA accuracy: ``{"vqa_accuracy", "vqa_accuracy/<group>"...}``."""

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
            scored.append((vqa_accuracy(prediction, human), group_names[position]))
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

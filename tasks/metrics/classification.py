"""Accuracy and macro-F1 over class predictions, each example counted once across processes.

torchmetrics' ``MulticlassAccuracy`` sums per-process counts, so the examples that Lightning's
``DistributedSampler`` repeats to even out the ranks in validation/test would count twice. ``ClassificationScores``
keeps ``(id, (predicted, target))`` records (``tasks.metrics.gather``), drops repeated ids after gathering and
computes the same numbers as ``MulticlassAccuracy(average="micro")`` and ``MulticlassF1Score(average="macro")``
on the unique examples.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from tasks.metrics.gather import RecordMetric, check_lengths


class ClassificationScores(RecordMetric):
    """``{"accuracy": micro accuracy, "macro_f1": macro F1}`` over ``num_classes`` classes."""

    def __init__(self, num_classes: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = num_classes

    def update(self, predicted: torch.Tensor, target: torch.Tensor, ids: Sequence[Hashable] | None = None) -> None:
        """Predicted and target class indices (B,) of one batch, with the examples' ids."""
        predicted_list, target_list = predicted.tolist(), target.tolist()
        check_lengths("target", target_list, len(predicted_list))
        self.add_records(list(zip(predicted_list, target_list, strict=True)), ids)

    def compute(self) -> dict[str, torch.Tensor]:
        pairs = self.synced_records()
        if not pairs:
            return {"accuracy": torch.tensor(0.0), "macro_f1": torch.tensor(0.0)}
        predicted, target = torch.tensor(pairs).T  # (2, N)
        return {"accuracy": multiclass_accuracy(predicted, target, self.num_classes, average="micro"),
                "macro_f1": multiclass_f1_score(predicted, target, self.num_classes, average="macro")}

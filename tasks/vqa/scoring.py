"""VQA scoring: the reference kept in prediction rows, per-example scores, metric names, rescoring of predictions
files (``zoo score``) and the question-only majority reference row (``--model majority``).

Metrics are exact-match accuracy after ``normalize_exact`` (or the VQA accuracy against ten human answers, under
the official script's normalisation rule: ``tasks/vqa/metric.py``), overall and per group (relational /
non-relational, closed / open)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import torch

from tasks.vqa.metric import exact_match, grouped_means, vqa_accuracy

GROUP_METRICS = ("relational", "nonrelational", "closed", "open")  # groups reported as "<group>_accuracy"


def reference_of(example: Mapping[str, Any]) -> dict:
    """The reference kept in a prediction row: the answer(s) and the metric group, so rows rescore alone."""
    if len(example["answers"]) > 1:
        return {"answers": list(example["answers"]), "group": example["group"]}
    return {"answer": example["answer"], "group": example["group"]}


def reference_text(reference: Mapping[str, Any]) -> str:
    return " | ".join(reference.get("answers", [reference.get("answer", "")]))


def example_score(prediction: str, reference: Mapping[str, Any]) -> float:
    """The example's own metric: VQA accuracy against ten answers, else exact match."""
    if "answers" in reference:
        return vqa_accuracy(prediction, reference["answers"])
    return exact_match(prediction, reference["answer"])


def metric_names(values: Mapping[str, Any]) -> dict[str, float]:
    """Metric tensors of ``ExactMatchAccuracy``/``VQAAccuracy`` under the SPEC's names (``accuracy/open`` →
    ``open_accuracy``; VQA accuracy also as ``accuracy``), rounded to float32 as logged values are."""
    out = {}
    for name, value in values.items():
        base, _, group = name.partition("/")
        number = float(torch.tensor(float(value), dtype=torch.float32))
        if not group:
            out[base] = number
            if base == "vqa_accuracy":
                out["accuracy"] = number
        elif group in GROUP_METRICS:
            out[f"{group}_accuracy"] = number
    return out


def score_predictions(rows: list[dict]) -> dict[str, float]:
    """The test metrics recomputed from prediction rows (``reference``: answer(s) and group)."""
    for number, row in enumerate(rows, start=1):
        reference = row.get("reference")
        if not isinstance(reference, dict) or "group" not in reference or not (
                "answer" in reference or "answers" in reference):
            raise ValueError(f"prediction row {number}: reference must be {{'answer'|'answers', 'group'}}")
    name = "vqa_accuracy" if rows and "answers" in rows[0]["reference"] else "accuracy"
    scored = [(example_score(r["prediction"], r["reference"]), r["reference"]["group"]) for r in rows]
    return metric_names(grouped_means(name, scored))


def majority_predictions(train_rows: list[dict], test_rows: list[dict], by: str = "question") -> list[dict]:
    """A question-only reference (the harness's ``--model majority``): for each test question, the most frequent
    train answer to the same question text (``by="question"``; unseen questions fall back to their group's answer)
    or to its group (``by="group"``, e.g. closed/open). Prediction rows like a run's."""
    if by not in ("group", "question"):
        raise ValueError(f"by: must be 'group' or 'question', got {by!r}")
    def most_common(rows: list[dict]) -> str:
        counts = Counter(r["answer"] for r in rows)
        return min(counts, key=lambda a: (-counts[a], a))
    by_group = {g: most_common([r for r in train_rows if r["group"] == g]) for g in {r["group"] for r in train_rows}}
    overall = most_common(train_rows)
    by_question: dict[str, str] = {}
    if by == "question":
        asked: dict[str, list[dict]] = {}
        for r in train_rows:
            asked.setdefault(r["question"].strip().lower(), []).append(r)
        by_question = {text: most_common(rows) for text, rows in asked.items()}
    rows = []
    for r in test_rows:
        prediction = by_question.get(r["question"].strip().lower(), by_group.get(r["group"], overall))
        reference = reference_of(r)
        rows.append({"id": str(r["id"]), "prediction": prediction, "reference": reference,
                     "score": example_score(prediction, reference)})
    return rows


def majority_baseline(train_rows: list[dict], test_rows: list[dict], by: str = "group") -> dict[str, float]:
    """The metrics of ``majority_predictions`` (default here: per group)."""
    return score_predictions(majority_predictions(train_rows, test_rows, by))

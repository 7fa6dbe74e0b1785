"""Scene batching for vqa: encode an image once and answer all of its questions in one sequence.

A batch holds B images; each image's questions are packed after its image tokens as text segments 1..Q (see
``zoo.encoder.FusionEncoder``: a question sees the image and itself only, the image sees itself only), so the result
for a question equals what a one-question sequence with the same mask gives, at a fraction of the cost: 25 image
tokens are encoded once instead of 20 times on Sort-of-CLEVR (speed-up measured in docs/recipes/vqa.md).

Batch keys: ``image`` (B, 3, H, W), ``text``/``text_mask``/``text_segments`` (B, T), ``label`` (N,) over the N
questions of the batch (-100 outside the answer vocabulary), ``slot`` (N,) the flat index ``b * Q + q`` of each
question's segment, ``reference`` and ``id`` (N entries, question order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tasks.core.samplers import EpochSampler
from tasks.vqa.data import Questions


def scenes_of(rows: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Row indices grouped by ``image_index``, images in first-seen order, questions in row order."""
    groups: dict[int, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(row["image_index"], []).append(index)
    return list(groups.values())


class Scenes(torch.utils.data.Dataset):
    """Item ``i`` (or ``(i, warmup)``) is image ``i`` with its question rows; ``warmup=True`` keeps only the
    non-relational ones (the curriculum's first phase)."""

    def __init__(self, questions: Questions) -> None:
        self.questions = questions
        self.groups = scenes_of(questions.rows)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, item: int | tuple[int, bool]) -> dict:
        index, warmup = item if isinstance(item, tuple) else (item, False)
        rows = [self.questions.rows[i] for i in self.groups[index]]
        if warmup:
            rows = [r for r in rows if r["group"] == "nonrelational"] or rows
        return {"image": self.questions.images[rows[0]["image_index"]], "questions": rows}


class SceneSampler(EpochSampler):
    """Shuffles the scenes every epoch (seeded by seed + epoch); the first ``round(warmup_epochs × len)`` scenes of
    the run come as ``(index, True)`` (non-relational questions only), the rest as ``(index, False)``."""

    def __init__(self, size: int, warmup_epochs: float, seed: int) -> None:
        super().__init__(size, seed)
        self.num_warmup = round(warmup_epochs * size)

    def order(self, epoch: int) -> list[tuple[int, bool]]:
        start = epoch * self.size  # position of this epoch in the run's stream of scenes
        return [(index, start + position < self.num_warmup)
                for position, index in enumerate(self.permutation(self.seed + epoch))]


def collate_scenes(examples: list[dict], encode: Callable[[list[str]], tuple[Tensor, Tensor]],
                   question_text: Callable[[Mapping[str, Any]], str], label_of: Callable[[Mapping[str, Any]], int],
                   reference_of: Callable[[Mapping[str, Any]], dict]) -> dict[str, Any]:
    """Pack each image's questions into one text row (segments 1..Q; 0 = padding)."""
    questions = [e["questions"] for e in examples]
    flat = [q for qs in questions for q in qs]
    ids, mask = encode([question_text(q) for q in flat])  # (N, L) each, one row per question
    lengths = mask.sum(dim=1).tolist()
    spans = _spans(questions)
    width = max(sum(lengths[i] for i in span) for span in spans)
    most = max(len(qs) for qs in questions)
    text = torch.zeros(len(examples), width, dtype=ids.dtype)
    segments = torch.zeros(len(examples), width, dtype=torch.long)
    slots = []
    for b, span in enumerate(spans):
        cursor = 0
        for q, row in enumerate(span):
            n = lengths[row]
            text[b, cursor:cursor + n] = ids[row, :n]
            segments[b, cursor:cursor + n] = q + 1
            cursor += n
            slots.append(b * most + q)
    images = torch.from_numpy(np.stack([e["image"] for e in examples]))  # (B, H, W, 3) uint8
    return {"image": images.permute(0, 3, 1, 2).float().div(255.0), "text": text, "text_mask": segments > 0,
            "text_segments": segments, "slot": torch.tensor(slots), "questions_per_row": most,
            "label": torch.tensor([label_of(q) for q in flat]),
            "reference": [reference_of(q) for q in flat], "id": [q["id"] for q in flat]}


def _spans(questions: list[list[dict]]) -> list[range]:
    """Flat question indices of each image."""
    spans, start = [], 0
    for qs in questions:
        spans.append(range(start, start + len(qs)))
        start += len(qs)
    return spans


def pool_segments(tokens: Tensor, segments: Tensor, questions_per_row: int) -> Tensor:
    """Mean of each segment's fused text tokens: tokens (B, T, D), segments (B, T) -> (B × Q, D), row b*Q + q is
    segment q + 1 of image b (zeros for absent segments)."""
    one_hot = torch.nn.functional.one_hot(segments, questions_per_row + 1)[..., 1:].to(tokens.dtype)  # (B, T, Q)
    sums = torch.einsum("btq,btd->bqd", one_hot, tokens)  # (B, Q, D)
    counts = one_hot.sum(dim=1).clamp(min=1.0).unsqueeze(-1)  # (B, Q, 1)
    return (sums / counts).reshape(-1, tokens.shape[-1])

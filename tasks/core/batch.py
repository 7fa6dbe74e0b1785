"""The one batch vocabulary: every key a batch of any task carries, with its type and shape.

Shapes (as in ``zoo/model.py``):
    B rows (images, utterances, sequences) fed to the backbone, N examples scored (answers, labels, ids),
    C channels, H/W image height/width, M mel bins, F audio frames, T text tokens, L target tokens,
    K answer vocabulary.
    N equals B except in a packed batch (one that carries ``slot``: vqa scene batches, each row an image with its
    questions). A dimension name stands for one size across the batch (``text`` and ``text_mask`` share T).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

PACKED_BY = "slot"  # a batch with this key packs N examples into B rows; without it N is B
DTYPES = {"float": torch.is_floating_point,  # float32 from the collate functions, half under true-half precision
          "long": lambda t: t.dtype == torch.long,
          "bool": lambda t: t.dtype == torch.bool}
ELEMENTS = {"str": (str,), "reference": (str, list, dict)}


@dataclass(frozen=True)
class BatchKey:
    """One batch key: a tensor of ``dtype`` with ``dims``, a list of ``dims[0]`` items of ``dtype``, or an int."""

    kind: str  # "tensor", "list" or "int"
    dtype: str  # tensor: a DTYPES name; list: an ELEMENTS name; int: "int"
    dims: tuple[str, ...]  # tensor: one name per dimension; list: its length; int: ()
    doc: str


BATCH = {
    "image": BatchKey("tensor", "float", ("B", "C", "H", "W"), "pixels in [0, 1]"),
    "audio": BatchKey("tensor", "float", ("B", "M", "F"), "log-mel features, zero-padded"),
    "audio_mask": BatchKey("tensor", "bool", ("B", "F"), "True at real audio frames"),
    "text": BatchKey("tensor", "long", ("B", "T"), "input token ids (sentence, question, indication), padded"),
    "text_mask": BatchKey("tensor", "bool", ("B", "T"), "True at real text tokens"),
    "text_segments": BatchKey("tensor", "long", ("B", "T"), "packed batch: question q+1 of the row; 0 padding"),
    "target": BatchKey("tensor", "long", ("N", "L"), "decoder targets with bos and eos, padded"),
    "target_mask": BatchKey("tensor", "bool", ("N", "L"), "True at real target tokens"),
    "label": BatchKey("tensor", "long", ("N",), "class / answer index; -100 outside the label set"),
    "answer_mask": BatchKey("tensor", "bool", ("N", "K"), "True at the answers an example allows"),
    "slot": BatchKey("tensor", "long", ("N",), "packed batch: flat index b * Q + q of each example's segment"),
    "questions_per_row": BatchKey("int", "int", (), "packed batch: Q, the most examples in one row"),
    "reference": BatchKey("list", "reference", ("N",), "what a prediction is scored against: str, list or dict"),
    "id": BatchKey("list", "str", ("N",), "example ids"),
}
BATCH_KEYS = frozenset(BATCH)
REQUIRED = ("id",)


def check_batch(batch: Mapping[str, Any]) -> None:
    """``ValueError`` naming the key if ``batch`` breaks the vocabulary: an undeclared or missing key, a wrong
    type, dtype or number of dimensions, or a dimension whose size differs between keys (N and B included)."""
    unknown = sorted(set(batch) - BATCH_KEYS)
    if unknown:
        raise ValueError(f"batch key(s) {', '.join(map(repr, unknown))} not in the batch vocabulary "
                         f"(tasks/core/batch.py)")
    for name in REQUIRED:
        if name not in batch:
            raise ValueError(f"batch: {name!r} missing")
    sizes: dict[str, tuple[int, str]] = {}  # dimension name -> (size, the key that set it)
    packed = PACKED_BY in batch
    for name, value in batch.items():
        for dim, size in zip(BATCH[name].dims, _shape(name, value, BATCH[name])):
            dim = dim if packed or dim != "N" else "B"
            if sizes.setdefault(dim, (size, name))[0] != size:
                first_size, first = sizes[dim]
                raise ValueError(f"batch key {name!r}: dimension {dim} is {size}, but {first_size} in {first!r}")


def _shape(name: str, value: Any, key: BatchKey) -> tuple[int, ...]:
    """The sizes of ``value``'s declared dimensions after checking its type and dtype."""
    if key.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"batch key {name!r}: expected an int, got {type(value).__name__}")
        return ()
    if key.kind == "list":
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"batch key {name!r}: expected a list, got {type(value).__name__}")
        bad = next((item for item in value if not isinstance(item, ELEMENTS[key.dtype])), None)
        if bad is not None:
            raise ValueError(f"batch key {name!r}: items must be {key.dtype}, got {type(bad).__name__}")
        return (len(value),)
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"batch key {name!r}: expected a tensor, got {type(value).__name__}")
    if not DTYPES[key.dtype](value):
        raise ValueError(f"batch key {name!r}: expected a {key.dtype} tensor, got {value.dtype}")
    if value.ndim != len(key.dims):
        raise ValueError(f"batch key {name!r}: expected {len(key.dims)} dimensions "
                         f"({', '.join(key.dims)}), got shape {tuple(value.shape)}")
    return tuple(value.shape)

"""The own-data adapter contract: how a task reads your rows, builds its vocabulary and predicts.

Each task's ``finetune.py`` subclasses ``Adapter`` for one task. An adapter knows: the annotation file names of a
folder, how a table row becomes a task example (the same example dicts the task's own loaders produce), the built-in
data, the data-dependent information saved with a checkpoint (``info``: tokenizer, label set, answer vocabulary,
feature statistics), how to hand examples to the task's ``DataModule`` (reusing its collate and samplers), which
files ``predict`` reads, and what a prediction is.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zoo
from tasks.core.inputs import resolve_inside
from tasks.core.own_data import get_field

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".flac", ".sph", ".ogg", ".mp3")
TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet")


class Adapter:
    """One task's bridge between your tables and its DataModule and Module; subclasses fill in the hooks."""

    annotation: tuple[str, ...] = ()  # annotation file names looked for in a data folder
    predict_suffixes: tuple[str, ...] = ()  # the files ``zoo predict`` reads from a folder
    predict_images = False  # ``zoo predict`` folders hold images (non-image files are skipped with a warning)

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        """One table row (``_where`` names it) as a task example; a bad field is a ``ValueError`` naming the row."""
        raise NotImplementedError

    def native_examples(self, path: str | None, columns: dict, files: Mapping[str, str | None]) -> dict | None:
        """Split → examples read by the task's own reader of ``path`` (e.g. a captions folder), else None."""
        return None

    def assemble(self, splits: dict[str, list[dict]], config: Any) -> dict[str, Any]:
        """Examples as the task's DataModule holds them (by default the lists themselves)."""
        return splits

    def builtin(self, config: Any) -> dict:
        """The task's built-in data, split → examples in the task's own form."""
        raise NotImplementedError

    def info(self, config: Any, train: Any) -> dict:
        """What the model needs from the training data (tokenizer, label set, ...), as JSON-ready values."""
        raise NotImplementedError

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        """Put the splits and the checkpoint's vocabulary into the task's DataModule ``dm``."""
        raise NotImplementedError

    def own_data_options(self, config: Any, train: Any, tokenizer: Any) -> dict:
        """Config options measured from your train split (``tasks.core.sizing``: image size, text lengths) and
        defaults for real data; the user's ``--model.options`` win over each. By default none."""
        return {}

    def check_eval(self, dm: Any, splits: dict, sources: Mapping[str, str]) -> None:
        """Warn about evaluation examples the model cannot score (``sources``: split → where it came from)."""

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> Any:
        """The examples ``zoo predict`` runs on, one per input."""
        raise NotImplementedError

    def predict(self, module: Any, batch: dict) -> list[dict]:
        """One prediction dict per example of ``batch`` (``prediction``, and what else the task reports)."""
        raise NotImplementedError


def row_id(row: Mapping[str, Any], columns: Mapping[str, str], fallback: str) -> str:
    """The row's ``id`` field, else ``fallback`` with the row (``_where``): generated ids are unique by construction,
    so two rows of one image or audio file never share an id (metrics score one example per id)."""
    value = get_field(row, "id", columns, required=False)
    if value not in (None, ""):
        return str(value)
    where = row.get("_where")
    return fallback if not where or fallback == where else f"{fallback} ({where})"


def image_field(value: Any, root: Path, where: str) -> dict[str, Any]:
    """``{"image_path": file}`` for a path relative to ``root``, ``{"image": PNG bytes}`` for a hub image."""
    if isinstance(value, str):
        path = resolve_inside(root, value, where)
        if not path.is_file():
            raise ValueError(f"{where}: image file {path} not found")
        return {"image_path": str(path)}
    if hasattr(value, "convert"):  # a PIL image from the hub
        buffer = io.BytesIO()
        value.convert("RGB").save(buffer, format="PNG")
        return {"image": buffer.getvalue()}
    raise ValueError(f"{where}: image must be a file path, got {type(value).__name__}")


def tokenizer_of(info: Mapping[str, Any]) -> Any:
    """The tokenizer saved in a checkpoint's data info."""
    return zoo.tokenizer_from_dict(dict(info["tokenizer"]))

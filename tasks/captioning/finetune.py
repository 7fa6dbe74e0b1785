"""Captioning on your own data (``zoo fit|validate|test|predict --task captioning``).

A folder with ``captions.jsonl`` (``image``, ``captions``; aliases caption, text, sentences) read by the task's own
captions-folder reader, or any table of those fields. ``zoo predict`` reads image files or folders.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks import captioning
from tasks.core import sizing
from tasks.core.adapter import IMAGE_SUFFIXES, Adapter, image_field, row_id, tokenizer_of
from tasks.core.finetune import FineTune
from tasks.core.own_data import get_field
from tasks.core.own_datamodule import OwnData


class CaptioningAdapter(Adapter):
    annotation = ("captions.jsonl",)
    predict_suffixes = IMAGE_SUFFIXES
    predict_images = True

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        where = row["_where"]
        image = get_field(row, "image", columns, aliases=("image_path", "file_name", "path"))
        captions = get_field(row, "captions", columns, aliases=("caption", "text", "sentences"))
        return {"id": row_id(row, columns, str(image)), **image_field(image, root, where),
                "captions": captioning.check_captions(captions, where)}

    def native_examples(self, path: str | None, columns: dict, files: Mapping[str, str | None]) -> dict | None:
        """A captions folder (``captions.jsonl`` with optional ``split``) through the task's own reader."""
        if path is None or columns or any(files.values()) or not (Path(path) / "captions.jsonl").is_file():
            return None
        found: dict[str, list[dict]] = {}
        for row in captioning.read_captions_folder(Path(path)):
            found.setdefault(row.pop("split") or "train", []).append(row)
        return found

    def builtin(self, config: Any) -> dict:
        return captioning.load_splits(config)[0]

    def info(self, config: Any, train: Any) -> dict:
        texts = captioning.tokenizer_texts(train)
        return {"tokenizer": captioning.build_tokenizer(config.tokenizer, texts).to_dict()}

    def own_data_options(self, config: Any, train: Any, tokenizer: Any) -> dict:
        """Images at ``sizing.IMAGE_SIZE``; captions as long as 95% of the train captions, decoded without
        repeating a phrase (``sizing.NO_LOOPS``)."""
        length = sizing.percentile_length(tokenizer, captioning.tokenizer_texts(train), extra=2, floor=8,
                                          ceiling=64)
        return {**sizing.image_options(config), "max_length": length,
                "decoding": {"max_new_tokens": length - 1, **sizing.NO_LOOPS}}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = tokenizer_of(info)
        dm.splits = dict(splits)
        if "train" in splits:  # one (image, caption) pair an image an epoch, cycling through its captions
            dm.splits["train"] = dm.train_view(splits["train"])

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> list[dict]:
        return [{"id": str(p), "image_path": str(p), "captions": [""]} for p in files]

    def predict(self, module: Any, batch: dict) -> list[dict]:
        return [{"prediction": text} for text in module.generate(batch)]


ADAPTER = CaptioningAdapter()


class Model(FineTune, captioning.Module):
    """Image captioning: image → caption text."""

    TASK = "captioning"


class Data(OwnData):
    TASK = "captioning"

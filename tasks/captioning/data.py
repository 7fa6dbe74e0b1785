"""Captioning data: the generated shapes-captions set, Karpathy split files, captions folders and hub sets as rows
(``id``, ``image`` PNG bytes or ``image_path``, ``captions``), and the training view that cycles the references."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch

from tasks.core import vision
from tasks.core.data import fingerprint_params, load_hub, require_file
from tasks.core.inputs import read_text, resolve_inside, text_lines
from tasks.core.own_data import split_name
from tasks.core.samplers import EpochSampler as BaseEpochSampler
from tasks.core.seq2seq_task import by_split
from tasks.generators import shapes_captions

SHAPES_SIZES = {"train": 4000, "val": 200, "test": 500}
SHAPES_SEED = 20261130  # the data seed: fixed, independent of the training seed
KARPATHY_FILES = {"coco-karpathy": "dataset_coco.json", "flickr30k": "dataset_flickr30k.json"}


def generate_shapes() -> dict[str, list[dict]]:
    """The shapes-captions splits (``SHAPES_SIZES``), each from its own seed."""
    rows = {}
    for offset, (split, size) in enumerate(SHAPES_SIZES.items()):
        scenes = shapes_captions.generate(size, seed=SHAPES_SEED + offset)
        rows[split] = [{"id": f"{split}-{i}", "image": vision.encode_png(s["image"]), "captions": s["captions"]}
                       for i, s in enumerate(scenes)]
    return rows


def check_captions(captions: Any, where: str) -> list[str]:
    """``captions`` (a string or a list of strings) as a non-empty list of stripped strings; ``where`` names a bad
    one."""
    if isinstance(captions, str):
        captions = [captions]
    if not isinstance(captions, list) or not captions or not all(isinstance(c, str) and c.strip() for c in captions):
        raise ValueError(f"{where}: 'captions' must be a non-empty list of non-empty strings")
    return [c.strip() for c in captions]


def read_captions_folder(root: Path) -> list[dict]:
    """Rows (``id``, ``image_path``, ``captions``, ``split``) of ``root/captions.jsonl``; bad lines name file:line.

    ``split`` accepts the names of every own-data table (``own_data.SPLIT_NAMES``: valid, dev, ...) as train, val
    or test; None when the line has none."""
    path = require_file(root / "captions.jsonl", 'captions.jsonl with {"image", "captions", ["split"]} per line')
    rows = []
    for line_no, line in text_lines(path):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{line_no}: not valid JSON ({error.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("image"), str):
            raise ValueError(f"{path}:{line_no}: missing field 'image' (a path relative to {root})")
        split = split_name(item.get("split"), f"{path}:{line_no}", "field 'split'")
        image = resolve_inside(root, item["image"], f"{path}:{line_no}: field 'image'")
        rows.append({"id": item.get("id", item["image"]), "image_path": str(image),
                     "captions": check_captions(item.get("captions"), f"{path}:{line_no}"), "split": split})
    return rows


def read_karpathy(root: Path, filename: str) -> list[dict]:
    """Rows of Karpathy's split file (``images[]`` with filepath, filename, split, sentences[].raw); restval → train."""
    path = require_file(root / filename, "Karpathy's split json (images[] with filepath, filename, split, sentences)")
    try:
        images = json.loads(read_text(path))["images"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a Karpathy split file ({type(error).__name__}: {error})") from None
    rows = []
    for index, item in enumerate(images):
        where = f"{path}: images[{index}]"
        if not isinstance(item, dict) or "filename" not in item or "split" not in item:
            raise ValueError(f"{where}: missing 'filename' or 'split'")
        folder = resolve_inside(root, item["filepath"], f"{where}: field 'filepath'") if item.get("filepath") \
            else root / "images"
        split = {"restval": "train"}.get(item["split"], item["split"])
        if split not in ("train", "val", "test"):
            raise ValueError(f"{where}: unknown split {item['split']!r}")
        captions = check_captions([s.get("raw", "") for s in item.get("sentences", [])], where)
        rows.append({"id": str(item.get("cocoid", item.get("imgid", item["filename"]))),
                     "image_path": str(resolve_inside(folder, item["filename"], f"{where}: field 'filename'")),
                     "captions": captions, "split": split})
    return rows


def load_hub_captions(hub_id: str, val_size: int) -> tuple[dict[str, list[dict]], str]:
    """Splits of a hub set with an ``image`` and a captions column (captions, sentences, caption or text)."""
    ds = load_hub(hub_id)
    rows = []
    for split in ds:
        column = next((c for c in ("captions", "sentences", "caption", "text") if c in ds[split].column_names), None)
        if column is None or "image" not in ds[split].column_names:
            raise ValueError(f"{hub_id}: split {split!r} needs an 'image' and a captions column")
        name = {"validation": "val", "restval": "train"}.get(split, split)
        for i, item in enumerate(ds[split]):
            image = item["image"].convert("RGB")
            rows.append({"id": f"{name}-{i}", "image": vision.encode_png(image), "split": name,
                         "captions": check_captions(item[column], f"{hub_id}[{split}][{i}]")})
    return by_split(rows, val_size), fingerprint_params(hub=hub_id, fp=next(iter(ds.values()))._fingerprint)


class CaptionCycle(torch.utils.data.Dataset):
    """Training view: item ``epoch * N + i`` is image i with its reference of that epoch (a seeded cycle)."""

    def __init__(self, rows: list[dict], seed: int) -> None:
        self.rows, self.seed = rows, seed

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int) -> dict:
        epoch, index = divmod(int(key), len(self.rows))
        row = self.rows[index]
        order = random.Random(self.seed * 1_000_003 + index).sample(range(len(row["captions"])), len(row["captions"]))
        return {**row, "caption": row["captions"][order[epoch % len(order)]]}


class EpochSampler(BaseEpochSampler):
    """Shuffles ``N`` items per epoch (seeded by seed and epoch); yields ``epoch * N + i`` keys (``CaptionCycle``)."""

    def order(self, epoch: int) -> list[int]:
        return [epoch * self.size + i for i in self.permutation(self.seed * 7919 + epoch)]

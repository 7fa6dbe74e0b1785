"""Report data: the generated chest-phantom set, R2Gen IU X-Ray folders and MIMIC-CXR-style CSVs as rows
(``id``, ``image`` PNG bytes or ``image_path``, ``indication``, ``report``)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tasks.core import vision
from tasks.core.data import require_file
from tasks.core.inputs import read_text, resolve_inside
from tasks.core.own_data import split_name
from tasks.core.seq2seq_task import by_split
from tasks.generators import chest_phantom

PHANTOM_SIZES = {"train": 3000, "val": 200, "test": 400}
PHANTOM_SEED = 20261201  # the data seed: fixed, independent of the training seed
CSV_COLUMNS = {"image_path": ("image_path", "path", "image", "dicom_path"), "report": ("report", "findings", "text"),
               "split": ("split",), "indication": ("indication",), "id": ("id", "study_id", "dicom_id")}


def generate_phantoms() -> dict[str, list[dict]]:
    """The chest-phantom splits (``PHANTOM_SIZES``), each from its own seed; films stored grey (one channel)."""
    rows = {}
    for offset, (split, size) in enumerate(PHANTOM_SIZES.items()):
        films = chest_phantom.generate(size, seed=PHANTOM_SEED + offset)
        rows[split] = [{"id": f"{split}-{i}", "image": vision.encode_png(f["image"][:, :, 0]),  # grey: one channel
                        "indication": f["indication"], "report": f["report"]} for i, f in enumerate(films)]
    return rows


def check_report(value: Any, where: str) -> str:
    """``value`` stripped; a ``ValueError`` naming ``where`` when it is not a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: empty or missing report")
    return value.strip()


def read_iu_xray(root: Path) -> dict[str, list[dict]]:
    """Splits of an R2Gen ``annotation.json``; images resolved under ``root/images``."""
    path = require_file(root / "annotation.json", "R2Gen annotation.json with train/val/test lists")
    try:
        annotation = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    splits = {}
    for split in ("train", "val", "test"):
        if not isinstance(annotation.get(split), list):
            raise ValueError(f"{path}: missing list '{split}'")
        rows = []
        for index, item in enumerate(annotation[split]):
            where = f"{path}: {split}[{index}]"
            paths = item.get("image_path") if isinstance(item, dict) else None
            if not isinstance(paths, list) or not paths:
                raise ValueError(f"{where}: 'image_path' must be a non-empty list")
            image = resolve_inside(root / "images", paths[0], f"{where}: image_path[0]")
            rows.append({"id": str(item.get("id", f"{split}-{index}")), "image_path": str(image),
                         "indication": "", "report": check_report(item.get("report"), where)})
        splits[split] = rows
    return splits


def csv_path(data_dir: Path) -> Path:
    """``data_dir`` itself when it is a file, else the one ``.csv`` file inside it."""
    if data_dir.is_file():
        return data_dir
    found = sorted(data_dir.glob("*.csv"))
    if len(found) != 1:
        raise ValueError(f"{data_dir}: expected exactly one .csv file (or pass the CSV itself), found {len(found)}")
    return found[0]


def read_report_csv(path: Path, val_size: int) -> dict[str, list[dict]]:
    """Splits of a MIMIC-CXR-style CSV (image path, report/findings, split; optional indication, id)."""
    with io.StringIO(read_text(path), newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        columns = {key: next((c for c in names if c in header), None) for key, names in CSV_COLUMNS.items()}
        for key in ("image_path", "report"):
            if columns[key] is None:
                raise ValueError(f"{path}:1: missing column {key!r} (one of {', '.join(CSV_COLUMNS[key])})")
        rows = []
        for line_no, item in enumerate(reader, start=2):
            where = f"{path}:{line_no}"
            split = split_name(item.get(columns["split"]), where, f"column {columns['split']!r}") \
                if columns["split"] else None
            rows.append({"id": item[columns["id"]] if columns["id"] else f"row-{line_no}",
                         "image_path": str(resolve_inside(path.parent, item[columns["image_path"]] or "",
                                                       f"{where}: column {columns['image_path']!r}")),
                         "indication": (item.get(columns["indication"]) or "").strip() if columns["indication"] else "",
                         "report": check_report(item[columns["report"]], where), "split": split})
    return by_split(rows, val_size)

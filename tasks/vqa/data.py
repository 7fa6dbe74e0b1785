"""Data of the ``vqa`` task: question rows, images, the loaders of each benchmark and the curriculum sampler.

A question row is ``{"id", "image_index", "question", "encoding", "answer", "answers", "group"}``: ``answer`` is
the normalised single answer (the training target), ``answers`` the normalised reference answers (one, or VQAv2's
ten), ``group`` the metric group (``relational``/``nonrelational``, ``closed``/``open``, VQAv2's answer type).
Images live once per split in an ``ImageStore`` (``image_index`` points into it), so the 20 questions of a
Sort-of-CLEVR scene share one decoded (H, W, 3) uint8 array.

* ``sort-of-clevr``: ``generate_split(seed)`` (9,800 train / 200 test scenes), val carved from the train scenes
  (seeded, by scene); cached as Arrow with PNG-encoded images.
* ``vqa-rad``: the OSF release (``VQA_RAD Dataset Public.json`` + ``VQA_RAD Image Folder/``), official split:
  ``phrase_type`` test_freeform/test_para is test (451), the rest train (1,797).
* ``vqa-rad-mevf``: the ``mevf_split/`` folder (trainset.json / testset.json), the split of MEVF's published results:
  the same 451 test questions; train is the official train plus 1,267 "frame" rows, the release's templated
  rephrasings (``question_frame``), and 291 of those rephrase a test question of the same image (281 with its
  answer; 284 of the 451 test questions have one). So a vqa-rad-mevf score is not a clean test score.
* ``vqav2``: a hub id, or the official json layout (``v2_OpenEnded_mscoco_{train2014,val2014}_questions.json``,
  ``v2_mscoco_{...}_annotations.json``, ``{train2014,val2014}/COCO_<split>_<id:012d>.jpg``); val2014 is the test split.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tasks.core import data as core_data
from tasks.core.data import cached_generated, fingerprint_files, fingerprint_params, load_hub, require_file
from tasks.core.inputs import DataError, read_text, resolve_inside
from tasks.core.samplers import EpochSampler
from tasks.generators import sort_of_clevr as clevr
from tasks.vqa.normalize import normalize_exact, normalize_vqa_answer

CLEVR_SEED = 20170605  # the data seed: fixed, independent of the training seed
CLEVR_VAL_IMAGES = 200
RAD_JSON = "VQA_RAD Dataset Public.json"
RAD_IMAGES = "VQA_RAD Image Folder"
RAD_TEST_PHRASES = ("test_freeform", "test_para")


class ImageStore:
    """Images of one split by index: in-memory (H, W, 3) uint8 arrays, or files decoded and resized on first use."""

    def __init__(self, arrays: Sequence[np.ndarray] | None = None, paths: Sequence[Path] | None = None,
                 size: int = 0) -> None:
        self.arrays: list[np.ndarray | None] = list(arrays) if arrays is not None else [None] * len(paths or [])
        self.paths = list(paths or [])
        self.size = size

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int) -> np.ndarray:
        if self.arrays[index] is None:
            self.arrays[index] = load_image(self.paths[index], self.size)
        return self.arrays[index]


def load_image(path: Path, size: int) -> np.ndarray:
    """An image file as RGB (size, size, 3) uint8; a missing or corrupt file raises ``DataError`` naming it."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            return np.asarray(rgb.resize((size, size), Image.BILINEAR) if size else rgb, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path}: cannot read image ({reason})") from None


class Questions(torch.utils.data.Dataset):
    """Question rows of one split with their images: item ``i`` is the row plus ``image`` (H, W, 3) uint8."""

    def __init__(self, rows: list[dict], images: ImageStore) -> None:
        self.rows, self.images = rows, images

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        return {**row, "image": self.images[row["image_index"]]}

    def select(self, indices: Sequence[int]) -> Questions:
        """The questions at ``indices`` with the same image store (as ``datasets.Dataset.select``)."""
        return Questions([self.rows[i] for i in indices], self.images)


class WarmupSampler(EpochSampler):
    """Shuffles every epoch (seeded by seed + epoch); the first ``round(warmup_epochs × len)`` samples of the run are
    drawn from ``warmup_indices`` only (the non-relational questions of the curriculum)."""

    def __init__(self, size: int, warmup_indices: Sequence[int], warmup_epochs: float, seed: int) -> None:
        super().__init__(size, seed)
        self.warmup = list(warmup_indices)
        self.num_warmup = round(warmup_epochs * size) if self.warmup else 0

    def order(self, epoch: int) -> list[int]:
        order = self.permutation(self.seed + epoch)
        start = epoch * self.size  # position of this epoch in the run's stream of samples
        if start >= self.num_warmup:
            return order
        rounds = (start + self.size) // len(self.warmup) + 1  # warm-up passes, each a permutation seeded seed - 1 - r
        stream = [self.warmup[i] for r in range(rounds) for i in
                  torch.randperm(len(self.warmup), generator=torch.Generator().manual_seed(self.seed - 1 - r)).tolist()]
        return [stream[start + position] if start + position < self.num_warmup else order[position]
                for position in range(self.size)]


# ---------------------------------------------------------------- sort-of-clevr
def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _generate_clevr() -> dict[str, list[dict]]:
    scenes = clevr.generate_split(CLEVR_SEED)
    return {split: [{"png": _png(s["image"]), "questions": [
        {k: q[k] for k in ("question", "encoding", "answer", "relational")} for q in s["questions"]]}
        for s in items] for split, items in scenes.items()}


def load_clevr(num_images: dict[str, int] | None = None) -> tuple[dict[str, Questions], str]:
    """Sort-of-CLEVR splits (val: ``CLEVR_VAL_IMAGES`` seeded train scenes); ``num_images`` caps each split."""
    fp = fingerprint_params(generator="sort-of-clevr", version=clevr.GENERATOR_VERSION, seed=CLEVR_SEED,
                            sizes=clevr.split_sizes())
    built = cached_generated("vqa-sort-of-clevr", fp, _generate_clevr)
    train, val = core_data.hold_out(built["train"].to_list(), CLEVR_VAL_IMAGES, CLEVR_SEED)
    scenes = {"train": train, "val": val, "test": built["test"].to_list()}
    splits = {}
    for split, items in scenes.items():
        items = items[:(num_images or {}).get(split, len(items))]
        images = ImageStore([np.asarray(Image.open(io.BytesIO(s["png"])).convert("RGB")) for s in items])
        rows = [{"id": f"{split}-{i:05d}-q{j:02d}", "image_index": i, "question": q["question"],
                 "encoding": q["encoding"], "answer": q["answer"], "answers": [q["answer"]],
                 "group": "relational" if q["relational"] else "nonrelational"}
                for i, scene in enumerate(items) for j, q in enumerate(scene["questions"])]
        splits[split] = Questions(rows, images)
    return splits, fp


# ---------------------------------------------------------------- vqa-rad
def read_rad_rows(path: Path) -> list[dict]:
    """Rows of a VQA-RAD json (the OSF release or mevf_split), answers and answer types normalised."""
    try:
        items = json.loads(read_text(require_file(path, "VQA-RAD json")))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    rows = []
    for number, item in enumerate(items):
        missing = [k for k in ("image_name", "question", "answer", "answer_type") if k not in item]
        if missing:
            raise ValueError(f"{path}: row {number}: missing field {missing[0]!r}")
        group = str(item["answer_type"]).strip().lower()
        if group not in ("closed", "open"):
            raise ValueError(f"{path}: row {number}: answer_type must be CLOSED or OPEN, got {item['answer_type']!r}")
        answer = normalize_exact(str(item["answer"]))
        rows.append({"id": f"rad-{item.get('qid', number)}", "image_name": item["image_name"],
                     "question": str(item["question"]).strip(), "encoding": None, "answer": answer,
                     "answers": [answer], "group": group, "phrase_type": str(item.get("phrase_type", ""))})
    return rows


def rad_splits(root: Path, mevf: bool) -> tuple[dict[str, list[dict]], str]:
    """train/test rows of a VQA-RAD folder: the official phrase_type split, or ``mevf_split/``."""
    if mevf:
        files = [root / "mevf_split" / "trainset.json", root / "mevf_split" / "testset.json"]
        train, test = read_rad_rows(files[0]), read_rad_rows(files[1])
        for split, rows in (("train", train), ("test", test)):  # mevf repeats qids across files: keep ids unique
            for i, row in enumerate(rows):
                row["id"] = f"rad-{split}-{i}"
    else:
        files = [root / RAD_JSON]
        rows = read_rad_rows(files[0])
        test = [r for r in rows if r["phrase_type"] in RAD_TEST_PHRASES]
        train = [r for r in rows if r["phrase_type"] not in RAD_TEST_PHRASES]
    return {"train": train, "test": test}, fingerprint_files(files)


def attach_images(rows: list[dict], folder: Path, size: int) -> Questions:
    """Rows with ``image_name`` as a ``Questions`` split; each image file once, all checked to exist and to lie
    inside ``folder`` (``DataError`` naming the question otherwise)."""
    first = {}
    for row in rows:
        first.setdefault(row["image_name"], row["id"])
    paths = {name: resolve_inside(folder, name, f"{folder}: question {qid}: image_name") for name, qid in first.items()}
    names = sorted(paths)
    for name in names:
        require_file(paths[name], "an image named by the question json")
    index = {name: i for i, name in enumerate(names)}
    return Questions([{**r, "image_index": index[r["image_name"]]} for r in rows],
                     ImageStore(paths=[paths[n] for n in names], size=size))


def hold_out(rows: list[dict], fraction: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """``(kept, held)``: a seeded ``fraction`` of ``rows`` as validation (at least one row when there are two or
    more), each in row order (``tasks.core.data.hold_out``)."""
    return core_data.hold_out(rows, max(1 if len(rows) > 1 else 0, round(len(rows) * fraction)), seed)


# ---------------------------------------------------------------- vqav2
def vqav2_local_rows(root: Path, split: str) -> list[dict]:
    """Question rows of the official VQAv2 json layout for ``split`` (train2014 / val2014)."""
    questions = json.loads(read_text(require_file(root / f"v2_OpenEnded_mscoco_{split}_questions.json",
                                                  "VQAv2 questions json")))["questions"]
    annotations = json.loads(read_text(require_file(root / f"v2_mscoco_{split}_annotations.json",
                                                    "VQAv2 annotations json")))["annotations"]
    by_id = {a["question_id"]: a for a in annotations}
    rows = []
    for q in questions:
        a = by_id.get(q["question_id"])
        if a is None:
            raise ValueError(f"{root}: question {q['question_id']} has no annotation")
        rows.append({"id": f"vqav2-{q['question_id']}", "image_name": f"{split}/COCO_{split}_{q['image_id']:012d}.jpg",
                     "question": q["question"], "encoding": None,
                     "answer": normalize_vqa_answer(a["multiple_choice_answer"]),
                     "answers": [normalize_vqa_answer(x["answer"]) for x in a["answers"]], "group": a["answer_type"]})
    return rows


def hub_splits(hub_id: str, size: int, rad: bool) -> tuple[dict[str, Questions], str]:
    """A hub copy: VQAv2 (question, image, multiple_choice_answer, answers[].answer, answer_type; test = validation)
    or VQA-RAD (``rad``: question, image, answer; test = test; closed = a yes/no answer, as papers group it)."""
    ds = load_hub(hub_id)
    normalize = normalize_exact if rad else normalize_vqa_answer
    splits = {}
    for split, source in (("train", "train"), ("test", "test" if "test" in ds else "validation")):
        rows, arrays = [], []
        for i, item in enumerate(ds[source]):
            arrays.append(np.asarray(item["image"].convert("RGB").resize((size, size)), dtype=np.uint8))
            answer = normalize(str(item.get("multiple_choice_answer", item.get("answer"))))
            answers = [normalize(a["answer"]) for a in item["answers"]] if "answers" in item else [answer]
            group = ("closed" if answer in ("yes", "no") else "open") if rad else item.get("answer_type", "other")
            rows.append({"id": f"{split}-{item.get('question_id', i)}", "image_index": i, "question": item["question"],
                         "encoding": None, "answer": answer, "answers": answers, "group": group})
        splits[split] = Questions(rows, ImageStore(arrays))
    return splits, fingerprint_params(hub=hub_id, fp=ds["train"]._fingerprint)

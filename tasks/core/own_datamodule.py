"""The fine-tuning LightningDataModule of ``zoo fit|validate|test|predict``: your data (or the built-in data) for one
task, with simple typed init arguments that ``LightningCLI`` parses.

It reads and splits the data (``tasks/core/own_data.py``), turns rows into the task's examples (the task's
``finetune.ADAPTER``) and hands them to the task's own ``DataModule``, whose collate function and samplers it uses.
The tokenizer and label set come from the model (``module.data_info``: built from this data's train split for
``fit``, read from the checkpoint otherwise), so evaluation and prediction encode exactly as training did.

Before any step, every image and audio file the examples name is checked (``file_checks``: a bad one is a one-line
error naming its row), and the run logs the split sizes it uses, and any cap (``max_examples``: a seeded sample).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from tasks import TASKS, get_finetune
from tasks.core.file_checks import check_files
from tasks.core.inputs import DataError
from tasks.core.own_data import carve, check_unique_ids, hub_rows, listed_files, parse_columns, table_rows
from tasks.core.resume import resumable

LOG = logging.getLogger(__name__)
CAP_SALT = {"train": 3, "val": 4, "test": 5}  # each split's sample draws from its own seed


class OwnData(pl.LightningDataModule):
    """Data of one task; subclasses set ``TASK``."""

    TASK = ""

    def __init__(self, path: str | None = None, train: str | None = None, val: str | None = None,
                 test: str | None = None, predict: list[str] | None = None, columns: str | dict[str, str] | None = None,
                 split_column: str = "split", val_fraction: float = 0.1, test_fraction: float = 0.1,
                 split_seed: int = 0, max_examples: int | None = None, batch_size: int = 16, num_workers: int = 0,
                 seed: int = 0) -> None:
        """Where the examples come from and how they are batched.

        Args:
            path: a data file, a folder (the task's annotation file, or train/val/test tables) or hub:OWNER/NAME;
                unset: the task's built-in generated data.
            train: a train table (with val/test: one file per split; overrides path).
            val: a validation table.
            test: a test table.
            predict: files or folders to predict (zoo predict).
            columns: our field names mapped to your columns, e.g. "text=review,label=stars".
            split_column: the column holding train/val/test when one table holds every split.
            val_fraction: share of train carved out as validation when the data has no val split.
            test_fraction: share of train carved out as test when the data has no test split.
            split_seed: the seed of that carving (the same seed gives the same splits).
            max_examples: keep at most this many examples per split (small, quick runs): a sample drawn with
                split_seed, in file order; a capped split is logged.
            batch_size: examples per batch (per device).
            num_workers: DataLoader worker processes.
            seed: the shuffle seed of the training order.
        """
        super().__init__()
        if batch_size < 1 or (max_examples is not None and max_examples < 1):
            raise ValueError("data.batch_size and data.max_examples must be at least 1")
        self.path, self.files = path, {"train": train, "val": val, "test": test}
        self.predict_paths = list(predict or [])
        self.columns = parse_columns(columns)
        self.split_column, self.split_seed = split_column, split_seed
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.max_examples, self.batch_size, self.num_workers, self.seed = max_examples, batch_size, num_workers, seed
        self.adapter = get_finetune(self.TASK).ADAPTER
        self.inner: Any = None  # the task's own DataModule, which collates and samples
        self._splits: dict[str, Any] | None = None

    # ------------------------------------------------------------ loading
    def load(self, config: Any) -> dict[str, Any]:
        """Train/val/test examples in the task's own form (loaded once; the sizes are logged then).

        Own data is read, split (carved where a split is missing), capped by ``max_examples`` and its files checked
        (``file_checks``) before the task turns it into its own form, so a bad file fails here, before training."""
        if self._splits is None:
            if self._builtin:
                self._splits = {split: self._cap(split, data) for split, data in self.adapter.builtin(config).items()}
                LOG.info(f"zoo: data built-in ({self.TASK}): {_sizes(self._splits)} examples")
                return self._splits
            pairs, read, carved = self._examples(config)
            pairs = {split: self._cap(split, items) for split, items in pairs.items()}
            check_files([item for items in pairs.values() for item in items], f"{self._name()} files")
            self._splits = self.adapter.assemble({split: [example for _, example in items]
                                                  for split, items in pairs.items()}, config)
            note = f"; {' and '.join(carved)} carved from train with data.split_seed {self.split_seed}" \
                if carved else ""
            LOG.info(f"zoo: data {self._name()}: {_sizes(pairs)} examples (read {_count(read, 'row')}{note})")
        return self._splits

    @property
    def _builtin(self) -> bool:
        return self.path is None and not any(self.files.values())

    def _name(self) -> str:
        """The data as the user named it (path, hub id or train file)."""
        return str(self.path or self.files["train"] or "the data")

    def _cap(self, split: str, data: Any) -> Any:
        """``data`` capped at ``max_examples``, a seeded sample (logged: a capped run says so)."""
        if self.max_examples is None or len(data) <= self.max_examples:
            return data
        LOG.info(f"zoo: {split} capped at {self.max_examples} of {len(data)} examples "
                 f"(data.max_examples, sampled with data.split_seed {self.split_seed})")
        return _cap(data, self.max_examples, self.split_seed * 1000 + CAP_SALT.get(split, 0))

    def _examples(self, config: Any) -> tuple[dict[str, list[tuple[str, dict]]], int, list[str]]:
        """``(where, example)`` pairs by split, each split's ids unique (rows without a split go to train; then
        carving), the number of rows read and the splits carved. ``where`` names the row (``file:line``) for the
        errors of the file checks; the examples themselves are the task's own dicts."""
        source = self._name()
        native = self.adapter.native_examples(self.path, self.columns, self.files)
        if native is not None:
            annotation = Path(source) / self.adapter.annotation[0] if self.adapter.annotation else Path(source)
            pairs = {}
            for split, examples in native.items():
                wheres = [f"{annotation}: {split} example {n} (id {e['id']!r})" for n, e in enumerate(examples, 1)]
                check_unique_ids(examples, wheres, split)
                pairs[split] = list(zip(wheres, examples, strict=True))
        else:
            if self.path and self.path.startswith("hub:"):
                raw = hub_rows(self.path[4:])
            else:
                if self.path is not None and not Path(self.path).exists():
                    raise FileNotFoundError(f"{self.path}: data file or folder not found")
                raw, _ = table_rows(Path(self.path or "."), self.adapter.annotation, self.split_column, self.files)
            unsplit = raw.pop(None, [])
            raw["train"] = raw.get("train", []) + unsplit
            pairs = {}
            for split, rows in raw.items():
                examples = [self.adapter.example(r, r["_root"], self.columns, config) for r in rows]
                check_unique_ids(examples, [r["_where"] for r in rows], split)
                pairs[split] = [(r["_where"], e) for r, e in zip(rows, examples, strict=True)]
        read = sum(len(items) for items in pairs.values())
        carved = [split for split, fraction in (("val", self.val_fraction), ("test", self.test_fraction))
                  if not pairs.get(split) and fraction > 0]
        return carve(pairs, self.val_fraction, self.test_fraction, self.split_seed, source), read, carved

    def data_info(self, config: Any) -> dict[str, Any]:
        """What the model needs from the data: ``source`` (``builtin`` or ``own``), the tokenizer and label set /
        answers / feature statistics of train (a label set of fewer than two labels is an error naming the data,
        before any model is built)."""
        kind = "builtin" if self._builtin else "own"
        info = {"task": self.TASK, "source": kind, **self.adapter.info(config, self.load(config)["train"])}
        labels = info.get("labels")
        if labels is not None and len(labels) < 2:
            source = self.files["train"] or self.path or "the built-in data"
            raise DataError(f"{source}: the train split has {len(labels)} label(s) {list(labels)}; "
                            "a classifier needs at least 2")
        return info

    # ------------------------------------------------------------ Lightning hooks
    def setup(self, stage: str | None = None) -> None:
        module = self.trainer.lightning_module
        self.inner = TASKS[self.TASK].DataModule(module.config, seed=self.seed, num_workers=self.num_workers)
        self.inner.batch_size = self.batch_size
        if stage == "predict":
            if not self.predict_paths:
                raise ValueError("zoo predict needs inputs: --data.predict PATH [PATH ...] (files or folders)")
            files = listed_files(self.predict_paths, self.adapter.predict_suffixes,
                                 images=self.adapter.predict_images)
            examples = self.adapter.predict_examples(files, self.columns, module.config)
            if isinstance(examples, list):  # file examples (images); tables and audio are read by predict_examples
                check_files([("data.predict", example) for example in examples], "predict files")
            splits = {"predict": examples}
            LOG.info(f"zoo: predict: {_count(len(examples), 'input')} from {_count(len(files), 'file')}")
        else:
            splits = self.load(module.config)
        self.adapter.install(self.inner, splits, module.data_info)
        if stage != "predict":
            where = self.path or self.files["train"] or "built-in data"
            self.adapter.check_eval(self.inner, splits, {s: self.files.get(s) or where for s in splits})

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        """The task's train loader, resumable mid-epoch (its shuffle position is saved in ``last.ckpt``)."""
        return resumable(self.inner.train_dataloader())

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self.inner.val_dataloader()

    def test_dataloader(self) -> torch.utils.data.DataLoader:
        return self.inner.test_dataloader()

    def predict_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(self.inner.splits["predict"], batch_size=self.batch_size,
                                           collate_fn=self.inner.collate, num_workers=self.num_workers)


def _cap(data: Any, limit: int, seed: int) -> Any:
    """``limit`` examples of a split drawn with ``seed`` (the same seed, the same subset), kept in their order: a
    list, or anything with ``select`` (``datasets.Dataset``, the vqa ``Questions``). A sample, not the head: files are
    often sorted (by class, by source), and their first rows are no fair subset."""
    if len(data) <= limit:
        return data
    kept = sorted(random.Random(seed).sample(range(len(data)), limit))
    if hasattr(data, "select"):
        return data.select(kept)
    return [data[i] for i in kept]


def _sizes(splits: dict[str, Any]) -> str:
    """``train 8737, val 1092, test 1093``."""
    return ", ".join(f"{split} {len(data)}" for split, data in splits.items())


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"

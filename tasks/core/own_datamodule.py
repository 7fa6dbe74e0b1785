"""The fine-tuning LightningDataModule of ``zoo fit|validate|test|predict``: your data (or the built-in data) for one
task, with simple typed init arguments that ``LightningCLI`` parses.

It reads and splits the data (``tasks/core/own_data.py``), turns rows into the task's examples (the task's
``finetune.ADAPTER``) and hands them to the task's own ``DataModule``, whose collate function and samplers it uses.
The tokenizer and label set come from the model (``module.data_info``: built from this data's train split for
``fit``, read from the checkpoint otherwise), so evaluation and prediction encode exactly as training did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from tasks import TASKS, get_finetune
from tasks.core.inputs import DataError
from tasks.core.own_data import carve, check_unique_ids, hub_rows, listed_files, parse_columns, table_rows
from tasks.core.resume import resumable


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
            max_examples: keep at most this many examples per split (small, quick runs).
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
        """Train/val/test examples in the task's own form (loaded once)."""
        if self._splits is None:
            if self.path is None and not any(self.files.values()):
                splits = self.adapter.builtin(config)
            else:
                splits = self.adapter.assemble(self._examples(config), config)
            self._splits = {split: _cap(data, self.max_examples) for split, data in splits.items()}
        return self._splits

    def _examples(self, config: Any) -> dict[str, list[dict]]:
        """Examples by split, each split's ids unique (rows without a split go to train; then carving)."""
        source = str(self.path or self.files["train"] or "the data")
        native = self.adapter.native_examples(self.path, self.columns, self.files)
        if native is not None:
            for split, examples in native.items():
                check_unique_ids(examples, [f"{source}: {split} example {n}" for n in range(1, len(examples) + 1)],
                                 split)
            return carve(native, self.val_fraction, self.test_fraction, self.split_seed, source)
        if self.path and self.path.startswith("hub:"):
            raw = hub_rows(self.path[4:])
        else:
            if self.path is not None and not Path(self.path).exists():
                raise FileNotFoundError(f"{self.path}: data file or folder not found")
            raw, _ = table_rows(Path(self.path or "."), self.adapter.annotation, self.split_column, self.files)
        unsplit = raw.pop(None, [])
        raw["train"] = raw.get("train", []) + unsplit
        examples = {}
        for split, rows in raw.items():
            examples[split] = [self.adapter.example(r, r["_root"], self.columns, config) for r in rows]
            check_unique_ids(examples[split], [r["_where"] for r in rows], split)
        return carve(examples, self.val_fraction, self.test_fraction, self.split_seed, source)

    def data_info(self, config: Any) -> dict[str, Any]:
        """What the model needs from the data: ``source`` (``builtin`` or ``own``), the tokenizer and label set /
        answers / feature statistics of train (a label set of fewer than two labels is an error naming the data,
        before any model is built)."""
        kind = "builtin" if self.path is None and not any(self.files.values()) else "own"
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
            splits = {"predict": self.adapter.predict_examples(files, self.columns, module.config)}
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


def _cap(data: Any, limit: int | None) -> Any:
    """The first ``limit`` examples of a split (a list, ``Questions`` or a ``datasets.Dataset``)."""
    if limit is None or len(data) <= limit:
        return data
    if hasattr(data, "select"):
        return data.select(range(limit))
    return data[:limit]

"""The task contract shared by every task.

A task is one package (``tasks/<task>/``) whose ``__init__.py`` has the same names:

* ``Config``     – a frozen dataclass: data source, model preset, optimisation (``Optim``);
* presets        – ``tiny()`` (tests, the ``smoke`` recipe), ``quick()``, ``standard()``, ``gpu()``;
* ``DataModule`` – a ``TaskDataModule``: builds the splits, the tokenizer and the collate function;
* ``Module``     – a ``TaskModule``: writes ``step(batch, stage)`` and the metrics;
* ``SPEC``       – a ``TaskSpec``: name, version, benchmarks, primary metric and its direction;
* ``score_predictions(rows)`` – the test metrics recomputed from the per-example prediction rows
  (``id``, ``prediction``, ``reference``, ``score``) that ``TaskModule.add_predictions`` collects; it must give
  exactly the metrics the run recorded (``zoo score``). Optional hook ``sample_input(example)`` →
  ``{"text" | "image" | "transcript": str}`` (images as ``data:image/png;base64,...``) for the HTML gallery.

Every batch uses one vocabulary, ``BATCH_KEYS``, declared with types and shapes in ``tasks/core/batch.py``
(``check_batch`` checks a batch against it).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from tasks.core.batch import BATCH_KEYS as BATCH_KEYS, check_batch as check_batch  # re-exported
from zoo import MultimodalModel

RECIPES = ("smoke", "quick", "standard", "gpu")
STAGES = ("train", "val", "test")


@dataclass(frozen=True)
class Benchmark:
    """A dataset a task is measured on; a recipe (smoke, quick, standard, gpu) is the task's preset of that name."""

    name: str
    split: str = "test"  # the split whose metrics the record reports
    builtin: bool = False  # generated offline: needs no data dir
    data_hint: str = ""  # what --data-dir should point at, described by the dataset's release layout
    target: float | None = None  # time-to-target threshold for the primary metric on validation


@dataclass(frozen=True)
class TaskSpec:
    """What the harness and the leaderboard need to know about a task."""

    name: str
    version: str
    description: str
    benchmarks: tuple[Benchmark, ...]  # the first one is the built-in (generated) benchmark
    primary_metric: str
    higher_is_better: bool
    metrics: tuple[str, ...]
    models: tuple[str, ...] = ("zoo",)  # "zoo" is the shared backbone; others are reference models

    def __post_init__(self) -> None:
        if not self.benchmarks or not self.benchmarks[0].builtin:
            raise ValueError(f"{self.name}: the first benchmark must be the built-in (generated) one")
        if self.primary_metric not in self.metrics:
            raise ValueError(f"{self.name}: primary metric {self.primary_metric!r} is not in metrics")

    @property
    def benchmark_names(self) -> tuple[str, ...]:
        """The benchmarks' names, the built-in one first."""
        return tuple(b.name for b in self.benchmarks)

    def benchmark(self, name: str | None) -> Benchmark:
        """The benchmark ``name`` (the built-in one when None); ``ValueError`` listing the known names otherwise."""
        if name is None:
            return self.benchmarks[0]
        for bench in self.benchmarks:
            if bench.name == name:
                return bench
        raise ValueError(f"unknown benchmark {name!r} for task {self.name!r} "
                         f"(known: {', '.join(self.benchmark_names)})")


@dataclass(frozen=True)
class Optim:
    """Optimisation settings shared by every task: AdamW, linear warm-up, cosine decay to 10%."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    batch_size: int = 64
    max_epochs: int = 3
    max_steps: int = -1  # -1: run max_epochs
    grad_clip: float = 1.0
    val_every_n_epochs: int = 1  # `zoo bench` validates after every n-th epoch (Lightning's check_val_every_n_epoch)

    def __post_init__(self) -> None:
        for name in ("lr", "batch_size", "val_every_n_epochs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"optim.{name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"optim.warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if self.max_epochs < 1 and self.max_steps < 1:
            raise ValueError("optim.max_epochs or optim.max_steps must be at least 1")


OMIT_AT_DEFAULT = "omit_at_default"  # dataclass field metadata key, set by ``optional_field``


def optional_field(default: Any) -> Any:
    """A Config field left out of ``config_to_dict`` while it holds ``default``: adding one changes no earlier
    record's config or config hash, and a record that sets it names the value."""
    return dataclasses.field(default=default, metadata={OMIT_AT_DEFAULT: True})


def config_to_dict(config: Any) -> Any:
    """A task Config (nested frozen dataclasses) as a JSON-serialisable dict, without the ``optional_field``
    fields that hold their default."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)
                if not (f.metadata.get(OMIT_AT_DEFAULT) and getattr(config, f.name) == f.default)}
    if isinstance(config, Mapping):
        return {k: config_to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return type(config)(config_to_dict(v) for v in config)
    return copy.deepcopy(config)


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a task Config from ``config_to_dict`` output; unknown fields raise ``ValueError``.

    A field the Config no longer has but older records and checkpoints hold is listed in the class's
    ``RETIRED_FIELDS`` (name → (the value that behaves as today, what replaced the others)): with that value it is
    dropped, with another it raises ``ValueError`` naming the replacement."""
    values = dict(data)
    for name, (kept, replacement) in getattr(cls, "RETIRED_FIELDS", {}).items():
        if name in values:
            if values[name] != kept:
                raise ValueError(f"{name}: retired config field ({values[name]!r}: {replacement})")
            del values[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown config field(s) for {cls.__name__}: {', '.join(unknown)}")
    if isinstance(values.get("optim"), Mapping):
        values["optim"] = config_from_dict(Optim, values["optim"])
    return cls(**values)


class TaskModule(pl.LightningModule):
    """Base LightningModule: subclasses write ``step(batch, stage) -> loss`` and ``compute_metrics``.

    Training, validation and test hooks all route to ``step``; evaluation metrics are accumulated
    by the subclass (torchmetrics, synchronised across processes) and logged at epoch end.
    """

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.predictions: list[dict] = []  # test predictions of this process: id, prediction, reference, score
        self._recalibrated_at = -1  # global step of the last ``recalibrate_norms`` from a training hook

    def add_predictions(self, ids: list[str], predictions: list[Any], references: list[Any],
                        scores: list[float]) -> None:
        """Keep per-example test outputs (``score``: the example's own metric, e.g. 1.0 if correct)."""
        for row in zip(ids, predictions, references, scores, strict=True):
            self.predictions.append(dict(zip(("id", "prediction", "reference", "score"), row)))

    def on_test_epoch_start(self) -> None:
        self.predictions = []

    def step(self, batch: Mapping[str, Any], stage: str) -> torch.Tensor:
        raise NotImplementedError

    def compute_metrics(self, stage: str) -> dict[str, float]:
        """Metrics accumulated over the ``stage`` epoch; resets the accumulators."""
        raise NotImplementedError

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.step(batch, "train")
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss {loss.item()} at step {self.global_step}, batch {batch_idx}"
                f" (ids {list(batch.get('id', []))[:4]}...)"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size_of(batch))
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        trainer = self.trainer
        if batch_idx + 1 == trainer.num_training_batches or 0 < trainer.max_steps <= trainer.global_step:
            self.recalibrate_norms()  # before the epoch's validation, its checkpoint, and a test after fit
            self._recalibrated_at = trainer.global_step

    def on_validation_epoch_start(self) -> None:
        if self._recalibrated_at != self.global_step:  # a validation inside an epoch (``val_check_interval``)
            self.recalibrate_norms()

    def recalibrate_norms(self) -> None:
        """Recompute the normalisation statistics a backbone keeps from its last training inputs
        (``MultimodalModel.recalibrate``) with the current weights, averaged over processes; nothing for networks
        without them. Running statistics are not used in training, so this changes evaluation only."""
        buffers = [buffer for module in self.modules() if isinstance(module, MultimodalModel)
                   for buffer in module.recalibrate()]
        if buffers and self.trainer.world_size > 1:
            for buffer in buffers:
                buffer.copy_(self.trainer.strategy.reduce(buffer, reduce_op="mean"))

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self.step(batch, "val")

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self.step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def _log_metrics(self, stage: str) -> None:
        for name, value in self.compute_metrics(stage).items():
            self.log(f"{stage}/{name}", float(value), prog_bar=(stage == "val"), sync_dist=False)

    def configure_optimizers(self) -> Any:
        optim: Optim = self.config.optim
        decay, no_decay = [], []
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            (no_decay if param.ndim < 2 or "norm" in name or "bias" in name else decay).append(param)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=optim.lr,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, optim.warmup_fraction))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def warmup_cosine(total_steps: int, warmup_fraction: float, floor: float = 0.1) -> Callable[[int], float]:
    """LR multiplier: linear warm-up over ``warmup_fraction`` of the steps, then cosine down to ``floor``."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def batch_size_of(batch: Mapping[str, Any]) -> int:
    """Examples in a batch: the first dimension of its label, text, image, audio or target, else its ids."""
    for key in ("label", "text", "image", "audio", "target"):
        if key in batch and hasattr(batch[key], "shape"):
            return int(batch[key].shape[0])
    return len(batch.get("id", [])) or 1


def loader_settings(cuda: bool | None = None, cpus: int | None = None) -> tuple[int, bool]:
    """``(num_workers, pin_memory)`` for a device: with CUDA, up to 8 workers (half the cores) and pinned
    memory, so batches are prepared and copied while the GPU computes; on CPU only, no workers with at most
    2 cores (a worker would take a core from the model), else 1 (up to 8 cores) or 2."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    if cuda:
        return min(8, max(1, cpus // 2)), True
    return (0 if cpus <= 2 else 1 if cpus <= 8 else 2), False


class TaskDataModule(pl.LightningDataModule):
    """Base DataModule: subclasses fill ``self.splits`` (stage → sequence of examples) in ``setup``
    and implement ``collate``. Loaders are deterministic: the shuffle generator is seeded.

    ``num_workers=None`` chooses workers and pinned memory by device (``loader_settings``); a number keeps
    that many workers and pins memory only when CUDA is available. Loaders take ``loader_kwargs()``.
    """

    def __init__(self, batch_size: int, seed: int = 0, num_workers: int | None = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.seed = seed
        auto_workers, self.pin_memory = loader_settings()
        self.num_workers = auto_workers if num_workers is None else num_workers
        self.splits: dict[str, Any] = {}

    def loader_kwargs(self) -> dict[str, Any]:
        """``num_workers``, ``persistent_workers`` and ``pin_memory`` for this module's DataLoaders."""
        return {"num_workers": self.num_workers, "persistent_workers": self.num_workers > 0,
                "pin_memory": self.pin_memory}

    def collate(self, examples: list[dict]) -> dict[str, Any]:
        raise NotImplementedError

    def module_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments the task's ``Module`` needs from the data (label sets, vocabularies)."""
        return {}

    def _loader(self, stage: str, shuffle: bool) -> DataLoader:
        if stage not in self.splits:
            raise RuntimeError(f"DataModule.setup() has not built the {stage!r} split")
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            self.splits[stage],
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=generator,
            collate_fn=self.collate,
            **self.loader_kwargs(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class ConfigDataModule(TaskDataModule):
    """A task's DataModule built from its Config (batch size from ``config.optim``); ``setup`` fills ``tokenizer``
    and ``fingerprint`` (the data's identity, recorded with every run)."""

    def __init__(self, config: Any, seed: int = 0, num_workers: int | None = 0) -> None:
        super().__init__(config.optim.batch_size, seed, num_workers)
        self.config = config
        self.tokenizer: Any = None
        self.fingerprint = ""

"""Run one benchmark: seed, train with the recipe, checkpoint each epoch, test, write one record.

A run either ends with a validated record appended to the leaderboard or writes none: a failure
anywhere (bad data, NaN loss, a kill) leaves no partial record behind.
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from benchmarks import environment
from benchmarks.definitions import Benchmark, check_recipe, get_benchmark
from leaderboard.schema import config_hash
from leaderboard.store import DEFAULT_DIR, append_record
from tasks import get_task


@dataclass(frozen=True)
class RunOptions:
    """One benchmark run: what to train, where, and where its outputs go."""

    task: str
    benchmark: str | None = None  # None: the task's built-in benchmark
    recipe: str = "quick"
    seed: int = 0
    data_dir: str | None = None
    model: str = "zoo"  # "zoo" (shared backbone) or a reference model the task offers
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    resume: bool = False
    records_dir: Path = DEFAULT_DIR
    runs_dir: Path = Path("runs")
    progress_bar: bool = True
    overrides: dict = field(default_factory=dict)  # Config field overrides (tests, experiments)


class RunMeter(pl.Callback):
    """Measures training throughput (samples/s over training batches only) and time to target."""

    def __init__(self, primary_metric: str, target: float | None, higher_is_better: bool) -> None:
        self.primary_metric, self.target, self.higher_is_better = primary_metric, target, higher_is_better
        self.train_seconds = 0.0
        self.train_samples = 0
        self.fit_start = 0.0
        self.time_to_target: tuple[float, int] | None = None
        self._batch_start = 0.0

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.fit_start = time.perf_counter()

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, out: Any, batch: Any,
                           idx: int) -> None:
        self.train_seconds += time.perf_counter() - self._batch_start
        self.train_samples += _count(batch) * trainer.world_size

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(f"val/{self.primary_metric}")
        if self.target is None or value is None or self.time_to_target is not None or trainer.sanity_checking:
            return
        reached = value >= self.target if self.higher_is_better else value <= self.target
        if reached:
            self.time_to_target = (time.perf_counter() - self.fit_start, trainer.global_step)


def _count(batch: Any) -> int:
    for key in ("label", "text", "image", "audio", "target"):
        if key in batch and hasattr(batch[key], "shape"):
            return int(batch[key].shape[0])
    return len(batch["id"])


def build_config(options: RunOptions, bench: Benchmark) -> Any:
    """The task Config for this run: the recipe's preset, plus data dir and overrides."""
    task = get_task(options.task)
    config = task.PRESETS[check_recipe(options.recipe)](bench.name, options.model)
    changes: dict[str, Any] = dict(options.overrides)
    if options.data_dir is not None:
        changes["data_dir"] = str(options.data_dir)
    return dataclasses.replace(config, **changes) if changes else config


def run_benchmark(options: RunOptions) -> dict:
    """Train and test one (task, benchmark, recipe, seed); append and return the record."""
    started = time.perf_counter()
    task = get_task(options.task)
    bench = get_benchmark(options.task, options.benchmark)
    if options.model not in task.SPEC.models:
        raise ValueError(f"unknown model {options.model!r} for task {options.task!r} "
                         f"(known: {', '.join(task.SPEC.models)})")
    if not bench.builtin and not options.data_dir:
        raise ValueError(f"benchmark {bench.name!r} needs --data-dir: {bench.data_hint}")
    config = build_config(options, bench)
    pl.seed_everything(options.seed, workers=True, verbose=False)
    datamodule = task.DataModule(config, seed=options.seed)
    datamodule.setup("fit")
    module = task.Module(config, datamodule.tokenizer.to_dict(), **datamodule.module_kwargs())
    model_name = f"zoo-{config.preset}" if options.model == "zoo" else options.model
    run_dir = options.runs_dir / options.task / bench.name / options.recipe / f"{model_name}-s{options.seed}"
    ckpt_dir = run_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if not options.resume and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    meter = RunMeter(task.SPEC.primary_metric, bench.target, task.SPEC.higher_is_better)
    trainer = _trainer(options, config, run_dir, meter)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if options.resume and last.exists() else None)
    results = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    metrics = {k.split("/", 1)[1]: float(v) for k, v in results.items() if k.startswith("test/")}
    record = _record(options, bench, task.SPEC, config, module, datamodule, trainer, meter, metrics, model_name,
                     wall_seconds=time.perf_counter() - started)
    if trainer.is_global_zero:
        append_record(record, options.records_dir)
    return record


def _trainer(options: RunOptions, config: Any, run_dir: Path, meter: RunMeter) -> pl.Trainer:
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0,
                                              every_n_epochs=1)
    on_cpu = options.accelerator == "cpu" or (options.accelerator == "auto" and not torch.cuda.is_available())
    return pl.Trainer(
        accelerator=options.accelerator, devices=options.devices, num_nodes=options.num_nodes,
        strategy=options.strategy, precision=options.precision, max_epochs=config.optim.max_epochs,
        max_steps=config.optim.max_steps, gradient_clip_val=config.optim.grad_clip,
        deterministic=True if on_cpu else "warn", callbacks=[checkpoint, meter], logger=False,
        default_root_dir=run_dir, enable_model_summary=False, num_sanity_val_steps=0,
        enable_progress_bar=options.progress_bar, log_every_n_steps=10,
    )


def _record(options: RunOptions, bench: Benchmark, spec: Any, config: Any, module: Any, datamodule: Any,
            trainer: pl.Trainer, meter: RunMeter, metrics: dict[str, float], model_name: str,
            wall_seconds: float) -> dict:
    config_dict = dataclasses.asdict(config)
    commit, dirty = environment.git_state()
    now = datetime.now(timezone.utc)
    accelerator = "cuda" if trainer.accelerator.__class__.__name__.lower().startswith("cuda") else "cpu"
    record = {
        "id": f"{spec.name}-{bench.name}-{options.recipe}-{model_name}-s{options.seed}-"
              f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}",
        "task": spec.name, "task_version": spec.version, "model": model_name, "benchmark": bench.name,
        "split": bench.split, "data_fingerprint": datamodule.fingerprint, "recipe": options.recipe,
        "config": config_dict, "config_hash": config_hash(config_dict), "seed": options.seed,
        "metrics": metrics, "primary_metric": spec.primary_metric, "higher_is_better": spec.higher_is_better,
        "steps": int(trainer.global_step), "epochs": int(trainer.current_epoch),
        "wall_seconds": round(wall_seconds, 3),
        "train_samples_per_second": round(meter.train_samples / max(meter.train_seconds, 1e-9), 3),
        "peak_memory_mb": round(environment.peak_memory_mb(accelerator), 1),
        "num_parameters": sum(p.numel() for p in module.net.parameters()),
        "num_test_examples": len(datamodule.splits["test"]),
        "device": environment.device_info(accelerator, trainer.world_size),
        "precision": str(trainer.precision), "versions": environment.package_versions(),
        "git_commit": commit, "git_dirty": dirty, "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_to_target_seconds": round(meter.time_to_target[0], 3) if meter.time_to_target else None,
        "time_to_target_step": meter.time_to_target[1] if meter.time_to_target else None,
    }
    samples = getattr(module, "samples", None)
    if samples:
        record["samples"] = samples[:20]
    return record

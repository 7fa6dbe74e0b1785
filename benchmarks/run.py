"""Run one benchmark: seed, train with the recipe, checkpoint, test, write one record.

``last.ckpt`` is written at each epoch's end and every ``checkpoint_every_n_steps`` steps inside an epoch, with
the data position and RNG states (``tasks.core.resume``), so ``--resume`` after a kill ends with the metrics of an
uninterrupted run. The checkpoint is loaded with ``weights_only=True`` and checked first (``tasks.core.checkpoints``):
another task's, another config's or differently shaped weights are a one-line error. Every fresh run has a folder of
its own, and ``--resume`` continues the newest unfinished one (``benchmarks.run_folders``). SIGINT or SIGTERM stops
a run with ``benchmarks.interrupts.Interrupted`` (after SIGTERM, once the current step is trained and saved).

A transfer run (``init_from``: a ``Start``, from ``resolve_start``) loads another zoo checkpoint into the fresh
model group by group before training (``tasks.core.transfer``); a start that fits no parameter group is a one-line
error. Its record names the start (``init_from``: task, checkpoint, sha256, groups loaded and not) and its model is
``<model>←<start task>@<sha256[:6]>``, so it never shares a leaderboard row with from-scratch runs.

A run either ends with a validated record appended to the leaderboard or writes none: a failure
anywhere (bad data, NaN loss, a kill) leaves no partial record behind. Its per-example test
predictions are written first, atomically, to ``<records_dir>/predictions/<record id>.jsonl``
(the record's ``predictions`` field); if the record cannot be appended, that file is removed.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
import torch

from benchmarks import environment
from benchmarks.compiling import compile_model
from benchmarks.definitions import Benchmark, check_recipe, get_benchmark
from benchmarks.interrupts import Interrupted, as_interrupted
from benchmarks.run_folders import RunFolder, config_folder_of, finished_run, open_run
from leaderboard.predictions import relative_path, write_predictions
from leaderboard.schema import config_hash, model_slug, transfer_model
from leaderboard.store import append_record, read_records, user_records_dir, user_runs_dir
from tasks import get_task
from tasks.core.contract import batch_size_of, check_batch, config_to_dict
from tasks.core.checkpoints import check_compatible, check_same_config, load_checkpoint
from tasks.core.resume import ResumePoint, resumable
from tasks.core.transfer import (adopt_start, extend_vocabulary, file_sha256, load_groups, loaded_weights,
                                 module_data, start_settings)
from tasks.metrics.gather import gather_rows

NUM_SAMPLES = 8  # test predictions copied into the record's samples (the HTML gallery shows them)
DATA_ROOT_ENV = "ZOO_DATA"  # the folder that holds the user's datasets, one per benchmark (set once)


@dataclass(frozen=True)
class Start:
    """Where a transfer run's weights start: a zoo checkpoint file, its sha256 and, when the start was named by a
    record id, that record (whose run ended with this checkpoint)."""

    path: Path
    sha256: str
    record: str | None = None

    @property
    def label(self) -> str:
        """How messages name the start: the record id, else the file."""
        return f"record {self.record}" if self.record else str(self.path)


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
    checkpoint_every_n_steps: int = 50  # last.ckpt also inside an epoch, so a killed run resumes mid-epoch; 0: off
    records_dir: Path = field(default_factory=user_records_dir)  # the user's workspace, never the package
    runs_dir: Path = field(default_factory=user_runs_dir)
    progress_bar: bool = True
    overrides: dict = field(default_factory=dict)  # Config field overrides (tests, experiments)
    config: Any = None  # a whole task Config (e.g. a record's, to reproduce it); None: the recipe's preset
    compile: bool = False  # torch.compile the network's blocks (same outputs, tested; not part of the record)
    check_batches: bool = False  # debug: check_batch on every batch (BatchCheck; not part of the record)
    init_from: Start | None = None  # transfer: the checkpoint the model starts from (resolve_start); None: scratch


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
        self.train_samples += batch_size_of(batch) * trainer.world_size

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(f"val/{self.primary_metric}")
        if self.target is None or value is None or self.time_to_target is not None or trainer.sanity_checking:
            return
        reached = value >= self.target if self.higher_is_better else value <= self.target
        if reached:
            self.time_to_target = (time.perf_counter() - self.fit_start, trainer.global_step)


class BatchCheck(pl.Callback):
    """``--check-batches``: every train, validation and test batch against the batch vocabulary (``check_batch``:
    a ``ValueError`` naming the key)."""

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        check_batch(batch)

    def on_validation_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int,
                                  dataloader_idx: int = 0) -> None:
        check_batch(batch)

    def on_test_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int,
                            dataloader_idx: int = 0) -> None:
        check_batch(batch)


def build_config(options: RunOptions, bench: Benchmark) -> Any:
    """The task Config for this run: ``options.config`` or the recipe's preset, plus data dir and overrides."""
    task = get_task(options.task)
    check_recipe(options.recipe)
    config = options.config
    if config is None:
        config = task.PRESETS[options.recipe](bench.name, options.model)
    elif not isinstance(config, task.Config):
        raise ValueError(f"config must be a {options.task} Config, got {type(config).__name__}")
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
    if options.init_from is not None and options.model == "majority":
        raise ValueError("--init-from: the majority baseline has no weights to start from a checkpoint")
    config = build_config(options, bench)
    settings, start_tokenizer = ({}, None) if options.init_from is None or options.model != "zoo" else \
        start_settings(options.init_from.path, options.task)
    config = adopt_start(config, settings)
    if not bench.builtin and not getattr(config, "data_dir", None):
        raise ValueError(f"benchmark {bench.name!r} needs --data-dir: {bench.data_hint}")
    check_outputs(options)
    pl.seed_everything(options.seed, workers=True, verbose=False)
    datamodule = task.DataModule(config, seed=options.seed, num_workers=None)  # workers, pinned memory by device
    datamodule.setup("fit")
    datamodule.tokenizer = extend_vocabulary(datamodule.tokenizer, start_tokenizer)
    if options.model == "majority":
        return run_majority(options, bench, task, config, datamodule, started)
    module = task.Module(config, datamodule.tokenizer.to_dict(), **datamodule.module_kwargs())
    model_name = f"zoo-{config.preset}" if options.model == "zoo" else options.model
    start = None
    if options.init_from is not None:  # after the fresh init, which it overwrites only where a group fits
        start = start_model(module, options.init_from, options.task, options.runs_dir)
        model_name = transfer_model(model_name, start["task"], start["sha256"])
    if options.compile:  # torch.compile each Transformer block in place (benchmarks/compiling.py)
        compile_model(module.net, "cuda" if options.accelerator != "cpu" and torch.cuda.is_available() else "cpu")
    config_folder = config_folder_of(options.runs_dir, options.task, bench.name, options.recipe, model_name,
                                     options.seed)
    folder = open_run(config_folder, options.resume, rank=rank_zero_only.rank)  # its own folder (run_folders.py)
    try:
        return _train_and_test(options, bench, task, config, datamodule, module, model_name, folder, started, start)
    except (ValueError, FileNotFoundError):  # bad input met during the run: a fresh run leaves nothing behind
        if not folder.resumed and not folder.last.exists() and rank_zero_only.rank == 0:
            folder.discard()
        raise
    finally:
        folder.release()


def resume_point(folder: RunFolder, task: str, module: pl.LightningModule, config: Any) -> Path | None:
    """``folder``'s last.ckpt when resuming it, checked first (its task, config and weights' shapes: a one-line
    ``CheckpointError`` before Lightning meets another run's checkpoint); None for a fresh run."""
    if not (folder.resumed and folder.last.exists()):
        return None
    checkpoint = load_checkpoint(folder.last, expected_task=task)
    check_same_config(checkpoint, config_to_dict(config), folder.last)
    check_compatible(module, checkpoint, folder.last)
    return folder.last


def stopped(error: BaseException, trainer: pl.Trainer, stage: str, point: ResumePoint) -> Interrupted | None:
    """For ``error`` met while ``stage`` ran: when it is SIGINT or SIGTERM, the ``Interrupted`` naming the step, the
    stage and the checkpoint to resume from (``point``'s, when written); None for any other error."""
    interrupted = as_interrupted(error)
    if interrupted is None:
        return None
    checkpoint = point.path if point.path.is_file() else None
    return Interrupted(interrupted.signum, int(trainer.global_step), stage, checkpoint,
                       point.saved_step if checkpoint is not None else None)


def _train_and_test(options: RunOptions, bench: Benchmark, task: ModuleType, config: Any, datamodule: Any,
                    module: pl.LightningModule, model_name: str, folder: RunFolder, started: float,
                    start: dict | None = None) -> dict:
    """Fit (from ``folder``'s last.ckpt when resuming), test, write the record and mark ``folder`` finished; an
    interruption (SIGINT, SIGTERM) raises ``Interrupted`` naming the step and the checkpoint to resume from."""
    last = folder.last
    resume_from = resume_point(folder, options.task, module, config)
    meter = RunMeter(task.SPEC.primary_metric, bench.target, task.SPEC.higher_is_better)
    point = ResumePoint(last, options.checkpoint_every_n_steps)
    trainer = _trainer(options, config, folder.path, meter, point)
    stage = "training"
    try:
        trainer.fit(module, train_dataloaders=resumable(datamodule.train_dataloader()),
                    val_dataloaders=datamodule.val_dataloader(), ckpt_path=resume_from, weights_only=True)
        stage = "testing"
        results = trainer.test(module, datamodule=datamodule, verbose=False)[0]
        if trainer.received_sigterm:  # during the last test batch: Lightning let the test end
            raise Interrupted(signal.SIGTERM)
    except BaseException as error:
        interrupted = stopped(error, trainer, stage, point)
        if interrupted is None:
            raise
        raise interrupted from None
    metrics = {k.split("/", 1)[1]: float(v) for k, v in results.items() if k.startswith("test/")}
    accelerator = "cuda" if trainer.accelerator.__class__.__name__.lower().startswith("cuda") else "cpu"
    facts = {"steps": int(trainer.global_step), "epochs": int(trainer.current_epoch),
             "train_samples_per_second": round(meter.train_samples / max(meter.train_seconds, 1e-9), 3),
             "num_parameters": sum(p.numel() for p in module.net.parameters()), "accelerator": accelerator,
             "world_size": trainer.world_size, "precision": str(trainer.precision),
             "time_to_target": meter.time_to_target}
    record = _record(options, bench, task.SPEC, config, datamodule, facts, metrics, model_name,
                     wall_seconds=time.perf_counter() - started)
    if start is not None:
        record["init_from"] = start
    rows = _prediction_rows(module.predictions)
    if rows:
        record["metrics"] = task.score_predictions(rows)  # what the rows give: exact where Lightning logs float32
        record["predictions"] = relative_path(record["id"])
        record["samples"] = _samples(task, rows[:NUM_SAMPLES], datamodule.splits["test"])
    if trainer.is_global_zero:
        _write(record, rows, options.records_dir)
        folder.finish(record["id"])
    return record


def resolve_start(spec: str, records_dirs: Sequence[Path], runs_dir: Path) -> Start:
    """The start named by ``--init-from``: a checkpoint file, else the id of a record in ``records_dirs`` (the first
    that has it) whose run folder is still in ``runs_dir`` (its ``checkpoints/last.ckpt``). A ValueError (or
    FileNotFoundError) naming what is missing otherwise. Why a run folder: a record keeps no weights; its run's
    folder names it (``run_folders.finished_run``), so a record start needs that folder to exist."""
    path = Path(spec).expanduser()
    if path.is_file():
        return Start(path, file_sha256(path))
    if path.suffix in (".ckpt", ".pt", ".pth") or "/" in spec or path.exists():
        raise FileNotFoundError(f"--init-from {spec}: checkpoint file not found")
    record = next((r for directory in records_dirs for r in read_records(directory) if r["id"] == spec), None)
    if record is None:
        places = ", ".join(str(d) for d in records_dirs)
        raise ValueError(f"--init-from {spec}: neither a checkpoint file nor the id of a record in {places}")
    config_folder = config_folder_of(runs_dir, record["task"], record["benchmark"], record["recipe"],
                                     record["model"], record["seed"])
    # a run of several tasks (zoo bench --multitask) keeps its folder as <runs dir>/<run kind>/<recipe>/<model>-s<seed>
    shared = sorted(Path(runs_dir).glob(f"*/{record['recipe']}/{config_folder.name}"))
    found = finished_run([config_folder, *shared], spec)
    checkpoint = found / "checkpoints" / "last.ckpt" if found is not None else None
    if checkpoint is None or not checkpoint.is_file():
        raise FileNotFoundError(f"--init-from {spec}: the record's run folder (a folder of {config_folder} whose "
                                f"record_id names it, with checkpoints/last.ckpt) is not found; a record start needs "
                                f"its run's folder in the runs dir (--runs-dir), else give the checkpoint file")
    return Start(checkpoint, file_sha256(checkpoint), record=spec)


def start_model(module: pl.LightningModule, start: Start, task: str, runs_dir: Path) -> dict:
    """Load ``start`` into ``module`` group by group; return the record's ``init_from`` entry. A ValueError when
    no parameter group fits (a transfer row that transferred nothing must not be recorded)."""
    tokenizer, classes = module_data(module)
    report = load_groups(module, start.path, task, tokenizer, classes)
    if not loaded_weights(report):
        reasons = "; ".join(f"{group} ({why})" for group, why in report["not_loaded"].items()) or "no groups"
        raise ValueError(f"--init-from {start.label}: nothing of the {report['task']} checkpoint fits this {task} "
                         f"model: {reasons}")
    entry = {"task": report["task"], "checkpoint": checkpoint_place(start.path, runs_dir), "sha256": start.sha256,
             "loaded": list(report["loaded"]), "not_loaded": dict(report["not_loaded"])}
    if start.record is not None:
        entry["record"] = start.record
    return entry


def checkpoint_place(path: Path, runs_dir: Path) -> str:
    """How a record names its start's file: its path relative to the runs dir when it lies there (a ``zoo bench``
    run's checkpoint), else its file name; never a machine path (records travel; the sha256 says which file)."""
    try:
        return Path(path).resolve().relative_to(Path(runs_dir).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def check_outputs(options: RunOptions) -> None:
    """Before any training: the records dir (and, for a trained model, the runs dir) can be written and the records
    already there are valid; else a ValueError naming the path. Why: a run must not be lost after training."""
    check_writable(options.records_dir, "records dir")
    if options.model != "majority":
        check_writable(options.runs_dir, "runs dir")
    read_records(options.records_dir)  # a corrupt or invalid line: RecordError naming the file and line


def check_writable(folder: Path, what: str) -> None:
    """ValueError naming `folder` unless it is a writable folder or could be created as one (its nearest existing
    ancestor is a writable folder). Why: a read-only or misplaced output is found at start, not after training."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"cannot be created: {existing} is a file"
        raise ValueError(f"{what} {folder} {where}, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "is not writable" if existing == folder else f"cannot be created: {existing} is not writable"
        raise ValueError(f"{what} {folder} {where}")


def portable_data_dir(source: str, root: str | None = None) -> str:
    """How a record names its data: a ``hub:`` id as given; a folder under the data root (``root``, else
    ``$ZOO_DATA``) relative to it; any other folder by its name. Why: records travel to other machines, where
    ``zoo reproduce`` finds the data under their own data root; the fingerprint says whether it is the same."""
    if source.startswith("hub:"):
        return source
    path = Path(source).resolve()
    root = root or os.environ.get(DATA_ROOT_ENV)
    if root:
        try:
            return path.relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def run_majority(options: RunOptions, bench: Benchmark, task: ModuleType, config: Any, datamodule: Any,
                 started: float) -> dict:
    """The ``majority`` reference row: the task's ``majority_predictions`` (the most frequent train target, e.g.
    caption, report or per-question answer) for every test example, scored like a run; no training."""
    predict = getattr(task, "majority_predictions", None)
    if predict is None:
        raise ValueError(f"task {options.task!r} has no majority baseline")
    rows = predict(split_rows(datamodule.splits["train"]), split_rows(datamodule.splits["test"]))
    metrics = task.score_predictions(rows)
    facts = {"steps": 0, "epochs": 0, "train_samples_per_second": 0.0, "num_parameters": 0, "accelerator": "cpu",
             "world_size": 1, "precision": "32-true", "time_to_target": None}
    record = _record(options, bench, task.SPEC, config, datamodule, facts, metrics, "majority",
                     wall_seconds=time.perf_counter() - started)
    rows = _prediction_rows(rows)
    record["predictions"] = relative_path(record["id"])
    record["samples"] = _samples(task, rows[:NUM_SAMPLES], datamodule.splits["test"])
    _write(record, rows, options.records_dir)
    return record


def split_rows(split: Any) -> list[dict]:
    """The example dicts of a DataModule split (a list, or a dataset that keeps them in ``rows``)."""
    rows = getattr(split, "rows", split)
    return [rows[i] for i in range(len(rows))]


def _write(record: dict, rows: list[dict], records_dir: Path) -> None:
    """Write the predictions file, then append the record; remove the file if the append fails."""
    path = write_predictions(rows, records_dir, record["id"]) if rows else None
    try:
        append_record(record, records_dir)
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise


def _prediction_rows(rows: list[dict]) -> list[dict]:
    """Every process's test predictions (str ids, float scores), each example once (``gather_rows``)."""
    return gather_rows([{**row, "id": str(row["id"]), "score": float(row["score"])} for row in rows])


def sample_input(task: ModuleType, example: Mapping[str, Any]) -> dict[str, str]:
    """What the gallery shows of a test example: the task's own ``sample_input(example)`` if it has one
    (the hook for images as data: URIs and audio transcripts), else its ``text`` and ``question`` strings."""
    custom = getattr(task, "sample_input", None)
    if custom is not None:
        return dict(custom(example))
    return {"text": example[key] for key in ("question", "text") if isinstance(example.get(key), str)}


def _samples(task: ModuleType, rows: list[dict], examples: Sequence[Mapping[str, Any]]) -> list[dict]:
    """The first prediction rows as record samples: id, prediction, reference and the input."""
    wanted = {row["id"] for row in rows}
    inputs: dict[str, dict[str, str]] = {}
    for example in examples:
        if str(example["id"]) in wanted:
            inputs[str(example["id"])] = sample_input(task, example)
            if len(inputs) == len(wanted):
                break
    samples = []
    for row in rows:
        sample = {"id": row["id"], "prediction": row["prediction"], "reference": row["reference"]}
        if inputs.get(row["id"]):
            sample["input"] = inputs[row["id"]]
        samples.append(sample)
    return samples


def _trainer(options: RunOptions, config: Any, run_dir: Path, meter: RunMeter, point: ResumePoint) -> pl.Trainer:
    on_cpu = options.accelerator == "cpu" or (options.accelerator == "auto" and not torch.cuda.is_available())
    return pl.Trainer(
        accelerator=options.accelerator, devices=options.devices, num_nodes=options.num_nodes,
        strategy=options.strategy, precision=options.precision, max_epochs=config.optim.max_epochs,
        max_steps=config.optim.max_steps, gradient_clip_val=config.optim.grad_clip,
        check_val_every_n_epoch=config.optim.val_every_n_epochs,
        deterministic=True if on_cpu else "warn",
        # loss every 10 steps, metrics at each validation and test: run_dir/logs/version_0/metrics.csv (resume: next N)
        logger=CSVLogger(run_dir, name="logs"),
        # the meter first, so that its batch timing ends before ResumePoint writes a checkpoint
        callbacks=[meter, point, *([BatchCheck()] if options.check_batches else [])],
        enable_checkpointing=False,  # ResumePoint writes last.ckpt (each epoch and every n steps)
        default_root_dir=run_dir, enable_model_summary=False, num_sanity_val_steps=0,
        enable_progress_bar=options.progress_bar, log_every_n_steps=10,
    )


def _record(options: RunOptions, bench: Benchmark, spec: Any, config: Any, datamodule: Any, facts: dict,
            metrics: dict[str, float], model_name: str, wall_seconds: float) -> dict:
    config_dict = config_to_dict(config)
    if config_dict.get("data_dir"):
        config_dict["data_dir"] = portable_data_dir(config_dict["data_dir"])
    commit, dirty = environment.git_state()
    now = datetime.now(timezone.utc)
    target = facts["time_to_target"]
    record = {
        "id": f"{spec.name}-{bench.name}-{options.recipe}-{model_slug(model_name)}-s{options.seed}-"
              f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}",
        "task": spec.name, "task_version": spec.version, "model": model_name, "benchmark": bench.name,
        "split": bench.split, "data_fingerprint": datamodule.fingerprint, "recipe": options.recipe,
        "config": config_dict, "config_hash": config_hash(config_dict), "seed": options.seed,
        "metrics": metrics, "primary_metric": spec.primary_metric, "higher_is_better": spec.higher_is_better,
        "steps": facts["steps"], "epochs": facts["epochs"], "wall_seconds": round(wall_seconds, 3),
        "train_samples_per_second": facts["train_samples_per_second"],
        "peak_memory_mb": round(environment.peak_memory_mb(facts["accelerator"]), 1),
        "num_parameters": facts["num_parameters"],
        "num_test_examples": len(datamodule.splits["test"]),
        "device": environment.device_info(facts["accelerator"], facts["world_size"]),
        "precision": facts["precision"], "versions": environment.package_versions(),
        "git_commit": commit, "git_dirty": dirty, "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_to_target_seconds": round(target[0], 3) if target else None,
        "time_to_target_step": target[1] if target else None,
    }
    notes = getattr(datamodule, "notes", "")
    if notes:  # how the data was used where its source leaves it open (a table without splits, split by a seed)
        record["notes"] = notes
    return record

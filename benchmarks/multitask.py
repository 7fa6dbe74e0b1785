"""``zoo bench --suite builtin --multitask``: one backbone trained on every task's built-in benchmark at once
(``tasks.multitask``), then one record per task under the task's usual benchmark name.

A record's ``model`` is ``zoo-<size>-multitask`` so the leaderboard shows it beside the single-task rows; its
``config`` is the task's Config plus ``multitask`` (the tasks, recipe, backbone, mixture and loss weights it
trained on); ``num_parameters`` and ``wall_seconds`` are the whole run's (every shared tensor counted once), and
``multitask.task_parameters`` / ``multitask.task_steps`` give the per-task figures beside them.

``--resume`` continues the newest unfinished run from its ``last.ckpt`` as a single task's run does
(``benchmarks.run``): the mixture's position and every task loader's are in the checkpoint
(``tasks.multitask.mixture``), so the resumed run ends with the records of an uninterrupted one. Under DDP every
process draws the same tasks and its own shard of each task's data (``MixtureLoader``).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from benchmarks.definitions import get_benchmark
from benchmarks.interrupts import Interrupted
from benchmarks.run import (NUM_SAMPLES, RunMeter, RunOptions, _prediction_rows, _record, _samples, _trainer,
                            _write, check_outputs, resume_point, stopped)
from benchmarks.run_folders import open_run
from leaderboard.predictions import relative_path
from leaderboard.schema import config_hash
from tasks import get_task
from tasks import multitask as mt
from tasks.multitask.mixture import MixturePoint

MODEL = "multitask"
DDP_STRATEGIES = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")  # each has a ``_find_unused_parameters_true`` twin

log = logging.getLogger(__name__)


class MixtureMeter(RunMeter):
    """``RunMeter`` for ``(task, batch)`` steps: samples are the task batch's."""

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, out: Any, batch: Any,
                           idx: int) -> None:
        super().on_train_batch_end(trainer, module, out, batch[1], idx)


def run_multitask(options: RunOptions, tasks: tuple[str, ...] = mt.TASKS) -> list[dict]:
    """Train one backbone on ``tasks`` (their built-in benchmarks, ``options.recipe``, ``options.seed``), test it on
    each, and append one record per task; returns the records. ``options.resume``: continue the newest unfinished
    run of the same configuration and seed from its ``last.ckpt`` (``benchmarks.run_folders``). DDP strategies run
    with ``find_unused_parameters`` (``multitask_strategy``)."""
    if options.model != "zoo":
        raise ValueError("--multitask trains the zoo backbone: give no --model")
    started = time.perf_counter()
    check_outputs(options)
    options = dataclasses.replace(options, strategy=multitask_strategy(options))
    pl.seed_everything(options.seed, workers=True, verbose=False)
    config = mt.preset(options.recipe, tasks)
    configs, datamodules, modules = mt.build(config, seed=options.seed)
    module = mt.MultiTaskModule(config, modules)
    probabilities = mt.mixture(mt.train_sizes(datamodules), config.temperature)
    size = configs[tasks[0]].preset
    model_name = f"zoo-{size}-{MODEL}"
    folder = open_run(options.runs_dir / MODEL / options.recipe / f"{model_name}-s{options.seed}", options.resume,
                      rank=rank_zero_only.rank)
    try:
        resume_from = resume_point(folder, MODEL, module, config)
        meter = MixtureMeter("loss", None, False)
        point = MixturePoint(folder.last, options.checkpoint_every_n_steps)
        trainer = _trainer(options, config, folder.path, meter, point)
        order = module.order
        loader = mt.MixtureLoader({n: datamodules[n].train_dataloader() for n in order}, probabilities,
                                  options.seed, rank=trainer.global_rank, num_ranks=trainer.world_size)
        stage = "training"
        try:
            trainer.fit(module, train_dataloaders=loader,
                        val_dataloaders=[datamodules[n].val_dataloader() for n in order], ckpt_path=resume_from,
                        weights_only=True)
            stage = "testing"
            trainer.test(module, dataloaders=[datamodules[n].test_dataloader() for n in order], verbose=False)
            if trainer.received_sigterm:  # during the last test batch: Lightning let the test end
                raise Interrupted(signal.SIGTERM)
        except BaseException as error:
            interrupted = stopped(error, trainer, stage, point)
            if interrupted is None:
                raise
            raise interrupted from None
    except (ValueError, FileNotFoundError):
        if not folder.resumed and not folder.last.exists() and rank_zero_only.rank == 0:
            folder.discard()
        raise
    finally:
        folder.release()
    wall = time.perf_counter() - started
    shared = {"tasks": list(tasks), "recipe": config.recipe, "backbone": config.shared_model(),
              "temperature": config.temperature, "loss_weights": dict(config.loss_weights),
              "mixture": {n: round(p, 6) for n, p in probabilities.items()},
              "optim": dataclasses.asdict(config.optim), "steps": int(trainer.global_step),
              "task_parameters": {n: sum(p.numel() for p in m.parameters()) for n, m in modules.items()},
              "task_steps": mt.steps_per_task(probabilities, int(trainer.global_step))}
    accelerator = "cuda" if trainer.accelerator.__class__.__name__.lower().startswith("cuda") else "cpu"
    facts = {"steps": int(trainer.global_step), "epochs": int(trainer.current_epoch),
             "train_samples_per_second": round(meter.train_samples / max(meter.train_seconds, 1e-9), 3),
             "num_parameters": module.num_parameters(), "accelerator": accelerator,
             "world_size": trainer.world_size, "precision": str(trainer.precision), "time_to_target": None}
    records = []
    for name in order:
        records.append(_task_record(dataclasses.replace(options, task=name), configs[name], datamodules[name],
                                    modules[name], facts, shared, model_name, wall, trainer.is_global_zero))
    if trainer.is_global_zero:
        folder.finish(",".join(r["id"] for r in records))
    return records


def multitask_strategy(options: RunOptions) -> str:
    """The Lightning strategy of a multi-task run: ``options.strategy``, except that DDP runs with
    ``find_unused_parameters``: ``ddp`` (and ``auto`` on several devices, which Lightning makes ``ddp``) becomes
    ``ddp_find_unused_parameters_true``, likewise ``ddp_spawn``, ``ddp_fork`` and ``ddp_notebook``. Why: a step trains
    one task, so the other tasks' heads (and asr's audio embedder) get no gradient in it, which plain DDP rejects at
    the next step; Lightning's own error message asks for this strategy, and ``--strategy ddp`` should just work."""
    strategy = options.strategy
    if strategy == "auto" and (options.devices != 1 or options.num_nodes > 1):
        strategy = "ddp"
    if strategy in DDP_STRATEGIES:
        log.info(f"zoo: a multi-task run trains one task per step: running {strategy} with find_unused_parameters")
        return f"{strategy}_find_unused_parameters_true"
    return strategy


def _task_record(options: RunOptions, config: Any, datamodule: Any, module: Any, facts: dict, shared: dict,
                 model_name: str, wall: float, write: bool) -> dict:
    """One task's record of the run: its metrics from its own prediction rows, the run's shared figures."""
    task = get_task(options.task)
    bench = get_benchmark(options.task, None)
    rows = _prediction_rows(module.predictions)
    metrics = task.score_predictions(rows)
    record = _record(options, bench, task.SPEC, config, datamodule, facts, metrics, model_name, wall_seconds=wall)
    record["config"] = {**record["config"], MODEL: shared}
    record["config_hash"] = config_hash(record["config"])
    record["predictions"] = relative_path(record["id"])
    record["samples"] = _samples(task, rows[:NUM_SAMPLES], datamodule.splits["test"])
    if write:
        _write(record, rows, options.records_dir)
    return record


def is_multitask(record: dict) -> bool:
    """Whether a record comes from a multi-task run."""
    return isinstance(record.get("config"), dict) and MODEL in record["config"]


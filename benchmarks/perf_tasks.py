"""Input pipeline vs model step for ``zoo perf``: train samples/s of each task's DataModule alone and of its model's
training step, on the built-in (generated) benchmark.

The recipe's config is used as it is (its model, batch size, image size), except the fields that only set how much
slow-to-generate data there is (``DATA_SIZE_FIELDS``), which come from the ``smoke`` recipe so the command stays fast;
a split with fewer batches than are timed is read again from the start.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

import torch

from tasks import TASKS
from tasks.core.contract import batch_size_of

# Fields that only set how much data is generated and that are slow to generate at the recipe's size: asr's
# utterances (speech synthesis and log-mel). Cheap generated sets (vqa's scenes) keep the recipe's size.
DATA_SIZE_FIELDS = ("builtin_size",)


def task_config(task: Any, recipe: str) -> Any:
    """The recipe's config on the task's built-in benchmark, with the smoke recipe's data size."""
    benchmark = task.SPEC.benchmarks[0].name
    config = task.PRESETS[recipe](benchmark)
    if recipe == "smoke":
        return config
    smoke = task.PRESETS["smoke"](benchmark)
    sizes = {name: getattr(smoke, name) for name in DATA_SIZE_FIELDS if hasattr(config, name)}
    return dataclasses.replace(config, **sizes)


def _to(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _batches(loader: Any, count: int) -> Iterator[Any]:
    """The first ``count`` batches of the loader, starting further epochs when one epoch has fewer."""
    def epochs() -> Iterator[Any]:
        while True:
            empty = True
            for batch in loader:
                empty = False
                yield batch
            if empty:
                raise ValueError("the train loader gives no batch")
    return islice(epochs(), count)


def pipeline_samples_per_second(loader: Any, batches: int, repeats: int) -> float:
    """Median over ``repeats`` passes of samples / seconds to draw ``batches`` batches from a fresh iterator."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        samples = sum(batch_size_of(batch) for batch in _batches(loader, batches))
        rates.append(samples / max(time.perf_counter() - start, 1e-9))
    return statistics.median(rates)


def model_samples_per_second(module: Any, batches: list[Any], device: torch.device, grad_clip: float) -> float:
    """samples / seconds of the module's training steps (``step(batch, "train")``, backward, gradient clipping,
    AdamW update) over ``batches[1:]``, after ``batches[0]`` as warm-up."""
    module.to(device).train()
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)

    def step(batch: Mapping[str, Any]) -> None:
        optimizer.zero_grad(set_to_none=True)
        module.step(batch, "train").backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
        optimizer.step()

    step(batches[0])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return sum(batch_size_of(b) for b in batches[1:]) / max(time.perf_counter() - start, 1e-9)


def task_throughput(name: str, recipe: str, device: torch.device, batches: int, repeats: int) -> dict:
    """(d) One task: pipeline and model samples/s and their ratio (pipeline / model)."""
    task = TASKS[name]
    config = task_config(task, recipe)
    datamodule = task.DataModule(config, seed=0, num_workers=None)  # workers, pinned memory as `zoo bench` picks
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    pipeline = pipeline_samples_per_second(loader, batches, repeats)
    module = task.Module(config, datamodule.tokenizer.to_dict(), **datamodule.module_kwargs())
    sample = [_to(batch, device) for batch in _batches(loader, batches + 1)]
    model = model_samples_per_second(module, sample, device, config.optim.grad_clip)
    return {"recipe": recipe, "benchmark": task.SPEC.benchmarks[0].name, "batch_size": config.optim.batch_size,
            "pipeline_samples_per_second": pipeline, "model_samples_per_second": model, "ratio": pipeline / model}

"""Benchmark definitions: a benchmark is a task × a dataset; a recipe (smoke, quick, standard, gpu)
is the task's preset of that name. ``builtin`` benchmarks are generated offline; the others read a
local copy (``--data-dir``) or a hub id (``--data-dir hub:OWNER/NAME``)."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.base import RECIPES


@dataclass(frozen=True)
class Benchmark:
    name: str
    task: str
    split: str  # the split whose metrics the record reports
    builtin: bool  # generated offline: needs no data dir
    data_hint: str = ""  # what --data-dir should point at
    target: float | None = None  # time-to-target threshold for the primary metric on validation


BENCHMARKS: dict[str, Benchmark] = {
    "reviews": Benchmark("reviews", "sentiment", "test", builtin=True, target=0.9),
    "sst2": Benchmark("sst2", "sentiment", "dev", builtin=False,
                      data_hint="a GLUE SST-2 folder (train.tsv, dev.tsv) or hub:stanfordnlp/sst2", target=0.8),
}


def get_benchmark(task: str, name: str | None) -> Benchmark:
    """The benchmark ``name`` of ``task`` (its built-in one when ``name`` is None)."""
    mine = [b for b in BENCHMARKS.values() if b.task == task]
    if name is None:
        return next(b for b in mine if b.builtin)
    for bench in mine:
        if bench.name == name:
            return bench
    raise ValueError(f"unknown benchmark {name!r} for task {task!r} (known: {', '.join(b.name for b in mine)})")


def check_recipe(name: str) -> str:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    return name

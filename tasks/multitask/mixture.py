"""The task mixture of a multi-task run: which task each training step draws a batch from."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any


def mixture(sizes: Mapping[str, int], temperature: float) -> dict[str, float]:
    """P(task) ∝ size ** (1 / temperature)."""
    weights = {name: size ** (1.0 / temperature) for name, size in sizes.items()}
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}


class MixtureLoader:
    """One epoch: ``sum(len(loader))`` steps, each the next batch of one task drawn by ``probabilities`` (a seeded
    draw per epoch); a task's loader restarts when it runs out. Yields ``(task, batch)``."""

    def __init__(self, loaders: Mapping[str, Any], probabilities: Mapping[str, float], seed: int) -> None:
        self.loaders, self.probabilities, self.seed, self.epoch = dict(loaders), dict(probabilities), seed, 0

    def __len__(self) -> int:
        return sum(len(loader) for loader in self.loaders.values())

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        names = list(self.loaders)
        weights = [self.probabilities[n] for n in names]
        iterators: dict[str, Iterator[Any]] = {}
        for _ in range(len(self)):
            name = rng.choices(names, weights)[0]
            if name not in iterators:
                iterators[name] = iter(self.loaders[name])
            try:
                batch = next(iterators[name])
            except StopIteration:
                iterators[name] = iter(self.loaders[name])
                batch = next(iterators[name])
            yield name, batch

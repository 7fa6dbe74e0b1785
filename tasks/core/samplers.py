"""Training-order samplers: a seeded order per epoch that also works in loops that never call ``set_epoch``.

Lightning calls ``set_epoch(n)`` before epoch n; a sampler also moves to the next epoch when an iteration over it
ends, so a plain loop over a DataLoader sees a new order every pass, and a re-created iterator inside an epoch
(a resumed run) replays that epoch's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


class EpochSampler(torch.utils.data.Sampler):
    """Base class: ``order(epoch)`` gives the keys of one epoch; iterating yields them, then advances the epoch."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Any]:
        epoch = self.epoch
        yield from self.order(epoch)
        if self.epoch == epoch:  # a full pass without set_epoch: the next pass is the next epoch
            self.epoch = epoch + 1

    def order(self, epoch: int) -> list[Any]:
        """The keys of ``epoch`` in the order they are drawn."""
        raise NotImplementedError

    def permutation(self, seed: int) -> list[int]:
        """A permutation of ``range(size)`` from ``torch.randperm`` with a generator seeded by ``seed``."""
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(seed)).tolist()

"""The task mixture of a multi-task run: which task each training step draws a batch from.

``MixtureLoader`` yields ``(task, batch)``: each step draws a task with a seeded RNG per epoch (the same draws on every
process) and takes the next batch of that task's train loader, which restarts when it runs out; a pass still open at
the epoch's end is dropped, so the next epoch opens a new one.

Resume (as ``tasks.core.resume`` does for one task): the loader has Lightning's stateful-loader interface. Its state
is the epoch in progress, how many of its steps were handed out, the Python, NumPy and torch RNG states, and for each
task: its loader's own state (a ``ResumableLoader``'s shuffle generator at the start of its current pass and the
batches of the pass consumed), the epoch its sampler was at when the pass opened, and whether that pass is open in
this epoch. A resumed loader replays the epoch's draws from the seed, re-opens each open pass and skips its consumed
batches (a restart inside the epoch needs no replay: the pass open at the save is the last one), restores the RNG
states and goes on exactly as the uninterrupted run did. ``MixturePoint`` hands it the saved state.

Several processes (DDP): Lightning shards only the ``DataLoader``s it is given, not a custom iterable like this one, so
with ``num_ranks > 1`` each task's loader is sharded here (``shard``): every process draws the task's whole order from
its seeded sampler and keeps every ``num_ranks``-th key, and the mixture epoch is the per-process number of batches.
Task loaders must draw their order from their own generators or seeds (every task's does), not torch's global one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import lightning.pytorch as pl
from torch.utils.data import BatchSampler, DataLoader, Sampler

from tasks.core.resume import ResumableLoader, ResumePoint, loader_settings, resumable, rng_states, set_rng_states


def mixture(sizes: Mapping[str, int], temperature: float) -> dict[str, float]:
    """P(task) ∝ size ** (1 / temperature)."""
    weights = {name: size ** (1.0 / temperature) for name, size in sizes.items()}
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}


class RankShard(Sampler):
    """Process ``rank``'s part of ``sampler``'s order, cut as torch's ``DistributedSampler`` cuts a dataset: the order
    padded with its first keys to a multiple of ``num_ranks``, then every ``num_ranks``-th key from position ``rank``.
    Every process draws the same order (the samplers are seeded), so the parts are disjoint and together one pass."""

    def __init__(self, sampler: Iterable[Any], rank: int, num_ranks: int) -> None:
        self.sampler, self.rank, self.num_ranks = sampler, rank, num_ranks

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.num_ranks)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        order = list(self.sampler)
        total = len(self) * self.num_ranks
        padded = (order * math.ceil(total / len(order)))[:total] if order else []
        return iter(padded[self.rank::self.num_ranks])


def shard(loader: DataLoader, rank: int, num_ranks: int) -> DataLoader:
    """``loader`` keeping process ``rank``'s part of its order (a ``RankShard`` of its sampler, or of its batch sampler
    when it has its own); ``loader`` itself for one process."""
    if num_ranks <= 1:
        return loader
    kwargs = loader_settings(loader)
    if type(loader.batch_sampler) is BatchSampler:
        kwargs.update(batch_size=loader.batch_size, drop_last=loader.drop_last,
                      sampler=RankShard(loader.sampler, rank, num_ranks))
    else:
        kwargs["batch_sampler"] = RankShard(loader.batch_sampler, rank, num_ranks)
    return DataLoader(loader.dataset, **kwargs)


class MixtureLoader:
    """One epoch: ``sum(len(loader))`` steps, each the next batch of one task drawn by ``probabilities`` (a seeded
    draw per epoch); a task's loader restarts when it runs out. Yields ``(task, batch)``. ``DataLoader`` task loaders
    become ``ResumableLoader``s, sharded for process ``rank`` of ``num_ranks``; other iterables (lists) are resumed by
    skipping what was consumed. Resume and sharding: the module docstring."""

    def __init__(self, loaders: Mapping[str, Any], probabilities: Mapping[str, float], seed: int, rank: int = 0,
                 num_ranks: int = 1) -> None:
        self.loaders = {name: _task_loader(name, loader, rank, num_ranks) for name, loader in loaders.items()}
        self.probabilities, self.seed, self.epoch = dict(probabilities), seed, 0  # epoch: the next one to draw
        self.handed_out = 0  # steps of the current epoch given to the training loop
        self._passes: dict[str, dict[str, Any]] = {}  # task → its pass open in this epoch: sampler epoch, consumed
        self._pending: dict[str, Any] | None = None
        self._resumed_rng: dict[str, Any] | None = None

    def __len__(self) -> int:
        return sum(len(loader) for loader in self.loaders.values())

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        names = list(self.loaders)
        weights = [self.probabilities[n] for n in names]
        state, self._pending = self._pending, None
        epoch, done = self.epoch, 0
        if state is not None and state["epochs"] > 0:  # the epoch in progress at the save, or the next one
            unfinished = state["handed_out"] < len(self)
            epoch, done = (state["epochs"] - 1, state["handed_out"]) if unfinished else (state["epochs"], 0)
        rng = random.Random(self.seed * 1_000_003 + epoch)
        self.epoch, self.handed_out, self._passes = epoch + 1, done, {}
        for _ in range(done):  # replay the draws of the steps already trained
            rng.choices(names, weights)
        iterators = self._restore(state, done > 0) if state is not None else {}
        resumed = state is not None
        for _ in range(done, len(self)):
            name = rng.choices(names, weights)[0]
            if name not in iterators:
                iterators[name] = self._open(name)
            try:
                batch = next(iterators[name])
            except StopIteration:
                iterators[name] = self._open(name)
                batch = next(iterators[name])
            self._passes[name]["consumed"] += 1
            self.handed_out += 1
            if resumed:  # the states after fetching the first resumed batch, for MixturePoint
                self._resumed_rng, resumed = rng_states(), False
            yield name, batch

    def _open(self, name: str) -> Iterator[Any]:
        """A new pass over task ``name``'s loader, noting the epoch its sampler is at."""
        self._passes[name] = {"sampler_epoch": _sampler_epoch(self.loaders[name]), "consumed": 0}
        return iter(self.loaders[name])

    def _restore(self, state: dict[str, Any], mid_epoch: bool) -> dict[str, Iterator[Any]]:
        """Give every task loader its saved position, re-open the passes open at the save (mid-epoch) and advance
        each past its consumed batches, so that its sampler and generator stand where they stood at the save (a
        ``ResumableLoader`` skips all but the last without loading them), then restore the RNG states: what that drew
        from them (a loader's base seed, a collate's draws) was not drawn there in the uninterrupted run."""
        if set(state["tasks"]) != set(self.loaders):
            raise ValueError(f"the saved mixture has tasks {sorted(state['tasks'])}, this run {sorted(self.loaders)}")
        iterators: dict[str, Iterator[Any]] = {}
        for name, loader in self.loaders.items():
            saved = state["tasks"][name]
            reopen = mid_epoch and saved["open"]
            _set_sampler_epoch(loader, saved["sampler_epoch"])
            fetch = saved["consumed"] if reopen else 0
            if isinstance(loader, ResumableLoader):  # "exhausted": the next pass starts from the generator at the save
                position = {"completed": fetch - 1} if reopen else {}  # it skips those without loading them
                loader.load_state_dict({**saved["loader"], **position, "exhausted": not reopen})
                fetch = min(fetch, 1)
            if reopen:  # now, not at the task's next draw: the pass may end with the epoch before that
                iterators[name] = self._open(name)
                self._passes[name]["consumed"] = saved["consumed"]
                for _ in range(fetch):
                    next(iterators[name], None)  # None: a position past the end (another device count)
        set_rng_states(state["rng"])
        return iterators

    def state_dict(self) -> dict[str, Any]:
        """The position (module docstring). Lightning fetches one batch at a time from a loader with a length, so at
        any checkpoint every step handed out has been trained."""
        finished = self.handed_out >= len(self)  # then no pass stays open: the next epoch opens new ones
        tasks = {}
        for name, loader in self.loaders.items():
            open_pass = None if finished else self._passes.get(name)
            tasks[name] = {"open": open_pass is not None, "consumed": open_pass["consumed"] if open_pass else 0,
                           "sampler_epoch": open_pass["sampler_epoch"] if open_pass else _sampler_epoch(loader),
                           "loader": loader.state_dict() if isinstance(loader, ResumableLoader) else None}
        return {"epochs": self.epoch, "handed_out": self.handed_out, "tasks": tasks, "rng": rng_states()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` at the next ``iter``."""
        self._pending = dict(state)

    def take_resumed_rng(self) -> dict[str, Any] | None:
        """Once after a resume: the RNG states right after the first resumed batch was fetched."""
        states, self._resumed_rng = self._resumed_rng, None
        return states


class MixturePoint(ResumePoint):
    """``ResumePoint`` for a run whose train loader is a ``MixtureLoader``: hands the mixture its saved state
    (``ResumePoint`` does so for ``ResumableLoader``s only), and before the first resumed step sets the RNG states
    the mixture left after fetching that step's batch. Why: ``ResumePoint`` restores the states from before the
    fetch, but a task loader restarted for that batch drew its base seed from torch's generator, as it did in the
    uninterrupted run."""

    def __init__(self, path: Any, every_n_steps: int) -> None:
        super().__init__(path, every_n_steps)
        self._saved: dict[str, Any] | None = None
        self._mixture: MixtureLoader | None = None

    def on_load_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(trainer, module, checkpoint)
        states = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {}).get("combined_loader") or []
        self._saved = states[0] if len(states) == 1 else None

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        super().on_train_start(trainer, module)
        loader = trainer.train_dataloader
        self._mixture = loader if isinstance(loader, MixtureLoader) else None
        saved, self._saved = self._saved, None
        if self._mixture is not None and saved is not None:
            self._mixture.load_state_dict(saved)  # read at its first batch, after Lightning made its iterator

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_start(trainer, module, batch, batch_idx)
        states = self._mixture.take_resumed_rng() if self._mixture is not None else None
        if states is not None:
            set_rng_states(states)


def _task_loader(name: str, loader: Any, rank: int, num_ranks: int) -> Any:
    """``loader`` as the mixture keeps it: a resumable ``DataLoader`` with this process's shard, or as given."""
    if isinstance(loader, DataLoader):
        return resumable(shard(loader, rank, num_ranks))
    if num_ranks > 1:
        raise ValueError(f"{name}: a train loader must be a DataLoader to be sharded across {num_ranks} processes, "
                         f"got {type(loader).__name__}")
    return loader


def _order_source(loader: Any) -> Any:
    """The sampler that decides a task loader's order (inside its ``RankShard``), or None."""
    if not isinstance(loader, DataLoader):
        return None
    source = loader.sampler if type(loader.batch_sampler) is BatchSampler else loader.batch_sampler
    return source.sampler if isinstance(source, RankShard) else source


def _sampler_epoch(loader: Any) -> int | None:
    """The epoch of a task loader's sampler (samplers that shuffle by epoch have one), or None."""
    source = _order_source(loader)
    epoch = getattr(source, "epoch", None)
    return epoch if isinstance(epoch, int) and hasattr(source, "set_epoch") else None


def _set_sampler_epoch(loader: Any, epoch: int | None) -> None:
    if epoch is not None:
        _order_source(loader).set_epoch(epoch)

"""Mid-epoch resume: a run killed at any point continues from ``last.ckpt`` exactly as if it had not stopped.

Two pieces, both plain Lightning extension points:

* ``ResumableLoader`` – a ``DataLoader`` with Lightning's stateful-loader interface (``state_dict`` /
  ``load_state_dict``, saved in the checkpoint's ``loops.fit_loop.state_dict.combined_loader``). Its state is the
  shuffle generator's state at the start of the current epoch and at save time, and how many batches of the epoch
  training has completed; a resumed loader replays the epoch's order and skips those batches (without loading
  them when ``num_workers == 0``). ``resumable(loader)`` rebuilds any task's train loader as one, with the same
  sampler and generator objects, so an uninterrupted run draws exactly what it drew before.
* ``ResumePoint`` – a callback that saves ``last.ckpt`` at the end of every epoch (after its validation), every
  ``every_n_steps`` optimizer steps inside an epoch and after the step during which the process got SIGTERM (which
  Lightning then stops at: a preempted job loses at most that step), written aside and renamed into place so a kill
  never leaves half a file; it keeps the Python, NumPy and torch RNG states in every checkpoint. They are restored
  on load, again just before the train loader's iterator is re-created (a loader without its own generator draws its base
  seed from torch's), and, for a mid-epoch checkpoint, once more just before the first resumed batch.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader
from torch.utils.data.dataloader import _SingleProcessDataLoaderIter


class ResumableLoader(DataLoader):
    """A ``DataLoader`` whose position inside an epoch survives a checkpoint (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handed_out = 0  # batches of the current epoch given to the training loop
        self._epoch_start: torch.Tensor | None = None
        self._pending: dict | None = None

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        skip = 0
        if self._pending is not None:
            state, self._pending = self._pending, None
            saved = state["end"] if state["exhausted"] else state["start"]
            if self.generator is not None and saved is not None:
                self.generator.set_state(saved)
            skip = 0 if state["exhausted"] else int(state["completed"])
        self._epoch_start = self.generator.get_state() if self.generator is not None else None
        self.handed_out = skip
        return self._batches(super().__iter__(), skip)

    def _batches(self, iterator: Any, skip: int) -> Iterator[Any]:
        for _ in range(skip):  # a position past this loader's end (another device count) just ends the epoch
            if isinstance(iterator, _SingleProcessDataLoaderIter):
                next(iterator._sampler_iter, None)  # draw the batch's indices, load nothing
            else:
                next(iterator, None)
        for batch in iterator:
            self.handed_out += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """The epoch's position. Lightning fetches batches one at a time from a loader with a length (it prefetches
        only to find the end of loaders without one), so at any checkpoint every batch handed out has been trained."""
        return {"start": self._epoch_start, "end": self.generator.get_state() if self.generator is not None else None,
                "completed": self.handed_out, "exhausted": self.handed_out >= len(self)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = dict(state)


def loader_settings(loader: DataLoader) -> dict[str, Any]:
    """The ``DataLoader`` arguments of ``loader`` besides its dataset and sampling, for a loader rebuilt around
    another sampler."""
    kwargs: dict[str, Any] = {
        "collate_fn": loader.collate_fn, "num_workers": loader.num_workers, "pin_memory": loader.pin_memory,
        "timeout": loader.timeout, "worker_init_fn": loader.worker_init_fn, "generator": loader.generator,
        "persistent_workers": loader.persistent_workers,
    }
    if loader.num_workers > 0:
        kwargs["prefetch_factor"] = loader.prefetch_factor
    return kwargs


def resumable(loader: DataLoader) -> ResumableLoader:
    """``loader`` as a ``ResumableLoader`` sharing its dataset, sampler (or batch sampler) and generator."""
    if isinstance(loader, ResumableLoader):
        return loader
    kwargs = loader_settings(loader)
    if loader.batch_size is None or type(loader.batch_sampler) is not BatchSampler:
        kwargs["batch_sampler"] = loader.batch_sampler
    else:
        kwargs.update(batch_size=loader.batch_size, sampler=loader.sampler, drop_last=loader.drop_last)
    return ResumableLoader(loader.dataset, **kwargs)


def rng_states() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) generator states as plain data (loadable with weights_only)."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": [version, list(internal), gauss], "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what ``rng_states`` returned."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ResumePoint(pl.Callback):
    """Saves ``path`` at each epoch's end and every ``every_n_steps`` steps inside an epoch; keeps and restores RNG
    states (module docstring). ``every_n_steps <= 0`` turns the mid-epoch saves off."""

    def __init__(self, path: str | Path, every_n_steps: int) -> None:
        self.path, self.every_n_steps = Path(path), every_n_steps
        self._mid_epoch = False
        self._pending: dict | None = None
        self._loader_states: list[dict] = []
        self._loaded_rng: dict | None = None
        self.saved_step: int | None = None  # the global step that ``path`` holds (saved or loaded), None: none yet

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        due = self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0
        if not due and not _stopping(trainer):
            return
        if batch_idx + 1 < trainer.num_training_batches:  # the last batch's state is saved at the epoch's end
            self._save(trainer, mid_epoch=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._save(trainer, mid_epoch=False)  # after the epoch's validation: the next epoch starts from here

    def _save(self, trainer: pl.Trainer, mid_epoch: bool) -> None:
        partial = self.path.with_name(f".{self.path.name}.partial")
        self._mid_epoch = mid_epoch
        try:
            trainer.save_checkpoint(partial, weights_only=False)
        finally:
            self._mid_epoch = False
        if trainer.is_global_zero:
            os.replace(partial, self.path)
        trainer.strategy.barrier("resume_point")
        self.saved_step = trainer.global_step

    def on_load_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        self.saved_step = checkpoint.get("global_step")
        fit_state = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {})
        self._loader_states = list(fit_state.get("combined_loader") or [])

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Give the train loaders their saved position and restart their iterator. Lightning would do it itself,
        but ``trainer.estimated_stepping_batches`` (used by ``configure_optimizers``) builds the train loader and
        its iterator before the loops' state is restored, and Lightning then never loads the loader states."""
        states, self._loader_states = self._loader_states, []
        rng, self._loaded_rng = self._loaded_rng, None
        loaders = _train_loaders(trainer)
        if not states or len(states) != len(loaders):
            return
        for loader, state in zip(loaders, states, strict=True):
            loader.load_state_dict(state)
        if rng is not None:  # the new iterator draws from the saved state, as the uninterrupted run's did
            set_rng_states(rng)
        iter(trainer.fit_loop._data_fetcher)  # a fresh iterator from the restored position (Lightning internals)

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_states(), "mid_epoch": self._mid_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_rng_states(state_dict["rng"])
        self._loaded_rng = state_dict["rng"]
        self._pending = state_dict["rng"] if state_dict.get("mid_epoch") else None


def _stopping(trainer: pl.Trainer) -> bool:
    """Whether Lightning stops after this step because of SIGTERM (``trainer.received_sigterm``); under several
    processes, whether any got it, so that all save together (the save ends with a barrier)."""
    if trainer.world_size <= 1:
        return trainer.received_sigterm
    return trainer.strategy.reduce_boolean_decision(trainer.received_sigterm, all=False)


def _train_loaders(trainer: pl.Trainer) -> list[ResumableLoader]:
    combined = trainer.fit_loop._combined_loader
    loaders = combined.flattened if combined is not None else []
    return [loader for loader in loaders if isinstance(loader, ResumableLoader)]

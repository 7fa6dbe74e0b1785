"""Run folders: every fresh run writes into its own ``<config folder>/<UTC start time>-<6 hex>/``, where the config
folder is ``<runs dir>/<task>/<benchmark>/<recipe>/<model>-s<seed>``; ``--resume`` picks one that has not finished.

Why: identical runs started together (same config, same seed) once shared one folder and deleted each other's
checkpoints and logs. A run holds an exclusive ``flock`` on its folder's ``.lock`` while it runs, so ``--resume`` never
picks a folder another process is writing, and writes the id of its record into ``record_id`` when it finishes.
``--resume`` takes the newest (latest started) unfinished folder that has ``checkpoints/last.ckpt`` and is not in use,
naming the others in a log line; a folder of the earlier layout (``checkpoints/`` right in the config folder) counts
as the oldest. Only global rank 0 creates or locks a folder; the other ranks of a distributed run take rank 0's
(``ZOO_RUN_FOLDER``, inherited by the processes Lightning launches) or, resuming, the same choice as rank 0.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from leaderboard.schema import model_slug

try:
    import fcntl
except ImportError:  # Windows: no locking; runs still get folders of their own
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)  # shown by the zoo command (cli.show_library_messages)

FINISHED = "record_id"  # holds the record id once the run's record is appended
LOCK = ".lock"
SHARED = "ZOO_RUN_FOLDER"  # rank 0's run folder, for the ranks Lightning launches from it


@dataclass
class RunFolder:
    """One run's folder, locked by this process while it runs (``release`` unlocks it)."""

    path: Path
    resumed: bool = False
    _lock: IO | None = None

    @property
    def last(self) -> Path:
        return self.path / "checkpoints" / "last.ckpt"

    def finish(self, record_id: str) -> None:
        """Mark the run finished: ``--resume`` no longer picks it."""
        (self.path / FINISHED).write_text(record_id + "\n", encoding="utf-8")

    def discard(self) -> None:
        """Delete the folder of a fresh run that stopped on bad input before writing a checkpoint."""
        shutil.rmtree(self.path, ignore_errors=True)

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None


def config_folder_of(runs_dir: Path, task: str, benchmark: str, recipe: str, model: str, seed: int) -> Path:
    """The folder that holds the runs of one configuration and seed (``model``: a record's model name)."""
    return Path(runs_dir) / task / benchmark / recipe / f"{model_slug(model)}-s{seed}"


def finished_run(config_folders: list[Path], record_id: str) -> Path | None:
    """The run folder in one of ``config_folders`` that finished with the record ``record_id`` (its ``record_id``
    file names it; a multi-task run's names its records separated by commas), or None. Why: a record does not name
    its run folder; the folder names its record."""
    for config_folder in config_folders:
        for path in [*sorted(config_folder.glob("*/")), config_folder]:
            marker = path / FINISHED
            if marker.is_file() and record_id in marker.read_text(encoding="utf-8").strip().split(","):
                return path
    return None


def open_run(config_folder: Path, resume: bool, rank: int = 0) -> RunFolder:
    """The folder of this run: a new one, or with ``resume`` the newest unfinished one (a new one if none)."""
    if rank != 0:
        return _other_rank(config_folder, resume)
    if resume:
        for index, path in enumerate(candidates := unfinished(config_folder)):
            lock = _lock(path)
            if lock is None:
                log.info(f"zoo: {path} is in use by another run: not resuming it")
                continue
            others = [str(p) for p in candidates[index + 1:]]
            if others:
                log.info(f"zoo: resuming {path}, the newest unfinished run; others: {', '.join(others)}")
            os.environ[SHARED] = str(path)
            return RunFolder(path, resumed=True, _lock=lock)
        log.info(f"zoo: no unfinished run in {config_folder} to resume: starting a new one")
    return new_run(config_folder)


def new_run(config_folder: Path) -> RunFolder:
    """A new, locked folder ``<UTC time>-<6 hex>`` in ``config_folder``."""
    config_folder.mkdir(parents=True, exist_ok=True)
    while True:
        path = config_folder / f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(3)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        os.environ[SHARED] = str(path)
        return RunFolder(path, _lock=_lock(path))


def unfinished(config_folder: Path) -> list[Path]:
    """Run folders with ``checkpoints/last.ckpt`` and no ``record_id``, newest first (the earlier layout last)."""
    found = sorted((p for p in config_folder.glob("*/") if _resumable(p)), key=lambda p: p.name, reverse=True)
    return found + ([config_folder] if _resumable(config_folder) else [])


def _resumable(path: Path) -> bool:
    return (path / "checkpoints" / "last.ckpt").is_file() and not (path / FINISHED).exists()


def _lock(path: Path) -> IO | None:
    """This process's exclusive lock on ``path``, or None when another process holds it."""
    handle = (path / LOCK).open("a")
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _other_rank(config_folder: Path, resume: bool) -> RunFolder:
    """Rank 0's folder when it was handed down, else (resuming) the same choice as rank 0, else a path this rank
    never writes (only global rank 0 writes checkpoints, logs and records)."""
    shared = os.environ.get(SHARED)
    if shared and Path(shared).parent == config_folder:
        return RunFolder(Path(shared), resumed=resume)
    candidates = unfinished(config_folder) if resume else []
    return RunFolder(candidates[0], resumed=True) if candidates else RunFolder(config_folder / ".not-rank-0")

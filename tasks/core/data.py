"""Data plumbing shared by the tasks: the cache folder, fingerprints, generated sets cached as Arrow.

Generated benchmarks are written once through Hugging Face ``datasets`` and reloaded from disk,
keyed by a fingerprint of (generator name, generator version, seed, sizes). Real datasets are
fingerprinted by the content of their source files, so a record names exactly the data it saw.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import datasets

T = TypeVar("T")

datasets.disable_progress_bars()


def load_hub(hub_id: str, *configuration: str) -> datasets.DatasetDict:
    """``datasets.load_dataset(hub_id, *configuration)``, touched only when a user names a hub id; a one-line
    ``ValueError`` naming the id when it cannot be loaded (offline, unknown id, no permission)."""
    try:
        return datasets.load_dataset(hub_id, *configuration)
    except Exception as error:  # datasets raises many types: ConnectionError, DatasetNotFoundError, ...
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"hub:{hub_id}: cannot load from the Hugging Face hub ({reason}); offline, give a local "
                         f"copy instead") from None


def cache_dir() -> Path:
    """Root of the zoo's caches: ``$ZOO_CACHE`` or ``~/.cache/zoo``."""
    return Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo"))


def fingerprint_params(**params: object) -> str:
    """Stable hex digest of JSON-serialisable parameters (key order does not matter)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint_files(paths: Iterable[Path]) -> str:
    """Hex digest over the names and contents of ``paths`` (sorted), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def cached_generated(
    name: str, fingerprint: str, build: Callable[[], dict[str, list[dict]]]
) -> datasets.DatasetDict:
    """Load a generated ``DatasetDict`` from the cache, or ``build()`` it and save it atomically.

    ``build`` returns split name → list of row dicts. A half-written cache entry is never visible:
    the set is saved to a temporary folder and renamed into place.
    """
    target = cache_dir() / "datasets" / f"{name}-{fingerprint}"
    if (target / "dataset_dict.json").exists():
        return datasets.load_from_disk(str(target))
    rows = build()
    built = datasets.DatasetDict({split: datasets.Dataset.from_list(items) for split, items in rows.items()})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        built.save_to_disk(str(tmp))
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race: use its copy
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return datasets.load_from_disk(str(target))


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise ``FileNotFoundError`` naming it and what it should be."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing ({what})")
    return path


def hold_out_indices(num_rows: int, size: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """``(kept, held)`` row indices, each in row order: ``size`` rows drawn by a ``random.Random(seed)`` shuffle are
    held out (validation carved from train, when a release has none)."""
    order = list(range(num_rows))
    random.Random(seed).shuffle(order)
    held = set(order[:size])
    return [i for i in range(num_rows) if i not in held], sorted(held)


def hold_out(rows: Sequence[T], size: int, seed: int = 0) -> tuple[list[T], list[T]]:
    """``(kept, held)`` rows, each in row order (``hold_out_indices``)."""
    kept, held = hold_out_indices(len(rows), size, seed)
    return [rows[i] for i in kept], [rows[i] for i in held]


def data_source(benchmark: str, data_dir: str | None, hint: str) -> str | Path:
    """Where a real benchmark's data is: a hub id (``hub:OWNER/NAME`` → ``OWNER/NAME``) or a local folder.

    A missing ``data_dir`` is a ``ValueError`` and a folder that does not exist a ``FileNotFoundError``, each naming
    what the benchmark expects (``hint``: the dataset's release layout)."""
    if not data_dir:
        raise ValueError(f"{benchmark} needs a data dir: {hint}")
    if data_dir.startswith("hub:"):
        return data_dir[4:]
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data dir not found (expected {hint})")
    return root


def generated_splits(name: str, generator: str, version: str, seed: int, sizes: dict[str, int],
                     build: Callable[[], dict[str, list[dict]]]) -> tuple[dict[str, list[dict]], str]:
    """A built-in benchmark's splits as row lists, generated once and cached as ``name``, and its fingerprint
    (of generator name, version, data seed and split sizes)."""
    fp = fingerprint_params(generator=generator, version=version, seed=seed, sizes=sizes)
    built = cached_generated(name, fp, build)
    return {split: built[split].to_list() for split in built}, fp

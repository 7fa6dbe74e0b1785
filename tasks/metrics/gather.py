"""Per-example records gathered across processes, for metrics computed over the whole corpus.

Captions, answers and reports are strings, and torchmetrics can only all-gather tensors. ``RecordMetric``
keeps one Python record per example in a list state (``records``: ``(example_id, payload)`` pairs) and,
under ``torch.distributed``, gathers the lists of every process with ``all_gather_object``. A record may carry
an example id; after gathering, a record whose id was already seen is dropped, so the examples that
Lightning's ``DistributedSampler`` repeats to even out the ranks in validation/test count once. Without ids
nothing is dropped.

Records keep the order in which they were added (after gathering: rank 0's, then rank 1's, ...).
``gather_rows`` does the same for plain rows (the harness's test predictions, ``zoo predict``'s rows).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch.nn import Module
from torchmetrics import Metric

Record = tuple[Hashable | None, Any]


def gather_objects(local: list[Any], group: Any | None = None) -> list[Any]:
    """Concatenate ``local`` from every process of ``group`` (rank order); ``local`` itself when not distributed."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(local)
    buckets: list[list[Any] | None] = [None] * dist.get_world_size(group)
    dist.all_gather_object(buckets, local, group=group)
    return [item for bucket in buckets for item in (bucket or [])]


def first_of_each(items: Sequence[Any], key: Callable[[Any], Hashable | None]) -> list[Any]:
    """``items`` in order, keeping only the first of those with the same ``key`` (items whose key is None all stay)."""
    seen: set[Hashable] = set()
    kept: list[Any] = []
    for item in items:
        item_key = key(item)
        if item_key is not None:
            if item_key in seen:
                continue
            seen.add(item_key)
        kept.append(item)
    return kept


def gather_rows(rows: Sequence[Mapping[str, Any]], key: str = "id", group: Any | None = None) -> list[Any]:
    """The rows of every process (rank order), the first row of each ``row[key]`` kept: a distributed sampler
    repeats examples to even out the ranks, and each must count once. ``rows`` itself, de-duplicated, when not
    distributed."""
    return first_of_each(gather_objects(list(rows), group), lambda row: row[key])


def check_ids(ids: Sequence[Hashable] | None, num_examples: int) -> list[Hashable | None]:
    """One id per example (``None`` when ``ids`` is ``None``); ``ValueError`` naming ``ids`` otherwise."""
    if ids is None:
        return [None] * num_examples
    if isinstance(ids, str) or len(ids) != num_examples:
        raise ValueError(f"ids must be a sequence of {num_examples} ids, got {ids!r}")
    for position, example_id in enumerate(ids):
        if not isinstance(example_id, Hashable):
            raise ValueError(f"ids[{position}] must be hashable, got {type(example_id).__name__}")
    return list(ids)


def check_lengths(field: str, values: Sequence[Any], num_examples: int) -> None:
    """``ValueError`` naming ``field`` unless it holds ``num_examples`` items."""
    if isinstance(values, str) or len(values) != num_examples:
        raise ValueError(f"{field} must hold {num_examples} items (one per prediction), got {len(values)}")


class RecordMetric(Metric):
    """A torchmetrics ``Metric`` whose state is a list of per-example records (see the module docstring).

    Subclasses call ``add_records(payloads, ids)`` in ``update`` and read ``unique_records()`` (the gathered,
    de-duplicated payloads) in ``compute``.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    records: list[Record]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("records", default=[], dist_reduce_fx=None)

    def add_records(self, payloads: Sequence[Any], ids: Sequence[Hashable] | None = None) -> None:
        """Append one record per payload, each with its id (or ``None``)."""
        self.records.extend(zip(check_ids(ids, len(payloads)), payloads, strict=True))

    def unique_records(self) -> list[Any]:
        """The payloads of all processes, keeping the first record of each id (records without id all stay)."""
        return [payload for _, payload in first_of_each(self.records, lambda record: record[0])]

    def synced_records(self) -> list[Any]:
        """``unique_records()`` over every process, also outside ``compute`` (which syncs by itself)."""
        if self._is_synced:
            return self.unique_records()
        with self.sync_context():
            return self.unique_records()

    def _sync_dist(self, dist_sync_fn: Callable | None = None, process_group: Any | None = None) -> None:
        """Gather the record lists with ``all_gather_object`` (torchmetrics' tensor gather cannot hold strings)."""
        self.records = gather_objects(self.records, process_group or self.process_group)

    def _apply(self, fn: Callable, exclude_state: Sequence[str] = ()) -> Module:
        """Move tensors as usual but leave the Python records alone (``.to(device)`` must not touch strings)."""
        return super()._apply(fn, exclude_state=(*exclude_state, "records"))


def as_tensor(value: float) -> torch.Tensor:
    """A float64 scalar tensor (metric values keep full precision for parity checks)."""
    return torch.tensor(value, dtype=torch.float64)

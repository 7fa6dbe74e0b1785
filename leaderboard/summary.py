"""Group records into leaderboard tables and rows, with mean and std over seeds.

A table is one (task, benchmark, split, primary metric, direction); a row is one
(model, recipe, precision, device kind, task version) group of records, usually the
same configuration run with several seeds. The user's own records (ids in `yours`) never share a
row with published ones, so a row is either published or the user's (`Row.yours`).
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from leaderboard.schema import Record


@dataclass(frozen=True, order=True)
class TableKey:
    """What makes records comparable in one ranked table."""

    task: str
    benchmark: str
    split: str
    primary_metric: str
    higher_is_better: bool


@dataclass(frozen=True)
class Row:
    """The summary of one group of records (one row of a table)."""

    model: str
    recipe: str
    precision: str
    device: str
    task_version: str
    seeds: tuple[int, ...]
    primary_mean: float
    primary_std: float | None  # sample std (ddof=1); None for a single record
    metric_means: Mapping[str, float] = field(hash=False)
    wall_seconds_mean: float
    num_parameters: tuple[int, ...]  # the distinct values, sorted
    record_ids: tuple[str, ...] = ()  # the records summarised, in input order
    yours: bool = False  # the user's own records (workspace), not the published leaderboard's

    @property
    def n(self) -> int:
        """How many records (seeds) the row summarises."""
        return len(self.seeds)


def table_key(record: Record) -> TableKey:
    """The table a (valid) record belongs to."""
    return TableKey(
        record["task"], record["benchmark"], record["split"],
        record["primary_metric"], record["higher_is_better"],
    )


def row_key(record: Record) -> tuple[str, str, str, str, str]:
    """The row a (valid) record belongs to within its table."""
    return (
        record["model"], record["recipe"], record["precision"],
        record["device"]["kind"], record["task_version"],
    )


def mean_std(values: Iterable[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof=1); the std is None for one value."""
    values = list(values)
    if not values:
        raise ValueError("mean_std needs at least one value")
    std = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), std


def summarise(records: list[Record], yours: bool = False) -> Row:
    """Summarise records of one row: mean ± std of the primary metric, other means; `yours` marks the user's."""
    first = records[0]
    primary = first["primary_metric"]
    mean, std = mean_std(record["metrics"][primary] for record in records)
    names = sorted({name for record in records for name in record["metrics"]})
    means = {
        name: statistics.fmean(r["metrics"][name] for r in records if name in r["metrics"])
        for name in names
    }
    model, recipe, precision, device, task_version = row_key(first)
    return Row(
        model=model,
        recipe=recipe,
        precision=precision,
        device=device,
        task_version=task_version,
        seeds=tuple(record["seed"] for record in records),
        primary_mean=mean,
        primary_std=std,
        metric_means=MappingProxyType(means),
        wall_seconds_mean=statistics.fmean(record["wall_seconds"] for record in records),
        num_parameters=tuple(sorted({record["num_parameters"] for record in records})),
        record_ids=tuple(record["id"] for record in records),
        yours=yours,
    )


def rank(rows: Iterable[Row], higher_is_better: bool) -> list[Row]:
    """Rows best first by primary mean; ties broken by model, then recipe."""
    sign = -1.0 if higher_is_better else 1.0
    return sorted(rows, key=lambda row: (sign * row.primary_mean, row.model, row.recipe))


def build_tables(records: Iterable[Record], yours: Collection[str] = ()) -> dict[TableKey, list[Row]]:
    """Group valid records into tables (sorted by key) of ranked rows; records whose id is in `yours` are the
    user's and form rows of their own."""
    grouped: dict[TableKey, dict[tuple[tuple[str, ...], bool], list[Record]]] = {}
    for record in records:
        rows = grouped.setdefault(table_key(record), {})
        rows.setdefault((row_key(record), record["id"] in yours), []).append(record)
    return {
        key: rank((summarise(group, mine) for (_, mine), group in grouped[key].items()), key.higher_is_better)
        for key in sorted(grouped)
    }

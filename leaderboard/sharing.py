"""The sharing comparison (issue 27): single-task, multi-task and multi-task → fine-tuned rows per benchmark.

A record is single-task (a `zoo-` model trained on its task alone), multi-task (`config.multitask`, written by
`zoo bench --multitask`: one backbone trained on every task, `num_parameters` and `wall_seconds` the whole run's)
or multi-task → fine-tuned (`init_from.task` is "multitask"). Reference models and transfers from a single-task
start are left out. Records compare within one (table, recipe, base model): "zoo-small-multitask" and
"zoo-small←multitask@…" are compared with "zoo-small". Published and the user's own records are pooled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean

from leaderboard.formatting import (
    direction,
    format_count,
    format_mean_std,
    format_seconds,
    format_value,
    metric_header,
)
from leaderboard.schema import START_MARK, Record
from leaderboard.summary import TableKey, mean_std, table_key

MULTITASK = "multitask"  # the config key and start task of a multi-task run (benchmarks.multitask.MODEL; not
# imported: benchmarks needs torch, the leaderboard does not)
SINGLE, MULTI, FINETUNED = "single-task", "multi-task", "multi-task → fine-tuned"
KINDS = (SINGLE, MULTI, FINETUNED)
MULTI_SHARE = 0.95  # issue 27's targets: multi-task keeps ≥ 95% of the single-task primary metric,
MULTI_FACTOR = 1.2  # or ≤ 1.2 × it for a lower-is-better metric;
FINETUNED_STDS = 2.0  # fine-tuned beats single-task by more than 2 std of the single-task seeds;
PARAMETER_SHARE = 0.40  # a multi-task run has ≤ 40% of the five single-task runs' parameters, and less wall time
NONE = "—"
RUN_HEADER = ["", "seeds (n)", "params (mean)", "wall s (mean)"]  # the columns of a run summary table
TITLE = "Sharing: single-task, multi-task, multi-task → fine-tuned"  # the section's heading
NOTE = ("One backbone for every task: per benchmark, the zoo model trained on that task alone "
        "(single-task), trained on all tasks at once (multi-task) and fine-tuned on the task from a multi-task "
        "checkpoint, each the mean ± sample std over seeds. A multi-task run's parameters and wall time are the "
        "whole run's (all tasks).")


@dataclass(frozen=True, order=True)
class SharingKey:
    """What a sharing table compares within: one benchmark table, recipe and base model."""

    table: TableKey
    recipe: str
    model: str


@dataclass(frozen=True)
class KindRow:
    """One kind's records of a sharing table, summarised over seeds."""

    kind: str
    seeds: tuple[int, ...]
    primary_mean: float
    primary_std: float | None  # sample std (ddof=1); None for one seed
    num_parameters_mean: float
    wall_seconds_mean: float
    ratio: float | None  # primary mean / the single-task one; None without single-task rows


@dataclass(frozen=True)
class RunSummary:
    """A multi-task (model, recipe)'s whole run against the sum of the single-task rows of its benchmarks."""

    model: str
    recipe: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    num_parameters_mean: float
    wall_seconds_mean: float
    single_parameters: float  # sum over tasks of the single-task rows' means; 0 when some are missing
    single_wall_seconds: float
    missing: tuple[str, ...]  # "task (benchmark/split)" without single-task rows


def kind_of(record: Record) -> str | None:
    """The record's kind for the sharing comparison; None when it takes no part."""
    start = record.get("init_from")
    if start is not None:
        return FINETUNED if start.get("task") == MULTITASK else None
    if isinstance(record.get("config"), dict) and MULTITASK in record["config"]:
        return MULTI
    return SINGLE if record["model"].startswith("zoo-") else None


def sharing_key(record: Record) -> SharingKey:
    """The sharing table of a record: its table, recipe and model without the multi-task or start mark."""
    base = record["model"].split(START_MARK, 1)[0].removesuffix(f"-{MULTITASK}")
    return SharingKey(table_key(record), record["recipe"], base)


def kind_rows(records: list[Record]) -> list[KindRow]:
    """A row per kind present among one sharing table's `records`, in KINDS order, with its ratio to single-task."""
    by_kind: dict[str, list[Record]] = {}
    for record in records:
        by_kind.setdefault(kind_of(record) or "", []).append(record)
    single = by_kind.get(SINGLE)
    base = fmean(r["metrics"][r["primary_metric"]] for r in single) if single else None
    rows = []
    for kind in (kind for kind in KINDS if kind in by_kind):
        group = by_kind[kind]
        mean, std = mean_std(r["metrics"][r["primary_metric"]] for r in group)
        rows.append(KindRow(kind, tuple(r["seed"] for r in group), mean, std, fmean(r["num_parameters"] for r in group),
                            fmean(r["wall_seconds"] for r in group), mean / base if base else None))
    return rows


def sharing_tables(records: Iterable[Record]) -> dict[SharingKey, list[KindRow]]:
    """Kind rows per sharing table (sorted), only for tables with multi-task or fine-tuned records."""
    grouped: dict[SharingKey, list[Record]] = {}
    for record in records:
        if kind_of(record) is not None:
            grouped.setdefault(sharing_key(record), []).append(record)
    tables = {key: kind_rows(group) for key, group in sorted(grouped.items())}
    return {key: rows for key, rows in tables.items() if any(row.kind != SINGLE for row in rows)}


def run_summaries(records: Iterable[Record]) -> list[RunSummary]:
    """One summary per multi-task (model, recipe): its runs (records of one run share seed and wall seconds)
    against the single-task rows of the benchmarks its records name."""
    records = list(records)
    runs: dict[tuple[str, str], list[Record]] = {}
    for record in (r for r in records if kind_of(r) == MULTI):
        runs.setdefault((record["model"], record["recipe"]), []).append(record)
    summaries = []
    for (model, recipe), group in sorted(runs.items()):
        seeds = {(r["seed"], r["wall_seconds"]): r for r in group}  # one record per run
        tasks = tuple(dict.fromkeys(t for r in group for t in r["config"][MULTITASK]["tasks"]))
        single = _single_sums(records, group, tasks)
        summaries.append(RunSummary(model, recipe, tasks, tuple(seed for seed, _ in seeds),
                                    fmean(r["num_parameters"] for r in seeds.values()),
                                    fmean(r["wall_seconds"] for r in seeds.values()), *single))
    return summaries


def _single_sums(records: list[Record], multi: list[Record],
                 tasks: tuple[str, ...]) -> tuple[float, float, tuple[str, ...]]:
    """(sum of mean parameters, sum of mean wall seconds, missing tasks) of the single-task rows that match the
    multi-task records' tables, recipe and base model, over `tasks`."""
    wanted = {sharing_key(r) for r in multi}
    parameters = wall = 0.0
    missing = []
    for task in tasks:
        keys = sorted(key for key in wanted if key.table.task == task)
        rows = [r for r in records if kind_of(r) == SINGLE and sharing_key(r) in keys]
        if not rows:
            where = ", ".join(f"{k.table.benchmark}/{k.table.split}" for k in keys) or "no multi-task record"
            missing.append(f"{task} ({where})")
            continue
        parameters += fmean(r["num_parameters"] for r in rows)
        wall += fmean(r["wall_seconds"] for r in rows)
    return (0.0, 0.0, tuple(missing)) if missing else (parameters, wall, ())


def format_ratio(ratio: float | None, higher_is_better: bool) -> str:
    """A metric ratio: "96%" when higher is better, "1.10 ×" when lower is; NONE when there is none."""
    if ratio is None:
        return NONE
    return f"{ratio:.0%}" if higher_is_better else f"{ratio:.2f} ×"


def title(key: SharingKey) -> str:
    """The heading text of a sharing table."""
    table = key.table
    return (f"{table.task} / {table.benchmark} / {table.split} — {key.model}, recipe {key.recipe} — primary "
            f"metric: {table.primary_metric} ({direction(table.higher_is_better)})")


def header_cells(key: SharingKey) -> list[str]:
    """The column titles of a sharing table (plain text)."""
    return ["kind", "seeds (n)", f"{metric_header(key.table.primary_metric)} mean ± std", "vs single-task",
            "params (mean)", "wall s (mean)"]


def row_cells(key: SharingKey, row: KindRow) -> list[str]:
    """The cells (plain text) of one kind row."""
    run = " (whole run)" if row.kind == MULTI else ""
    return [row.kind, str(len(row.seeds)), format_mean_std(key.table.primary_metric, row.primary_mean, row.primary_std),
            format_ratio(row.ratio, key.table.higher_is_better),
            format_count(round(row.num_parameters_mean)) + run, format_seconds(row.wall_seconds_mean) + run]


def target_lines(key: SharingKey, rows: list[KindRow]) -> list[str]:
    """Issue 27's targets for the kinds present, each with whether it holds."""
    metric, higher = key.table.primary_metric, key.table.higher_is_better
    by_kind = {row.kind: row for row in rows}
    single = by_kind.get(SINGLE)
    lines = []
    if MULTI in by_kind:
        multi = by_kind[MULTI]
        goal = f"≥ {MULTI_SHARE:.0%} of" if higher else f"≤ {MULTI_FACTOR:g} ×"
        line = f"Target: multi-task {metric} {goal} single-task"
        if multi.ratio is None:
            lines.append(f"{line}: no single-task rows to compare.")
        else:
            holds = multi.ratio >= MULTI_SHARE if higher else multi.ratio <= MULTI_FACTOR
            lines.append(f"{line}: {format_ratio(multi.ratio, higher)}, {_verdict(holds)}.")
    if FINETUNED in by_kind:
        line = (f"Target: multi-task → fine-tuned beats single-task by more than {FINETUNED_STDS:g} std of the "
                "single-task seeds")
        if single is None or single.primary_std is None:
            lines.append(f"{line}: {'no single-task rows' if single is None else 'one single-task seed, no std'}.")
        else:
            gain = (by_kind[FINETUNED].primary_mean - single.primary_mean) * (1 if higher else -1)
            margin = FINETUNED_STDS * single.primary_std
            lines.append(f"{line}: gain {'+' if gain >= 0 else ''}{format_value(metric, gain)} against "
                         f"{FINETUNED_STDS:g} std = {format_value(metric, margin)}, {_verdict(gain > margin)}.")
    return lines


def run_cells(summary: RunSummary) -> list[list[str]]:
    """The rows (plain text) of a run summary table: multi-task run, single-task sum, ratio."""
    n = len(summary.tasks)
    return [
        [f"multi-task run ({n} tasks, whole run)", str(len(summary.seeds)),
         format_count(round(summary.num_parameters_mean)), format_seconds(summary.wall_seconds_mean)],
        [f"single-task rows, sum over {n} tasks", NONE, format_count(round(summary.single_parameters)),
         format_seconds(summary.single_wall_seconds)],
        ["multi-task / single-task", NONE, _share(summary.num_parameters_mean, summary.single_parameters),
         _share(summary.wall_seconds_mean, summary.single_wall_seconds)],
    ]


def run_title(summary: RunSummary) -> str:
    """The heading text of a run summary."""
    return f"Multi-task run {summary.model}, recipe {summary.recipe}: {', '.join(summary.tasks)}"


def run_line(summary: RunSummary) -> str:
    """Issue 27's run target (parameters and wall time) and whether it holds, or which tasks lack single-task rows."""
    if summary.missing:
        return f"Not compared: no single-task rows for {', '.join(summary.missing)}."
    params = summary.num_parameters_mean <= PARAMETER_SHARE * summary.single_parameters
    wall = summary.wall_seconds_mean < summary.single_wall_seconds
    return (f"Target: the multi-task run has ≤ {PARAMETER_SHARE:.0%} of the single-task parameters "
            f"({_share(summary.num_parameters_mean, summary.single_parameters)}, {_verdict(params)}) and less wall "
            f"time ({_share(summary.wall_seconds_mean, summary.single_wall_seconds)}, {_verdict(wall)}).")


def _share(part: float, whole: float) -> str:
    """`part` as a percentage of `whole`; NONE when `whole` is 0."""
    return f"{part / whole:.0%}" if whole else NONE


def _verdict(holds: bool) -> str:
    """Words for whether a target holds."""
    return "holds" if holds else "does not hold"

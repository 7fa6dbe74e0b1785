"""``zoo reproduce``: re-run exactly what a record describes and compare, metric by metric.

Everything is checked before any training: the task version of the code equals the record's,
the record's config rebuilds into the task's ``Config``, the data is there (a real benchmark
needs its data dir: the record's, or ``--data-dir``) and its fingerprint equals the record's.
A transfer record (``init_from``) also needs its start: the checkpoint at its recorded place in the runs dir
(``init_from.checkpoint`` is relative to it), or the file given again with ``--init-from``; its sha256 must equal
the record's, and the rerun loads it the same way. A multi-task record is reproduced by re-running its whole
multi-task run (its tasks, recipe and seed) and comparing that run's record of the same task. Any of these failing raises ``CannotReproduce`` (exit 2). The
rerun writes into a temporary
records dir, never the leaderboard; the tolerance rule is ``benchmarks.tolerance``. An interrupted rerun (SIGINT,
SIGTERM) raises ``benchmarks.interrupts.Interrupted`` out of ``reproduce``: no verdict, and the zoo command exits
130 or 143, never 0 or 1.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.definitions import Benchmark, get_benchmark
from benchmarks.environment import git_state
from benchmarks.multitask import MODEL as MULTITASK
from benchmarks.multitask import is_multitask, run_multitask
from benchmarks.run import DATA_ROOT_ENV, RunOptions, Start, resolve_start, run_benchmark
from benchmarks.tolerance import Tolerance, group_of, tolerance_for
from leaderboard.predictions import predictions_file, read_predictions
from leaderboard.schema import START_MARK, Record
from leaderboard.errors import RecordError
from leaderboard.store import read_records, user_runs_dir
from tasks import get_task
from tasks import multitask as mt
from tasks.core.contract import config_from_dict
from tasks.core.transfer import file_sha256

MISSING = object()  # a config field one side lacks


class CannotReproduce(ValueError):
    """The record cannot be re-run as it was made; the message is the one-line reason."""


@dataclass(frozen=True)
class MetricCheck:
    """One metric of a record next to its reproduced value."""

    name: str
    recorded: float
    new: float | None  # None: the rerun did not report it
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.new is not None and abs(self.new - self.recorded) <= self.tolerance


def select(record: Record, records: list[Record], seeds: Sequence[int] | None) -> list[Record]:
    """The records to reproduce: `record`, or its configuration's records for `seeds`."""
    if not seeds:
        return [record]
    group = group_of(record, records)
    chosen = []
    for seed in seeds:
        same = [r for r in group if r["seed"] == seed]
        if not same:
            recorded = ", ".join(str(s) for s in sorted({r["seed"] for r in group}))
            raise CannotReproduce(f"no record of the configuration of {record['id']} has seed {seed} "
                                  f"(recorded seeds: {recorded})")
        chosen.append(record if record in same else same[0])
    return chosen


def plan(record: Record, data_dir: str | None = None, data_root: str | None = None,
         start: Start | None = None) -> RunOptions:
    """The run that reproduces `record` (from `start`, a transfer record's), after checking task version, config,
    data dir and fingerprint."""
    task = get_task(record["task"])
    if task.SPEC.version != record["task_version"]:
        raise CannotReproduce(f"task version differs: the record was made with {record['task']} "
                              f"v{record['task_version']}, this code is v{task.SPEC.version}")
    if is_multitask(record):
        return _multitask_plan(record)
    try:
        config = config_from_dict(task.Config, record["config"])
    except (TypeError, ValueError) as error:
        raise CannotReproduce(f"the record's config does not fit this code's {record['task']} Config: "
                              f"{str(error).splitlines()[0]}") from None
    bench = get_benchmark(record["task"], record["benchmark"])
    config = _with_data(config, bench, data_dir, data_root)
    if record["device"]["kind"] == "cuda" and not torch.cuda.is_available():
        raise CannotReproduce("the record was made on cuda and there is no CUDA device here")
    datamodule = task.DataModule(config, seed=record["seed"])
    datamodule.setup("fit")
    if datamodule.fingerprint != record["data_fingerprint"]:
        source = getattr(config, "data_dir", None) or "the generated data"
        raise CannotReproduce(f"data fingerprint differs: the record saw {record['data_fingerprint']}, "
                              f"{source} gives {datamodule.fingerprint}")
    return RunOptions(task=record["task"], benchmark=bench.name, recipe=record["recipe"], seed=record["seed"],
                      model=_model_option(record, task.SPEC.models), accelerator=record["device"]["kind"],
                      devices=record["device"]["count"], precision=record["precision"], config=config,
                      progress_bar=False, init_from=start)


def _multitask_plan(record: Record) -> RunOptions:
    """The multi-task run that made ``record``: its tasks, recipe and seed (the run's other settings are the
    recipe's; the rerun's config hash says whether they still are)."""
    shared = record["config"][MULTITASK]
    unknown = sorted(set(shared.get("tasks", [])) - set(mt.TASKS))
    if unknown or not shared.get("tasks"):
        raise CannotReproduce(f"the multi-task run's tasks {shared.get('tasks')} are not all tasks of this code")
    if record["device"]["kind"] == "cuda" and not torch.cuda.is_available():
        raise CannotReproduce("the record was made on cuda and there is no CUDA device here")
    return RunOptions(task=record["task"], recipe=record["recipe"], seed=record["seed"],
                      accelerator=record["device"]["kind"], devices=record["device"]["count"],
                      precision=record["precision"], progress_bar=False)


def _rerun(target: Record, options: RunOptions) -> Record:
    """Run ``options`` again: one benchmark run, or the whole multi-task run and its record of ``target``'s task."""
    if not is_multitask(target):
        return run_benchmark(options)
    records = run_multitask(options, tuple(target["config"][MULTITASK]["tasks"]))
    return next(r for r in records if r["task"] == target["task"])


def find_start(record: Record, init_from: str | None, runs_dir: Path, records_dirs: Sequence[Path]) -> Start | None:
    """A transfer record's start, with the record's sha256: `init_from` (a file or record id, --init-from), else
    `runs_dir`/init_from.checkpoint; None for a from-scratch record. CannotReproduce naming what is missing."""
    entry = record.get("init_from")
    if entry is None:
        if init_from:
            raise CannotReproduce("the record started from scratch: --init-from is only for a transfer record")
        return None
    wanted = entry["sha256"]
    named = f"its start, the {entry['task']} checkpoint {entry['checkpoint']} (sha256 {wanted[:12]}"
    named += f", record {entry['record']})" if "record" in entry else ")"
    if init_from:
        try:
            start = resolve_start(init_from, records_dirs, runs_dir)
        except (ValueError, FileNotFoundError) as error:
            raise CannotReproduce(str(error)) from None
    else:
        path = Path(runs_dir) / entry["checkpoint"]
        if not path.is_file():
            raise CannotReproduce(f"{named}, is not found at {path}: give it with --init-from CKPT, or the runs "
                                  f"dir that holds it with --runs-dir")
        start = Start(path, file_sha256(path), entry.get("record"))
    if start.sha256 != wanted:
        raise CannotReproduce(f"{named}: {start.path} is another file (sha256 {start.sha256[:12]})")
    return Start(start.path, start.sha256, entry.get("record"))


def _with_data(config: Any, bench: Benchmark, data_dir: str | None, data_root: str | None = None) -> Any:
    """The config with the data folder to use: `data_dir` (--data-dir), else the record's data_dir (a name relative to
    the data root) or the benchmark's name under `data_root` (--data-root, else $ZOO_DATA); CannotReproduce when a
    real benchmark's data is not found. Why: records name their data portably, each machine keeps it elsewhere."""
    if data_dir is not None:
        if bench.builtin:
            raise CannotReproduce(f"benchmark {bench.name} is generated; --data-dir is only for real benchmarks")
        if not Path(data_dir).is_dir() and not data_dir.startswith("hub:"):
            raise CannotReproduce(f"data dir {data_dir} (--data-dir) not found ({bench.data_hint})")
        return dataclasses.replace(config, data_dir=data_dir)
    source = getattr(config, "data_dir", None)
    if bench.builtin or (source and source.startswith("hub:")):
        return config
    found = find_data(source, bench.name, data_root)
    if found is None:
        root = data_root or os.environ.get(DATA_ROOT_ENV)
        recorded = f"recorded as {source}" if source else "the record names no data_dir"
        looked = f"not under {root}" if root else f"no data root: {DATA_ROOT_ENV} and --data-root are unset"
        raise CannotReproduce(f"the data of benchmark {bench.name} ({recorded}) is not found ({looked}): give "
                              f"--data-dir PATH, or set {DATA_ROOT_ENV} or --data-root to the folder that holds "
                              f"it ({bench.data_hint})")
    return dataclasses.replace(config, data_dir=str(found))


def find_data(source: str | None, benchmark: str, data_root: str | None = None) -> Path | None:
    """The first existing folder of: `<root>/<source>` and `<root>/<benchmark>` (root: `data_root`, else
    $ZOO_DATA), then `source` itself when it is an absolute path (a record made before data_dir was portable)."""
    root = data_root or os.environ.get(DATA_ROOT_ENV)
    candidates = []
    if root:
        if source and not Path(source).is_absolute():
            candidates.append(Path(root) / source)
        candidates.append(Path(root) / benchmark)
    if source and Path(source).is_absolute():
        candidates.append(Path(source))
    return next((path for path in candidates if path.is_dir()), None)


def _model_option(record: Record, models: Sequence[str]) -> str:
    """The harness's model option that names a run `record['model']` ("zoo-tiny" and "zoo-tiny←captioning@1a2b3c"
    come from "zoo")."""
    model = record["model"].split(START_MARK, 1)[0]
    if model in models:
        return model
    if model.startswith("zoo-") and "zoo" in models:
        return "zoo"
    raise CannotReproduce(f"model {model!r} is not one this code offers ({', '.join(models)})")


def compare(recorded: Record, rerun: Record, tolerance: Tolerance) -> list[MetricCheck]:
    """Each recorded metric beside the rerun's value and its tolerance."""
    return [MetricCheck(name, value, rerun["metrics"].get(name), tolerance.per_metric[name])
            for name, value in recorded["metrics"].items()]


def _table(checks: list[MetricCheck]) -> list[str]:
    """The aligned table: metric, recorded, new, difference, tolerance, ok/FAIL."""
    rows = [("metric", "recorded", "new", "difference", "tolerance", "ok")]
    for c in checks:
        new, diff = ("—", "—") if c.new is None else (f"{c.new:.6f}", f"{c.new - c.recorded:+.3g}")
        rows.append((c.name, f"{c.recorded:.6f}", new, diff, f"{c.tolerance:.3g}", "ok" if c.ok else "FAIL"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(text.ljust(w) for text, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _same_predictions(recorded: Record, rerun: Record, records_dir: Path, rerun_dir: Path) -> str | None:
    """"k of n test predictions identical", when both runs have a predictions file."""
    old, new = predictions_file(recorded, records_dir), predictions_file(rerun, rerun_dir)
    if old is None or new is None or not old.is_file():
        return None
    before = {row["id"]: row["prediction"] for row in read_predictions(old)}
    after = read_predictions(new)
    same = sum(before.get(row["id"], object()) == row["prediction"] for row in after)
    return f"predictions: {same} of {len(before)} recorded test predictions identical"


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the config fields whose values differ, including fields only one side has (a field that
    the code added after the record was made, at its default, shows up here too)."""
    names = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, MISSING), new.get(key, MISSING)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            names += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            names.append(f"{prefix}{key}" + (" (new)" if a is MISSING else " (gone)" if b is MISSING else ""))
    return names


def _report(recorded: Record, rerun: Record, tolerance: Tolerance, checks: list[MetricCheck],
            extra: str | None) -> list[str]:
    """The lines printed for one reproduced record."""
    commit, dirty = git_state()
    differing = ", ".join(config_differences(recorded["config"], rerun["config"])) or "value types only, e.g. 1 vs 1.0"
    config = ("identical" if rerun["config_hash"] == recorded["config_hash"]
              else f"hash {rerun['config_hash']} (differs in {differing})")
    lines = [
        f"record {recorded['id']}",
        f"  {recorded['task']} v{recorded['task_version']}, {recorded['benchmark']}, {recorded['recipe']}, "
        f"{recorded['model']}, seed {recorded['seed']}, {rerun['precision']}, "
        f"{rerun['device']['kind']} ×{rerun['device']['count']}",
        f"  data fingerprint {recorded['data_fingerprint']}: same; config {recorded['config_hash']}: {config}",
        f"  code: recorded at {recorded['git_commit'][:12]}{' (dirty)' if recorded['git_dirty'] else ''}, "
        f"now {commit[:12]}{' (dirty)' if dirty else ''}",
        *([_start_line(recorded["init_from"])] if "init_from" in recorded else []),
        f"  tolerance: {tolerance.explanation}",
        *("  " + line for line in _table(checks)),
    ]
    return lines + ([f"  {extra}"] if extra else [])


def _start_line(entry: Mapping[str, Any]) -> str:
    """The line that names a transfer record's start and what it loaded."""
    record = f", record {entry['record']}" if "record" in entry else ""
    return (f"  start: {entry['task']} checkpoint {entry['checkpoint']} (sha256 {entry['sha256'][:12]}{record}): "
            f"same; loaded {', '.join(entry['loaded'])}")


def reproduce(record_id: str, records_dir: Path, seeds: Sequence[int] | None = None,
              data_dir: str | None = None, say: Callable[[str], None] = print, data_root: str | None = None,
              init_from: str | None = None, runs_dir: Path | None = None,
              start_records: Sequence[Path] | None = None) -> int:
    """Re-run a record (or its configuration's records for `seeds`), print the comparison and a verdict.

    A transfer record's start is looked up in `runs_dir` (default: the user's runs dir) or given as `init_from`
    (a checkpoint file, or a record id looked up in `start_records`, default `records_dir`).

    Returns 0 when every metric is within tolerance, 1 otherwise; raises CannotReproduce (or another
    ValueError / FileNotFoundError naming the problem) when it cannot re-run.
    """
    records = read_records(records_dir)
    record = next((r for r in records if r["id"] == record_id), None)
    if record is None:
        raise RecordError(f"no record with id {record_id!r} in {records_dir}")
    try:
        targets = select(record, records, seeds)
        runs = Path(runs_dir) if runs_dir is not None else user_runs_dir()
        starts = [find_start(target, init_from, runs, start_records or [Path(records_dir)]) for target in targets]
        plans = [plan(target, data_dir, data_root, start)  # every check before any training
                 for target, start in zip(targets, starts, strict=True)]
    except CannotReproduce as error:
        raise CannotReproduce(f"cannot reproduce {record_id}: {error}") from None
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="zoo-reproduce-") as scratch:
        rerun_dir = Path(scratch) / "records"
        for target, options in zip(targets, plans, strict=True):
            rerun = _rerun(target, dataclasses.replace(options, records_dir=rerun_dir, runs_dir=Path(scratch) / "runs"))
            tolerance = tolerance_for(target, rerun, group_of(target, records))
            checks = compare(target, rerun, tolerance)
            extra = _same_predictions(target, rerun, Path(records_dir), rerun_dir)
            for line in _report(target, rerun, tolerance, checks, extra):
                say(line)
            seed = f" (seed {target['seed']})" if len(targets) > 1 else ""
            failed += [f"{check.name}{seed}" for check in checks if not check.ok]
    if failed:
        say(f"verdict: NOT reproduced: {', '.join(failed)} outside tolerance")
        return 1
    say(f"verdict: reproduced: every metric of {len(targets)} record(s) within tolerance")
    return 0

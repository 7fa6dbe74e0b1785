"""The leaderboard record schema: field lists, validation and the config hash.

A record is one JSON object describing one finished benchmark run. `validate_record`
checks every field and raises `RecordError` naming the first offending field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from leaderboard.checks import (
    Checker,
    check_bool,
    check_created_at,
    check_device,
    check_dict,
    check_hex,
    check_init_from,
    check_int,
    check_metrics,
    check_name,
    check_nonneg_float,
    check_recipe,
    check_record_id,
    check_relative_path,
    check_samples,
    check_str,
    check_task_name,
    check_versions,
    int_at_least,
    optional,
    type_name,
)
from leaderboard.errors import RecordError

__all__ = [
    "OPTIONAL_FIELDS", "REQUIRED_FIELDS", "Record", "RecordError", "START_MARK", "config_hash", "model_slug",
    "transfer_model", "validate_record",
]

Record = dict[str, Any]  # one leaderboard record, as decoded from JSON
START_MARK = "←"  # a transfer run's model: "<model>←<start task>@<start sha256[:6]>"

_REQUIRED_CHECKS: Mapping[str, Checker] = MappingProxyType({
    "id": check_record_id,
    "task": check_task_name,
    "task_version": check_name,
    "model": check_name,
    "benchmark": check_name,
    "split": check_name,
    "data_fingerprint": check_hex,
    "recipe": check_recipe,
    "config": check_dict,
    "config_hash": check_hex,
    "seed": check_int,
    "metrics": check_metrics,
    "primary_metric": check_name,
    "higher_is_better": check_bool,
    "steps": int_at_least(0),
    "epochs": int_at_least(0),
    "wall_seconds": check_nonneg_float,
    "train_samples_per_second": check_nonneg_float,
    "peak_memory_mb": check_nonneg_float,
    "num_parameters": int_at_least(0),  # 0: a reference without weights (majority baseline)
    "num_test_examples": int_at_least(1),
    "device": check_device,
    "precision": check_name,
    "versions": check_versions,
    "git_commit": check_str,
    "git_dirty": check_bool,
    "created_at": check_created_at,
})

_OPTIONAL_CHECKS: Mapping[str, Checker] = MappingProxyType({
    "time_to_target_seconds": optional(check_nonneg_float),
    "time_to_target_step": optional(int_at_least(0)),
    "predictions": optional(check_relative_path),
    "notes": check_str,
    "samples": check_samples,
    "init_from": check_init_from,
})

REQUIRED_FIELDS: tuple[str, ...] = tuple(_REQUIRED_CHECKS)
OPTIONAL_FIELDS: tuple[str, ...] = tuple(_OPTIONAL_CHECKS)


def validate_record(record: Record) -> None:
    """Check a record against the schema; raise RecordError naming the bad field.

    Unknown keys are reported first, then missing ones, then each field's value in
    the order of REQUIRED_FIELDS, then the optional fields present, and finally
    that `primary_metric` is one of the `metrics`.
    """
    if not isinstance(record, dict):
        raise RecordError(f"a record must be an object (dict), got {type_name(record)}")
    known = (*_REQUIRED_CHECKS, *_OPTIONAL_CHECKS)
    unknown = sorted(str(key) for key in record if key not in known)
    if unknown:
        raise RecordError("unknown key (not a required or optional field)", field=unknown[0])
    for field in REQUIRED_FIELDS:
        if field not in record:
            raise RecordError("missing required field", field=field)
    for field, check in (*_REQUIRED_CHECKS.items(), *_OPTIONAL_CHECKS.items()):
        if field in record:
            check(record[field], field)
    _check_start(record)
    if record["primary_metric"] not in record["metrics"]:
        raise RecordError(
            f"{record['primary_metric']!r} is not a key of metrics {sorted(record['metrics'])}",
            field="primary_metric",
        )


def transfer_model(model: str, task: str, sha256: str) -> str:
    """The model name of a run that started from a checkpoint of `task` with this sha256, e.g.
    "zoo-tiny←captioning@1a2b3c". Why in the name: the leaderboard's rows and `zoo reproduce`'s seed groups are
    keyed by model, so a transfer row never shares a row with from-scratch runs or with runs from another start."""
    return f"{model}{START_MARK}{task}@{sha256[:6]}"


def model_slug(model: str) -> str:
    """`model` as a part of record ids and run folder names: ASCII, "zoo-tiny-from-captioning-1a2b3c"."""
    return model.replace(START_MARK, "-from-").replace("@", "-")


def _check_start(record: Record) -> None:
    """A record has `init_from` exactly when its model names a start, and then the model names that start."""
    start = record.get("init_from")
    if start is None:
        if START_MARK in record["model"]:
            raise RecordError(f"names a start ({START_MARK}) but the record has no init_from", field="model")
        return
    base = record["model"].split(START_MARK, 1)[0]
    expected = transfer_model(base, start["task"], start["sha256"])
    if record["model"] != expected:
        raise RecordError(f"must be {expected!r} for its init_from, got {record['model']!r}", field="model")


def config_hash(config: dict[str, Any]) -> str:
    """Return the first 16 hex chars of the sha256 of the config's canonical JSON.

    Canonical JSON: `json.dumps(config, sort_keys=True, separators=(",", ":"))`, so
    the hash does not depend on key order. A `data_dir` is hashed as null: where the data
    lies is no part of the configuration (the record's `data_fingerprint` says which data
    it is), so the same run from another folder has the same hash. Raises RecordError if
    `config` is not JSON-serialisable.
    """
    if isinstance(config, dict) and config.get("data_dir") is not None:
        config = {**config, "data_dir": None}
    try:
        text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise RecordError(f"is not JSON-serialisable: {error}", field="config") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

"""Value checkers for record fields.

Each checker takes (value, field name) and raises RecordError naming the field
when the value is bad; `schema` maps every record field to one of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from leaderboard.errors import RecordError

Checker = Callable[[Any, str], None]

RECIPES: frozenset[str] = frozenset({"smoke", "quick", "standard", "gpu"})
MAX_SAMPLES = 20
SAMPLE_KEYS: frozenset[str] = frozenset({"id", "prediction", "reference"})
SAMPLE_INPUT_KEYS: frozenset[str] = frozenset({"text", "image", "transcript"})  # shown in the HTML gallery
DEVICE_KEYS: frozenset[str] = frozenset({"kind", "count", "name"})
INIT_FROM_KEYS: frozenset[str] = frozenset({"task", "checkpoint", "sha256", "loaded", "not_loaded"})
INIT_FROM_OPTIONAL: frozenset[str] = frozenset({"record"})

TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HEX = re.compile(r"[0-9a-f]+")
_IMAGE_URI = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+\Z")


def type_name(value: object) -> str:
    """The type's name of `value`, for messages."""
    return type(value).__name__


def check_str(value: Any, field: str) -> None:
    """Any string."""
    if not isinstance(value, str):
        raise RecordError(f"must be a string, got {type_name(value)}", field=field)


def check_name(value: Any, field: str) -> None:
    """A string that is not blank."""
    check_str(value, field)
    if not value.strip():
        raise RecordError("must be a non-empty string", field=field)


def check_record_id(value: Any, field: str) -> None:
    """A non-empty string without whitespace."""
    check_name(value, field)
    if any(ch.isspace() for ch in value):
        raise RecordError(f"must not contain whitespace, got {value!r}", field=field)


def check_task_name(value: Any, field: str = "task") -> None:
    """Check that a task name is a non-empty string usable as a file name."""
    check_str(value, field)
    if not TASK_NAME.fullmatch(value):
        raise RecordError(
            f"must match {TASK_NAME.pattern} (it names the records file), got {value!r}",
            field=field,
        )


def check_hex(value: Any, field: str) -> None:
    """A non-empty lowercase hexadecimal string."""
    check_str(value, field)
    if not _HEX.fullmatch(value):
        raise RecordError(f"must be lowercase hexadecimal, got {value!r}", field=field)


def check_recipe(value: Any, field: str) -> None:
    """One of RECIPES."""
    check_str(value, field)
    if value not in RECIPES:
        raise RecordError(f"must be one of {sorted(RECIPES)}, got {value!r}", field=field)


def check_bool(value: Any, field: str) -> None:
    """A real bool (not 0/1)."""
    if not isinstance(value, bool):
        raise RecordError(f"must be a boolean, got {type_name(value)}", field=field)


def check_int(value: Any, field: str) -> None:
    """An int (a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"must be an integer, got {type_name(value)}", field=field)


def int_at_least(minimum: int) -> Checker:
    """A checker for an int >= `minimum`."""
    def check(value: Any, field: str) -> None:
        check_int(value, field)
        if value < minimum:
            raise RecordError(f"must be >= {minimum}, got {value}", field=field)

    return check


def check_finite(value: Any, field: str) -> None:
    """A finite int or float (a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"must be a number, got {type_name(value)}", field=field)
    if not math.isfinite(value):
        raise RecordError(f"must be a finite number, got {value}", field=field)


def check_nonneg_float(value: Any, field: str) -> None:
    """A finite number >= 0."""
    check_finite(value, field)
    if value < 0:
        raise RecordError(f"must be >= 0, got {value}", field=field)


def check_dict(value: Any, field: str) -> None:
    """A dict."""
    if not isinstance(value, dict):
        raise RecordError(f"must be an object (dict), got {type_name(value)}", field=field)


def check_metrics(value: Any, field: str) -> None:
    """A non-empty dict of metric name -> finite number."""
    check_dict(value, field)
    if not value:
        raise RecordError("must not be empty", field=field)
    for key, number in value.items():
        check_name(key, f"{field} key")
        check_finite(number, f"{field}.{key}")


def check_versions(value: Any, field: str) -> None:
    """A dict of package name -> version string."""
    check_dict(value, field)
    for key, version in value.items():
        check_name(key, f"{field} key")
        check_str(version, f"{field}.{key}")


def check_exact_keys(value: dict[str, Any], allowed: frozenset[str], field: str) -> None:
    """Exactly the keys `allowed`: no unknown key, none missing."""
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise RecordError(f"unknown key {unknown[0]!r}", field=f"{field}.{unknown[0]}")
    missing = sorted(allowed - set(value))
    if missing:
        raise RecordError("missing required key", field=f"{field}.{missing[0]}")


def check_device(value: Any, field: str) -> None:
    """{'kind': str, 'count': int >= 1, 'name': str}."""
    check_dict(value, field)
    check_exact_keys(value, DEVICE_KEYS, field)
    check_name(value["kind"], f"{field}.kind")
    int_at_least(1)(value["count"], f"{field}.count")
    check_str(value["name"], f"{field}.name")


def check_created_at(value: Any, field: str) -> None:
    """An ISO-8601 UTC date-time ending in 'Z'."""
    check_str(value, field)
    problem = f"must be an ISO-8601 UTC timestamp ending in 'Z', got {value!r}"
    if not value.endswith("Z") or "T" not in value:
        raise RecordError(problem, field=field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(problem, field=field) from None
    if parsed.utcoffset() != timedelta(0):
        raise RecordError(problem, field=field)


def optional(check: Checker) -> Checker:
    """A checker that also accepts None."""
    def check_or_none(value: Any, field: str) -> None:
        if value is not None:
            check(value, field)

    return check_or_none


def check_sample_input(value: Any, field: str) -> None:
    """What a sample's model saw: {"text"?, "image"?, "transcript"?} strings; an image is a data: URI."""
    check_dict(value, field)
    unknown = sorted(set(value) - SAMPLE_INPUT_KEYS)
    if unknown:
        raise RecordError(f"unknown key {unknown[0]!r}", field=f"{field}.{unknown[0]}")
    for key, text in value.items():
        check_str(text, f"{field}.{key}")
    image = value.get("image")
    if image is not None and not _IMAGE_URI.match(image):
        raise RecordError("must be a data:image/(png|jpeg|gif|webp);base64, URI", field=f"{field}.image")


def check_samples(value: Any, field: str) -> None:
    """A list of at most MAX_SAMPLES {'id', 'prediction', 'reference'} dicts, each with an optional 'input'."""
    if not isinstance(value, list):
        raise RecordError(f"must be a list, got {type_name(value)}", field=field)
    if len(value) > MAX_SAMPLES:
        raise RecordError(f"at most {MAX_SAMPLES} samples, got {len(value)}", field=field)
    for index, sample in enumerate(value):
        where = f"{field}[{index}]"
        check_dict(sample, where)
        check_exact_keys({k: v for k, v in sample.items() if k != "input"}, SAMPLE_KEYS, where)
        if "input" in sample:
            check_sample_input(sample["input"], f"{where}.input")


def check_relative_path(value: Any, field: str) -> None:
    """A relative POSIX path inside the records dir: no leading '/', no '..' part."""
    check_name(value, field)
    if value.startswith("/") or ".." in value.split("/") or "\\" in value:
        raise RecordError(f"must be a path relative to the records dir, got {value!r}", field=field)


def check_init_from(value: Any, field: str) -> None:
    """Where a transfer run's weights started: {"task": the checkpoint's task, "checkpoint": its path relative to
    the runs dir (else its file name), "sha256": 64 hex, "loaded": non-empty list of groups, "not_loaded": {group:
    reason}, "record"?: the id of the record whose run ended with it}."""
    check_dict(value, field)
    check_exact_keys({k: v for k, v in value.items() if k not in INIT_FROM_OPTIONAL}, INIT_FROM_KEYS, field)
    check_task_name(value["task"], f"{field}.task")
    check_relative_path(value["checkpoint"], f"{field}.checkpoint")
    check_hex(value["sha256"], f"{field}.sha256")
    if len(value["sha256"]) != 64:
        raise RecordError(f"must be 64 hex digits (a sha256), got {len(value['sha256'])}", field=f"{field}.sha256")
    loaded = value["loaded"]
    if not isinstance(loaded, list) or not loaded:
        raise RecordError("must be a non-empty list of parameter groups (a start that loaded nothing is no "
                          "transfer)", field=f"{field}.loaded")
    for index, group in enumerate(loaded):
        check_name(group, f"{field}.loaded[{index}]")
    check_dict(value["not_loaded"], f"{field}.not_loaded")
    for group, reason in value["not_loaded"].items():
        check_name(group, f"{field}.not_loaded key")
        check_str(reason, f"{field}.not_loaded.{group}")
    if "record" in value:
        check_record_id(value["record"], f"{field}.record")

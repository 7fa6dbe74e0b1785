"""One-off migration (issue 24): make the committed records' ``config.data_dir`` portable.

Records made before it hold the absolute path of the machine that made them (``<data root>/sst2``). This
rewrites each such ``data_dir`` to its name relative to the data root (``sst2``), recomputes ``config_hash`` (which
no longer covers ``data_dir``: the ``data_fingerprint`` identifies the data) and says so in ``notes``. Ids, metrics
and every other field stay as they are; records already portable are left untouched, so a second run changes
nothing. Each file is rewritten atomically and the result is validated before it replaces the old one.

    python scripts/migrate_data_dirs.py [--records-dir leaderboard/records] [--data-root DIR (default $ZOO_DATA)]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import portable_data_dir  # noqa: E402
from leaderboard.schema import config_hash, validate_record  # noqa: E402
from leaderboard.store import PUBLISHED_DIR, read_records, rewrite_lines  # noqa: E402


def migrate(record: dict, data_root: str | None) -> dict:
    """The record with a portable data_dir and its config_hash recomputed; the same record if nothing changes."""
    source = record["config"].get("data_dir")
    if not source or not Path(source).is_absolute():
        return record
    portable = portable_data_dir(source, data_root)
    config = {**record["config"], "data_dir": portable}
    note = (f"migrated (issue 24): config.data_dir was the machine path {source}, now {portable} (relative to "
            f"the data root); config_hash recomputed without data_dir")
    notes = f"{record['notes']}; {note}" if record.get("notes") else note
    migrated = {**record, "config": config, "config_hash": config_hash(config), "notes": notes}
    validate_record(migrated)
    return migrated


def migrate_file(path: Path, data_root: str | None) -> int:
    """Rewrite `path` atomically with every record migrated; returns how many records changed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    migrated = [migrate(record, data_root) for record in records]
    changed = sum(new is not old for new, old in zip(migrated, records, strict=True))
    if not changed:
        return 0
    text = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in migrated)
    rewrite_lines(path, lambda _: [text.encode("utf-8")])
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records-dir", type=Path, default=PUBLISHED_DIR)
    parser.add_argument("--data-root", default=os.environ.get("ZOO_DATA"),
                        help="the folder the absolute paths are made relative to (else: the folder's name)")
    args = parser.parse_args(argv)
    total = 0
    for path in sorted(args.records_dir.glob("*.jsonl")):
        changed = migrate_file(path, args.data_root)
        total += changed
        print(f"{path}: {changed} record(s) migrated")
    read_records(args.records_dir)  # the whole store still validates
    print(f"{total} record(s) migrated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

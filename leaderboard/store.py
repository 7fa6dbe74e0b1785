"""Append-only JSON-lines storage of leaderboard records, one file per task.

Records live in `<directory>/<task>.jsonl`, one JSON object per line. Appends are
safe with several writer processes: the file is opened with O_APPEND, locked with an
exclusive `flock`, the whole line is written with one `os.write`, then fsynced.
Readers take a shared lock. Nothing is ever skipped: a corrupt or invalid line makes
reading fail with the file and line number.

Two places hold records: the published leaderboard shipped with the project (`PUBLISHED_DIR`,
`leaderboard/records`, written only when asked for explicitly) and the user's workspace
(`workspace()`: `$ZOO_HOME`, else `./zoo-runs`), where runs write their records and run folders.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from leaderboard.checks import check_task_name
from leaderboard.errors import RecordError
from leaderboard.schema import Record, validate_record

PUBLISHED_DIR = Path(__file__).parent / "records"
DEFAULT_DIR = PUBLISHED_DIR  # the functions' default folder: the published leaderboard
WORKSPACE_ENV = "ZOO_HOME"
WORKSPACE_DEFAULT = Path("zoo-runs")
SUFFIX = ".jsonl"
_CHUNK = 1 << 20


def workspace() -> Path:
    """The user's workspace: `$ZOO_HOME` if set, else `./zoo-runs`; a user's runs never write into the package."""
    home = os.environ.get(WORKSPACE_ENV, "").strip()
    return Path(home).expanduser() if home else WORKSPACE_DEFAULT


def user_records_dir() -> Path:
    """Where a run appends its record by default: `<workspace>/records`."""
    return workspace() / "records"


def user_runs_dir() -> Path:
    """Where a run's checkpoints and logs go by default: `<workspace>/runs`."""
    return workspace() / "runs"


def is_published(directory: Path) -> bool:
    """Whether `directory` is the published leaderboard's records folder (compared after resolving links)."""
    return Path(directory).resolve() == PUBLISHED_DIR.resolve()


def locate_record(record_id: str, directories: list[Path]) -> Path:
    """The first of `directories` that holds the record `record_id`; RecordError naming them all if none does."""
    for directory in directories:
        if any(record["id"] == record_id for record in read_records(directory)):
            return Path(directory)
    places = " or ".join(str(directory) for directory in directories)
    raise RecordError(f"no record with id {record_id!r} in {places}")


def records_file(task: str, directory: Path = DEFAULT_DIR) -> Path:
    """Return the path of the records file of `task` in `directory`."""
    check_task_name(task)
    return Path(directory) / f"{task}{SUFFIX}"


def encode_record(record: Record) -> bytes:
    """Encode a record as one UTF-8 JSON line ending in a newline."""
    try:
        text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise RecordError(f"record is not JSON-serialisable: {error}") from None
    return (text + "\n").encode("utf-8")


def _read_fd(fd: int) -> bytes:
    """Read a whole open file from offset 0, whatever its current position."""
    chunks: list[bytes] = []
    offset = 0
    while chunk := os.pread(fd, _CHUNK, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _read_shared(path: Path) -> bytes:
    """Read a records file under a shared lock; a missing file reads as empty."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return b""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return _read_fd(fd)
    finally:
        os.close(fd)  # closing releases the lock


def read_locked(path: Path) -> bytes:
    """The bytes of a records file, read under the same shared lock as `read_records`."""
    return _read_shared(Path(path))


def _parse_lines(data: bytes, path: Path) -> Iterator[tuple[int, Record]]:
    """Yield (line number, object) for each line; RecordError on a line that is not one."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            raise RecordError("corrupt line: empty", path=path, line=number)
        try:
            parsed = json.loads(raw)
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
            problem = f"corrupt line, not valid JSON: {error}"
            raise RecordError(problem, path=path, line=number) from None
        if not isinstance(parsed, dict):
            problem = f"corrupt line: JSON {type(parsed).__name__}, not an object"
            raise RecordError(problem, path=path, line=number)
        yield number, parsed


def _refuse_duplicate(record_id: str, data: bytes, path: Path) -> None:
    """Raise RecordError if a line of `data` (read from `path`) has id `record_id`."""
    for number, existing in _parse_lines(data, path):
        if existing.get("id") == record_id:
            problem = f"duplicate id {record_id!r}: already at {path}:{number}; not written"
            raise RecordError(problem, field="id")


def _write_line(fd: int, line: bytes, restore_size: int) -> None:
    """Write `line` with one os.write and fsync; on failure cut the file back."""
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write: {written} of {len(line)} bytes")
        os.fsync(fd)
    except BaseException:
        os.ftruncate(fd, restore_size)
        raise


def _fsync_directory(directory: Path) -> None:
    """Make a newly created file's directory entry durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rewrite_lines(path: Path, rewrite: Callable[[list[bytes]], list[bytes]]) -> None:
    """Replace the records file `path` by `rewrite(its lines)` (each with its newline), under the file's exclusive
    lock, through a fsynced temporary file renamed into place: a reader sees the old file or the new one. For
    one-off maintenance (re-scoring, migrations), never while a run appends to the same file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = b"".join(rewrite(_read_fd(fd).splitlines(keepends=True)))
        handle = tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", delete=False)
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(handle.name, 0o644)
            os.replace(handle.name, path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)
    finally:
        os.close(fd)


def _open_locked(path: Path) -> int:
    """Open `path` for appending (created if missing) under an exclusive lock. Why the loop: a writer whose first
    append failed removes the empty file, so a writer that waited for the lock reopens the file now at `path`."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def append_record(record: Record, directory: Path = DEFAULT_DIR) -> Path:
    """Validate `record` and append it as one line to `<directory>/<task>.jsonl`.

    An invalid record, or one whose id is already in any records file of the
    directory, raises RecordError and nothing is written. Returns the file path.
    """
    validate_record(record)
    line = encode_record(record)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = records_file(record["task"], directory)
    for other in sorted(directory.glob(f"*{SUFFIX}")):
        if other != path:
            _refuse_duplicate(record["id"], _read_shared(other), other)
    existing = b""
    fd = _open_locked(path)
    try:
        existing = _read_fd(fd)
        _refuse_duplicate(record["id"], existing, path)
        if existing and not existing.endswith(b"\n"):
            line = b"\n" + line  # a hand-edited file without a final newline
        try:
            _write_line(fd, line, restore_size=len(existing))
        except BaseException:
            if not existing:  # a failed first append (full disk) leaves no empty file behind
                path.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)  # closing releases the lock
    if not existing:
        _fsync_directory(directory)
    return path


def _check_stored(record: Record, path: Path, number: int, seen: dict[str, str]) -> None:
    """Validate a record read from `path` line `number`; `seen` maps id -> first place."""
    try:
        validate_record(record)
    except RecordError as error:
        raise error.at(path, number) from None
    if record["task"] != path.stem:
        problem = f"record of task {record['task']!r} in the file of task {path.stem!r}"
        raise RecordError(problem, field="task", path=path, line=number)
    place = f"{path}:{number}"
    first = seen.setdefault(record["id"], place)
    if first != place:
        problem = f"duplicate id {record['id']!r}, first at {first}"
        raise RecordError(problem, field="id", path=path, line=number)


def read_records(directory: Path = DEFAULT_DIR, task: str | None = None) -> list[Record]:
    """Read and validate every record of `directory` (only `task`'s file if given).

    Files are read in name order and lines in file order. A corrupt or invalid line,
    or a repeated id, raises RecordError with the file path and line number. A
    missing directory or file reads as no records.
    """
    directory = Path(directory)
    if task is not None:
        paths = [records_file(task, directory)]
    else:
        paths = sorted(directory.glob(f"*{SUFFIX}"))
    records: list[Record] = []
    seen: dict[str, str] = {}
    for path in paths:
        for number, record in _parse_lines(_read_shared(path), path):
            _check_stored(record, path, number, seen)
            records.append(record)
    return records


def find_record(record_id: str, directory: Path = DEFAULT_DIR) -> Record:
    """Return the record with id `record_id`; RecordError if there is none."""
    for record in read_records(directory):
        if record["id"] == record_id:
            return record
    raise RecordError(f"no record with id {record_id!r} in {directory}", field="id")

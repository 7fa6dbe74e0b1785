"""Checks on users' input data: one-line errors naming the file, row or field, or a logged, documented fix.

``DataError`` (a ``ValueError``) is the error every loader raises for bad input; the ``zoo`` command prints
its first line as ``zoo: error: ...`` and exits 2 (``ZOO_DEBUG=1`` shows the traceback). What is an error
and what is handled:

* non-UTF-8 text (``read_text``, ``text_lines``): error naming the file, line and byte;
* empty text (``require_text``), a missing column (``require_columns``), an eval label unseen in train
  (``check_label``): error naming the file/row and the field;
* a manifest path that leaves the data folder, by ``..``, as an absolute path or through a symlink that points
  outside it (``resolve_inside``): error naming the manifest row and the path (and the link);
* a NaN or empty label (``require_label``): error naming the row;
* non-image files in an image folder (``list_images``): skipped, one warning naming them;
* a malformed YAML config (``load_yaml``): error naming the file, line and column;
* audio (``tasks.core.audio.load_audio``): corrupt, truncated, empty or NaN/inf → error naming the file; another
  sample rate → resampled to 16 kHz, more than one channel → averaged to mono (each logged once per rate/channel count);
* over-long text: truncated to the task's ``max_length`` tokens by the tokenizer (the Config field says so).

Handled cases log a WARNING on the ``zoo.inputs`` logger, so they show on stderr without any logging set-up.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

LOG = logging.getLogger("zoo.inputs")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_ONCE: set[str] = set()  # keys of conversions already logged in this process


class DataError(ValueError):
    """Bad user input; the message starts with the file (and row or field) it is about."""


def log_once(key: str, message: str, level: int = logging.WARNING) -> None:
    """Log ``message`` on ``zoo.inputs`` the first time ``key`` is seen in this process (conversions applied
    to every file of a dataset, such as resampling, are reported once, not per file)."""
    if key not in _ONCE:
        _ONCE.add(key)
        LOG.log(level, message)


def read_text(path: str | Path) -> str:
    """The whole of a UTF-8 text file; ``DataError`` naming the file, line and byte offset if it is not UTF-8.
    A UTF-8 byte-order mark is dropped."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
                        "re-save the file as UTF-8") from None


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, line without its "\\n" or "\\r\\n")`` of a UTF-8 text file, numbered from 1 (see
    ``read_text``). Only newlines end a line (not the other characters ``str.splitlines`` splits on)."""
    lines = read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line.removesuffix("\r")


def require_text(value: Any, where: str, field: str) -> str:
    """``value`` stripped; ``DataError`` "where: field 'field' is empty" for None, a non-string or blank text."""
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: field {field!r} is empty" if isinstance(value, str) or value is None
                        else f"{where}: field {field!r} must be text, got {type(value).__name__}")
    return value.strip()


def require_label(value: Any, where: str, field: str = "label") -> str:
    """``value`` as label text; ``DataError`` naming the row for an empty label or a NaN one (a float NaN from
    JSONL or parquet, or the text NaN that pandas and spreadsheets write for a missing cell), which would
    otherwise become a class of its own."""
    if (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and value.strip().lower() == "nan"):
        raise DataError(f"{where}: field {field!r} is NaN (a missing value); give the row a label or remove it")
    return require_text(value if value is None else str(value), where, field)


def require_columns(columns: Iterable[str], required: Iterable[str], where: str) -> None:
    """``DataError`` naming the first of ``required`` that ``columns`` lacks, and the columns that exist."""
    present = list(columns)
    missing = [name for name in required if name not in present]
    if missing:
        raise DataError(f"{where}: missing column {missing[0]!r} (columns: {', '.join(map(str, present)) or 'none'})")


def check_label(label: Any, known: Collection[Any], where: str, field: str = "label") -> Any:
    """``label`` if it is one of ``known`` (the labels inferred from train), else ``DataError`` naming it."""
    if label not in known:
        shown = ", ".join(map(repr, sorted(known, key=str)[:20]))
        raise DataError(f"{where}: {field} {label!r} is not one of the train labels ({shown})")
    return label


def resolve_inside(root: str | Path, relative: str, where: str) -> Path:
    """``root / relative``; ``DataError`` if ``relative`` is absolute, climbs out of ``root`` with ``..``, or
    passes through a symlink that points outside ``root`` (the error names the link): a data folder is
    self-contained, so what it holds is what its fingerprint and a copy of it hold.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise DataError(f"{where}: empty file path")
    normal = os.path.normpath(relative)
    if Path(relative).is_absolute() or normal == ".." or normal.startswith(".." + os.sep):
        raise DataError(f"{where}: path {relative!r} is outside the data folder {root}")
    path = Path(root) / normal
    inside = Path(root).resolve()
    link = Path(root)
    for part in Path(normal).parts:
        link = link / part
        if not link.is_symlink():
            continue
        try:
            target = link.resolve()
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            raise DataError(f"{where}: path {relative!r}: {link} is a symlink loop") from None
        if not target.is_relative_to(inside):
            raise DataError(f"{where}: path {relative!r} is a symlink ({link} -> {os.readlink(link)}) that leaves the "
                            f"data folder {root}; copy the file into the folder")
    return path


def list_images(folder: str | Path) -> list[Path]:
    """The image files (by suffix, ``IMAGE_SUFFIXES``) directly in ``folder``, sorted by name.

    Other files are skipped with one WARNING naming them (hidden files such as ``.DS_Store`` silently);
    a folder with no image at all is a ``DataError``. Whether an image file decodes is checked when it is read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    skipped = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if skipped:
        LOG.warning("%s: skipped %d non-image file(s): %s%s", folder, len(skipped), ", ".join(skipped[:5]),
                    ", ..." if len(skipped) > 5 else "")
    if not images:
        raise DataError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return images


def load_yaml(path: str | Path) -> Any:
    """A YAML file parsed with ``yaml.safe_load``; ``DataError`` "file:line:column: malformed YAML (problem)"."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: config file not found")
    try:
        return yaml.safe_load(read_text(path))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        place = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise DataError(f"{place}: malformed YAML ({error.problem or error.context})") from None
    except yaml.YAMLError as error:
        raise DataError(f"{path}: malformed YAML ({str(error).splitlines()[0]})") from None

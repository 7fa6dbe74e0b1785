"""Up-front checks of the files that own-data examples refer to: every image and audio file is looked at once, at
setup, before any training step, so a typo or a damaged file in a late row fails the run at once, naming the row,
rather than when its batch loads (possibly hours in).

The checks are generic over the example keys the tasks use: ``image_path`` and ``image_source`` (a path; bytes are
hub images already decoded) hold images, ``source`` holds audio. They are cheap: an image's header is read (PIL opens
it without decoding the pixels; it must have a size), an audio file's header through ``soundfile.info`` (readable,
at least one frame). A file damaged past its header still fails later, when it is decoded, naming the file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.core.inputs import DataError

FILE_KEYS = {"image_path": "image", "image_source": "image", "source": "audio"}  # example key → kind of file
PROGRESS_FROM = 500  # files; fewer are checked without a progress bar


def referenced_files(examples: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, tuple[str, str]]:
    """Path → (kind, where) of every file the ``(where, example)`` pairs name, each once (its first row)."""
    files: dict[str, tuple[str, str]] = {}
    for where, example in examples:
        for key, kind in FILE_KEYS.items():
            value = example.get(key)
            if isinstance(value, (str, Path)) and str(value) not in files:
                files[str(value)] = (kind, where)
    return files


def file_problem(path: str | Path, kind: str) -> str | None:
    """Why the ``kind`` ("image" or "audio") file ``path`` cannot be used, or None when it looks readable."""
    path = Path(path)
    if not path.is_file():
        return "not found" if not path.exists() else "is not a file"
    if kind == "image":
        from PIL import Image

        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception as error:  # PIL raises several types (UnidentifiedImageError, OSError, SyntaxError, ...)
            return f"is not a readable image ({_reason(error, path)})"
        return None if width > 0 and height > 0 else f"is an empty image ({width}x{height})"
    if kind == "audio":
        import soundfile

        try:
            frames = soundfile.info(str(path)).frames
        except Exception as error:  # soundfile.LibsndfileError, RuntimeError, OSError
            return f"is not readable audio ({_reason(error, path)})"
        return None if frames > 0 else "holds no audio samples"
    raise ValueError(f"file_problem: unknown kind {kind!r} (use image or audio)")


def check_files(examples: Sequence[tuple[str, Mapping[str, Any]]], what: str = "files") -> int:
    """Check every file the ``(where, example)`` pairs refer to; the first bad one is a one-line ``DataError``
    naming its row (``where``) and the file. Returns how many files were checked. A large set shows a progress bar
    (tqdm on stderr, when it is a terminal); ``what`` labels it."""
    files = referenced_files(examples)
    bar = None
    if len(files) >= PROGRESS_FROM and sys.stderr.isatty():
        from tqdm.std import tqdm

        bar = tqdm(total=len(files), desc=f"zoo: checking {what}", unit="file", file=sys.stderr, leave=False)
    try:
        for path, (kind, where) in files.items():
            problem = file_problem(path, kind)
            if problem is not None:
                raise DataError(f"{where}: {kind} file {path} {problem}")
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()  # cleared, so that an error line starts on a line of its own
    return len(files)


def _reason(error: BaseException, path: Path) -> str:
    """The first line of an exception's message without the file name (the error names it already), or the
    exception's type name when nothing is left."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = text.replace(repr(str(path)), "").replace(str(path), "")
    text = re.sub(r"^Error( opening)?\s*:\s*", "", text.strip())  # soundfile: "Error opening '<path>': <why>"
    return text.strip(" :") or type(error).__name__

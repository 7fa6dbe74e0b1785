"""The one exception type of the leaderboard package."""

from __future__ import annotations

from pathlib import Path


class RecordError(ValueError):
    """A record (or a line of a record file) is invalid; the message is one line.

    Attributes: `problem` (what is wrong), `field` (dotted field name or None),
    `path` and `line` (where the record was read from, when known).
    """

    def __init__(
        self,
        problem: str,
        *,
        field: str | None = None,
        path: str | Path | None = None,
        line: int | None = None,
    ) -> None:
        """Build the error; newlines in `problem` become spaces (one-line messages)."""
        self.problem = " ".join(problem.split("\n"))
        self.field = field
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(self._message())

    def _message(self) -> str:
        """"<path>:<line>: field '<field>': <problem>", leaving out what is unknown."""
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        what = f"field {self.field!r}: " if self.field is not None else ""
        return f"{where}{what}{self.problem}"

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickle support (the keyword-only constructor needs it), e.g. across processes."""
        return (_rebuild, (self.problem, self.field, self.path, self.line))

    def at(self, path: str | Path, line: int | None = None) -> RecordError:
        """Return a copy of this error located at `path` (and `line`)."""
        return RecordError(self.problem, field=self.field, path=path, line=line)



def _rebuild(problem: str, field: str | None, path: str | None, line: int | None) -> RecordError:
    """Unpickle a RecordError."""
    return RecordError(problem, field=field, path=path, line=line)

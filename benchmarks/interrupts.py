"""SIGINT and SIGTERM for the ``zoo`` command: an interrupted run exits 130 or 143 with one line, never 0.

``install()`` replaces Python's SIGINT handler and the default SIGTERM action with ``_handler``. Outside a Lightning
run it raises ``Interrupted`` at once (start-up, data loading, between runs). While a ``Trainer`` runs, Lightning's
own SIGTERM handler is installed and calls ours as well: ours only records the signal, and Lightning stops at the end
of the current step (``SIGTERMException``), after ``ResumePoint`` has written ``last.ckpt`` for that step. SIGINT
(Ctrl-C) stops at once; the last periodic checkpoint stays valid, since it is written aside and renamed into place.
Why: Lightning turns SIGTERM into ``SystemExit()``, which is exit status 0, and SIGINT into exit status 1.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as shells report it
_received: list[int] = []  # signals received since install()


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM (a KeyboardInterrupt, so that no ``except Exception`` swallows it and
    DataLoader workers end quietly), with where it stopped when the run knows: the step, the stage, and the
    checkpoint it can resume from with the step that checkpoint holds."""

    def __init__(self, signum: int, step: int | None = None, stage: str | None = None,
                 checkpoint: Path | None = None, checkpoint_step: int | None = None) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.step, self.stage = int(signum), step, stage
        self.checkpoint, self.checkpoint_step = checkpoint, checkpoint_step

    def where(self, checkpoint: bool = True) -> str:
        """``at step 13 (training); last checkpoint: step 13, PATH``, or ``before training started``."""
        if self.step is None:
            return "before training started"
        where = f"at step {self.step}" + (f" ({self.stage})" if self.stage else "")
        if not checkpoint:
            return where
        if self.checkpoint is None:
            return f"{where}; no checkpoint was written"
        held = f"step {self.checkpoint_step}, " if self.checkpoint_step is not None else ""
        return f"{where}; last checkpoint: {held}{self.checkpoint}"


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if signal.getsignal(signum) is _handler:  # no Lightning handler around ours: stop here
        raise Interrupted(signum)
    # else Lightning called us from its SIGTERM handler: it stops the run at the end of the current step


def install() -> dict[int, Any]:
    """Handle SIGINT and SIGTERM as the module docstring says; return the handlers it replaced (for ``restore``).
    Outside the main thread (where ``signal`` cannot set handlers) it does nothing."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in EXIT_STATUS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # `nohup` or `cmd &` in a script: stay ignored
            previous[signum] = signal.signal(signum, _handler)
    return previous


def restore(previous: dict[int, Any]) -> None:
    """Put back the handlers ``install`` replaced (the zoo command can be called in-process, e.g. by tests)."""
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def signal_of(error: BaseException) -> int | None:
    """The signal that ``error`` comes from (SIGINT or SIGTERM), or None when it is not an interruption."""
    if isinstance(error, Interrupted):
        return error.signum
    lightning_exceptions = sys.modules.get("lightning.pytorch.utilities.exceptions")  # not imported: not raised
    if lightning_exceptions is not None and isinstance(error, lightning_exceptions.SIGTERMException):
        return signal.SIGTERM
    if isinstance(error, KeyboardInterrupt):
        return signal.SIGINT
    if isinstance(error, SystemExit) and _received:  # Lightning's sys.exit(1) after a KeyboardInterrupt
        return _received[-1]
    return None


def as_interrupted(error: BaseException) -> Interrupted | None:
    """``error`` as an ``Interrupted`` (without step), or None when it is not an interruption."""
    if isinstance(error, Interrupted):
        return error
    signum = signal_of(error)
    return None if signum is None else Interrupted(signum)


def report(error: Interrupted, what: str) -> int:
    """Print one line ``zoo: interrupted by SIG...: WHAT`` on stderr; return 130 (SIGINT) or 143 (SIGTERM)."""
    from benchmarks.console import close_bars

    close_bars()
    print(f"zoo: interrupted by {signal.Signals(error.signum).name} {what}", file=sys.stderr, flush=True)
    return EXIT_STATUS.get(signal.Signals(error.signum), 128 + error.signum)

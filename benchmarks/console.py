"""Lines the ``zoo`` command prints while Lightning may be drawing progress bars.

A progress bar redraws its own line with carriage returns and no newline, so a plain ``print`` during a run
would continue that line. ``say`` clears the open bars first, writes the line, and lets the bars redraw below.
"""

from __future__ import annotations

import sys
from typing import IO

from tqdm.std import tqdm


def open_bars() -> list[tqdm]:
    """The tqdm bars that have been drawn and not yet closed."""
    return [bar for bar in list(getattr(tqdm, "_instances", [])) if not bar.disable and hasattr(bar, "start_t")]


def say(text: str, stream: IO[str] | None = None) -> None:
    """Write ``text`` as a line of its own on ``stream`` (default: stdout), even while a progress bar is open."""
    stream = stream if stream is not None else sys.stdout
    if open_bars():
        tqdm.write(text, file=stream)
    else:
        print(text, file=stream)
    stream.flush()


def close_bars() -> None:
    """Close the open bars, leaving nothing on their lines (before a final error line)."""
    for bar in open_bars():
        bar.leave = False
        bar.close()

"""How the ``zoo`` command reports a user error: one line ``zoo: error: ...`` and exit status 2, or the traceback
when ``ZOO_DEBUG`` is set."""

from __future__ import annotations

import os
import sys

USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError)  # bad names, data, files; a NaN loss


def report(error: BaseException) -> int:
    """Print the first line of ``error`` as ``zoo: error: ...`` and return 2; re-raise it under ``ZOO_DEBUG``."""
    if os.environ.get("ZOO_DEBUG"):
        raise error
    from benchmarks.console import close_bars

    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    close_bars()  # a run stopped mid-epoch leaves its bar open: the error starts a line of its own
    print(f"zoo: error: {message}", file=sys.stderr, flush=True)
    return 2

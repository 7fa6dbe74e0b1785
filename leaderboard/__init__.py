"""The leaderboard: validated, append-only records of benchmark runs, and their rendering.

Standard library only (no torch): the harness writes a run's test predictions with
`write_predictions` and appends its record with `append_record`; `write_readme` renders all
records into leaderboard/README.md, `write_pages` into it and the static leaderboard/index.html;
`leaderboard.integrity` finds every problem in a records dir.
"""

from leaderboard.errors import RecordError
from leaderboard.html import render_html, write_pages
from leaderboard.predictions import read_predictions, write_predictions
from leaderboard.references import REFERENCES, Reference, references_for
from leaderboard.render import render_markdown, render_table_text, write_readme
from leaderboard.schema import (
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    Record,
    config_hash,
    validate_record,
)
from leaderboard.store import DEFAULT_DIR, append_record, find_record, read_records

__all__ = [
    "DEFAULT_DIR",
    "OPTIONAL_FIELDS",
    "REFERENCES",
    "REQUIRED_FIELDS",
    "Record",
    "RecordError",
    "Reference",
    "append_record",
    "config_hash",
    "find_record",
    "read_predictions",
    "read_records",
    "references_for",
    "render_html",
    "render_markdown",
    "render_table_text",
    "validate_record",
    "write_pages",
    "write_predictions",
    "write_readme",
]

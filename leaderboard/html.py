"""The static HTML leaderboard (`leaderboard/index.html`): tables, charts and a gallery in one file.

No server, no CDN, no JavaScript: the CSS and the SVG charts (`leaderboard.svg`) are inline,
and gallery images are data: URIs carried by the records' samples. Every text from a record
goes through `html.escape`. The tables are the Markdown ones (`leaderboard.render`); each
table is followed by a chart of its records (primary metric vs wall seconds, a colour per
model) and a gallery of test predictions from the records' `samples`. Where there are multi-task records, a
sharing section (`leaderboard.sharing`) follows, with a mean ± std chart per benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from html import escape
from pathlib import Path
from typing import Any

from leaderboard import sharing
from leaderboard.formatting import direction, format_mean_std, format_value, metric_header
from leaderboard.references import REFERENCES, Reference
from leaderboard.render import (
    README_HEADER,
    YOURS_NOTE,
    Board,
    Intervals,
    header_cells,
    measured_cells,
    other_metrics,
    reference_cells,
    render_markdown,
    table_note,
    table_references,
    write_atomically,
)
from leaderboard.schema import Record
from leaderboard.store import DEFAULT_DIR, read_records
from leaderboard.summary import Row, TableKey, build_tables
from leaderboard.svg import Interval, Point, interval_chart, scatter_chart
from leaderboard.uncertainty import INTERVAL_NOTE, single_seed_intervals

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f7; } tr:nth-child(even) td { background: #fafafa; }
tr.reference td { font-style: italic; color: #555; } tr.marker td { background: #fff; color: #777; }
tr.hit td.prediction { background: #e3f4e1; } tr.miss td.prediction { background: #fbe3e3; }
.note { color: #555; font-size: 0.92em; max-width: 60em; }
svg.chart { font: 11px system-ui, sans-serif; } svg .plot { fill: #fcfcfd; stroke: #999; }
svg .grid { stroke: #e4e4e4; } svg .point { stroke: #fff; stroke-width: 1; }
.gallery img { max-width: 160px; max-height: 160px; } .transcript { font-family: monospace; }
"""


def _cells(tag: str, texts: list[str], classes: Mapping[int, str] | None = None) -> str:
    """A table row of escaped cells."""
    cells = []
    for i, text in enumerate(texts):
        css = f' class="{classes[i]}"' if classes and i in classes else ""
        cells.append(f"<{tag}{css}>{escape(text)}</{tag}>")
    return "<tr>" + "".join(cells) + "</tr>"


def _table(key: TableKey, rows: list[Row], refs: list[Reference], intervals: Intervals) -> str:
    """The ranked table, then a marker row and the published references (not ranked)."""
    others = other_metrics(key, rows, refs)
    header = header_cells(key, others)
    lines = [f'<table class="board"><thead>{_cells("th", header)}</thead><tbody>']
    lines += [_cells("td", measured_cells(i, key, row, others, intervals)) for i, row in enumerate(rows, start=1)]
    if refs:
        lines.append(f'<tr class="marker"><td colspan="{len(header)}">published reference results '
                     '(not ranked, not measured here)</td></tr>')
        for i, ref in enumerate(refs, start=1):
            cells = reference_cells(key, ref, others)
            cells[1] = f"{cells[1]} [{i}]"
            lines.append(_cells("td", cells).replace("<tr>", '<tr class="reference">', 1))
    lines.append("</tbody></table>")
    return "".join(lines)


def _chart(key: TableKey, rows: list[Row], by_id: Mapping[str, Record]) -> str:
    """Primary metric vs wall seconds, one point per record, a legend entry per model (and recipe)."""
    points = []
    for row in rows:
        for record in (by_id[record_id] for record_id in row.record_ids):
            value = record["metrics"][key.primary_metric]
            tip = (f"{row.model} ({row.recipe}), seed {record['seed']}: {key.primary_metric} "
                   f"{format_value(key.primary_metric, value)}, {record['wall_seconds']:g} s — {record['id']}")
            points.append(Point(f"{row.model} ({row.recipe})", record["wall_seconds"], value, tip))
    title = f"{key.task} / {key.benchmark}: {key.primary_metric} vs wall seconds"
    return scatter_chart(points, title, metric_header(key.primary_metric),
                         lambda value: format_value(key.primary_metric, value))


def render_sample_input(value: Mapping[str, str] | None) -> str:
    """HTML for what the model saw: the hook for every modality.

    `text` and `transcript` are shown as escaped text, `image` (a data:image/...;base64 URI,
    checked by the record schema) as an inline <img>. Audio tasks show their transcript.
    """
    if not value:
        return "—"
    parts = []
    if "image" in value:
        parts.append(f'<img src="{escape(value["image"], quote=True)}" alt="test input image">')
    if "text" in value:
        parts.append(f"<div>{escape(value['text'])}</div>")
    if "transcript" in value:
        parts.append(f'<div class="transcript">{escape(value["transcript"])}</div>')
    return "".join(parts)


def _text(value: Any) -> str:
    """A prediction or reference as plain text; several references are joined by ' | '."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " | ".join(_text(item) for item in value)
    return json.dumps(value, ensure_ascii=False)


def _gallery(rows: list[Row], by_id: Mapping[str, Record]) -> str:
    """Test predictions of one record per row (its first with samples): input, prediction, reference."""
    parts = []
    for row in rows:
        record = next((by_id[i] for i in row.record_ids if by_id[i].get("samples")), None)
        if record is None:
            continue
        parts.append(f"<h4>{escape(row.model)} ({escape(row.recipe)}), seed {record['seed']} — "
                     f"<code>{escape(record['id'])}</code></h4>")
        parts.append('<table class="gallery"><thead><tr><th>id</th><th>input</th><th>prediction</th>'
                     "<th>reference</th></tr></thead><tbody>")
        for sample in record["samples"]:
            mark = "" if isinstance(sample["reference"], list) else (
                ' class="hit"' if sample["prediction"] == sample["reference"] else ' class="miss"')
            parts.append(f"<tr{mark}><td>{escape(str(sample['id']))}</td>"
                         f"<td>{render_sample_input(sample.get('input'))}</td>"
                         f'<td class="prediction">{escape(_text(sample["prediction"]))}</td>'
                         f"<td>{escape(_text(sample['reference']))}</td></tr>")
        parts.append("</tbody></table>")
    if not parts:
        return ""
    return ('<details open><summary>Test predictions (samples; green: prediction equals the reference)</summary>'
            + "".join(parts) + "</details>")


def _section(key: TableKey, rows: list[Row], by_id: Mapping[str, Record], references: tuple[Reference, ...],
             intervals: Intervals) -> str:
    """One benchmark table with its notes, chart and gallery."""
    refs = table_references(key, references)
    sources = "".join(f"<li>[{i}] {escape(ref.source)}</li>" for i, ref in enumerate(refs, start=1))
    return "".join([
        f'<section class="benchmark"><h3>{escape(key.benchmark)} / {escape(key.split)} — primary metric: '
        f"{escape(key.primary_metric)}</h3>",
        _table(key, rows, refs, intervals),
        f'<p class="note">{escape(table_note(key))}</p><p class="note">{escape(INTERVAL_NOTE)}</p>',
        f'<p class="note">Sources of the published results:</p><ul class="note">{sources}</ul>' if refs else "",
        f"<figure>{_chart(key, rows, by_id)}<figcaption class=\"note\">One point per record (seed); "
        "hover a point for its record id.</figcaption></figure>",
        _gallery(rows, by_id),
        "</section>",
    ])


def _sharing_chart(key: sharing.SharingKey, rows: list[sharing.KindRow]) -> str:
    """The primary metric's mean ± std per kind of a sharing table."""
    metric = key.table.primary_metric
    items = [Interval(row.kind, row.primary_mean, row.primary_std,
                      f"{row.kind}: {metric} {format_mean_std(metric, row.primary_mean, row.primary_std)} "
                      f"over {len(row.seeds)} seeds") for row in rows]
    label = f"{metric_header(metric)}, {direction(key.table.higher_is_better)}"
    return interval_chart(items, sharing.title(key), label, lambda value: format_value(metric, value))


def _sharing(records: list[Record]) -> str:
    """The sharing section: run summaries, then a table, targets and chart per benchmark; "" without multi-task
    records."""
    tables = sharing.sharing_tables(records)
    if not tables:
        return ""
    parts = [f'<section class="sharing" id="sharing"><h2>{escape(sharing.TITLE)}</h2>',
             f'<p class="note">{escape(sharing.NOTE)}</p>']
    for summary in sharing.run_summaries(records):
        parts.append(f"<h3>{escape(sharing.run_title(summary))}</h3>")
        if not summary.missing:
            parts.append(f'<table class="board"><thead>{_cells("th", sharing.RUN_HEADER)}</thead><tbody>'
                         + "".join(_cells("td", cells) for cells in sharing.run_cells(summary)) + "</tbody></table>")
        parts.append(f'<p class="note">{escape(sharing.run_line(summary))}</p>')
    for key, rows in tables.items():
        parts += [
            f'<section class="benchmark"><h3>{escape(sharing.title(key))}</h3>',
            f'<table class="board"><thead>{_cells("th", sharing.header_cells(key))}</thead><tbody>',
            *[_cells("td", sharing.row_cells(key, row)) for row in rows], "</tbody></table>",
            '<ul class="note">', *[f"<li>{escape(line)}</li>" for line in sharing.target_lines(key, rows)], "</ul>",
            f'<figure>{_sharing_chart(key, rows)}<figcaption class="note">Mean ± sample std over seeds per kind; '
            "hover a dot for its numbers.</figcaption></figure></section>",
        ]
    return "".join(parts) + "</section>"


def render_html(records: list[Record], references: tuple[Reference, ...] = REFERENCES,
                intervals: Intervals | None = None, yours: Collection[str] = (),
                yours_dir: Path | None = None) -> str:
    """The whole page for (valid) records: a section per task, a table, chart and gallery per benchmark.

    Rows of the records in `yours` (the user's own, read from `yours_dir`) are marked "(yours)"."""
    by_id = {record["id"]: record for record in records}
    tables = build_tables(records, yours)
    body: list[str] = []
    if any(row.yours for rows in tables.values() for row in rows):
        body.append(f'<p class="note">{escape(YOURS_NOTE.format(where=yours_dir or "your records folder"))}</p>')
    task = None
    for key, rows in tables.items():
        if key.task != task:
            if task is not None:
                body.append("</section>")
            task = key.task
            body.append(f'<section class="task" id="task-{escape(task, quote=True)}"><h2>{escape(task)}</h2>')
        body.append(_section(key, rows, by_id, references, intervals or {}))
    body.append("</section>" if task is not None else "<p>No records yet.</p>")
    body.append(_sharing(records))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Leaderboard</title>"
            f"<style>{STYLE}</style></head><body><h1>Leaderboard</h1>"
            '<p class="note">Generated by <code>zoo leaderboard</code> from <code>leaderboard/records/*.jsonl'
            "</code>; do not edit by hand.</p>" + "".join(body) + "</body></html>\n")


def write_pages(directory: Path = DEFAULT_DIR, readme: Path = Path(__file__).parent / "README.md",
                page: Path = Path(__file__).parent / "index.html") -> list[Record]:
    """Render every record of `directory` into the Markdown `readme` and the HTML `page` (each atomically).

    Records and predictions files are read once; returns the records.
    """
    records = read_records(directory)
    write_board(Board(records, intervals=single_seed_intervals(records, directory)), readme, page)
    return records


def write_board(board: Board, readme: Path | None = None, page: Path | None = None) -> None:
    """Write the Markdown `readme` and the HTML `page` of `board` (each atomically; None: not written)."""
    args = {"intervals": board.intervals, "yours": board.yours, "yours_dir": board.yours_dir}
    if readme is not None:
        write_atomically(readme, README_HEADER + render_markdown(board.records, **args))
    if page is not None:
        write_atomically(page, render_html(board.records, **args))

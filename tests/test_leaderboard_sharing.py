"""The sharing comparison (issue 27): single-task, multi-task and multi-task → fine-tuned rows per benchmark, their
targets, the multi-task run summary, and the section in the Markdown and HTML boards (absent without multi-task)."""

from __future__ import annotations

import re

import pytest

from leaderboard import render_html, render_markdown, validate_record
from leaderboard.schema import Record, config_hash, transfer_model
from leaderboard.sharing import (
    FINETUNED,
    MULTI,
    SINGLE,
    kind_of,
    run_line,
    run_summaries,
    sharing_tables,
    target_lines,
)
from tests.records import example_record

SST2 = {"task": "sentiment", "benchmark": "sst2", "split": "dev", "primary_metric": "accuracy",
        "higher_is_better": True}
AN4 = {"task": "asr", "benchmark": "an4", "split": "test", "primary_metric": "wer", "higher_is_better": False}
TASKS = ["sentiment", "asr"]


def make(kind: str, seed: int, value: float, bench: dict = SST2, num_parameters: int = 1_000_000,
         wall_seconds: float = 100.0, start: str = "multitask") -> Record:
    """A valid record of `kind` (SINGLE, MULTI, FINETUNED) for `bench`, its primary metric `value`."""
    config: dict = {"model": {"name": "zoo-small", "layers": 2}, "lr": 0.001}
    model, extra = "zoo-small", {}
    if kind == MULTI:
        config["multitask"] = {"tasks": TASKS, "recipe": "standard", "steps": 10}
        model = "zoo-small-multitask"
    if kind == FINETUNED:
        sha256 = f"{seed + 10:x}" * 64
        extra["init_from"] = {"task": start, "checkpoint": f"{start}/last.ckpt", "sha256": sha256,
                              "loaded": ["encoder"], "not_loaded": {}}
        model = transfer_model("zoo-small", start, sha256)
    record = example_record(id=f"{bench['task']}-{kind[:5]}-{start}-s{seed}", model=model, seed=seed, config=config,
                            config_hash=config_hash(config), metrics={bench["primary_metric"]: value},
                            num_parameters=num_parameters, wall_seconds=wall_seconds, **bench, **extra)
    validate_record(record)
    return record


def board(single: tuple[float, ...], multi: tuple[float, ...], finetuned: tuple[float, ...],
          bench: dict = SST2) -> list[Record]:
    """Records of one benchmark: a seed per value of each kind; multi-task runs of 1.5M parameters, 140-160 s."""
    return ([make(SINGLE, seed, value, bench) for seed, value in enumerate(single)]
            + [make(MULTI, seed, value, bench, 1_500_000, 140.0 + 10 * seed) for seed, value in enumerate(multi)]
            + [make(FINETUNED, seed, value, bench, wall_seconds=60.0) for seed, value in enumerate(finetuned)])


GOOD = board((0.80, 0.82, 0.84), (0.78, 0.79, 0.80), (0.86, 0.87, 0.88))


def test_kinds_are_recognised() -> None:
    assert [kind_of(r) for r in GOOD] == [SINGLE] * 3 + [MULTI] * 3 + [FINETUNED] * 3
    assert kind_of(example_record(model="bilstm")) is None
    assert kind_of(make(FINETUNED, 0, 0.9, start="sentiment")) is None  # a transfer from a single-task start


def test_rows_give_mean_std_parameters_wall_and_ratio() -> None:
    ((key, rows),) = sharing_tables(GOOD).items()
    assert (key.table.benchmark, key.recipe, key.model) == ("sst2", "standard", "zoo-small")
    assert [row.kind for row in rows] == [SINGLE, MULTI, FINETUNED]
    assert [row.seeds for row in rows] == [(0, 1, 2)] * 3
    single, multi, tuned = rows
    assert single.primary_mean == pytest.approx(0.82) and single.primary_std == pytest.approx(0.02)
    assert multi.primary_mean == pytest.approx(0.79) and multi.primary_std == pytest.approx(0.01)
    assert multi.ratio == pytest.approx(0.79 / 0.82) and tuned.ratio == pytest.approx(0.87 / 0.82)
    assert (multi.num_parameters_mean, multi.wall_seconds_mean) == (1_500_000, 150.0)
    assert (tuned.num_parameters_mean, tuned.wall_seconds_mean) == (1_000_000, 60.0)


def test_targets_hold() -> None:
    ((key, rows),) = sharing_tables(GOOD).items()
    assert target_lines(key, rows) == [
        "Target: multi-task accuracy ≥ 95% of single-task: 96%, holds.",
        "Target: multi-task → fine-tuned beats single-task by more than 2 std of the single-task seeds: "
        "gain +5.0 against 2 std = 4.0, holds.",
    ]


def test_targets_do_not_hold() -> None:
    ((key, rows),) = sharing_tables(board((0.80, 0.82, 0.84), (0.70, 0.71, 0.72), (0.84, 0.85, 0.86))).items()
    assert target_lines(key, rows) == [
        "Target: multi-task accuracy ≥ 95% of single-task: 87%, does not hold.",
        "Target: multi-task → fine-tuned beats single-task by more than 2 std of the single-task seeds: "
        "gain +3.0 against 2 std = 4.0, does not hold.",
    ]


def test_without_single_task_rows_the_ratio_is_missing() -> None:
    ((key, rows),) = sharing_tables(board((), (0.78, 0.79), ())).items()
    assert [row.ratio for row in rows] == [None]
    assert target_lines(key, rows) == ["Target: multi-task accuracy ≥ 95% of single-task: no single-task rows to "
                                       "compare."]
    assert "| multi-task | 2 | 78.5 ± 0.7 | — | 1.5M (whole run) | 145.0 (whole run) |" in render_markdown(
        board((), (0.78, 0.79), ()))


@pytest.mark.parametrize(("multi", "ratio", "verdict"),
                         [(0.352, "1.10 ×", "holds"), (0.40, "1.25 ×", "does not hold")])
def test_lower_is_better(multi: float, ratio: str, verdict: str) -> None:
    records = board((0.30, 0.32, 0.34), (multi,) * 3, (0.25, 0.26, 0.27), AN4)
    ((key, rows),) = sharing_tables(records).items()
    assert target_lines(key, rows) == [
        f"Target: multi-task wer ≤ 1.2 × single-task: {ratio}, {verdict}.",
        "Target: multi-task → fine-tuned beats single-task by more than 2 std of the single-task seeds: "
        "gain +6.0 against 2 std = 4.0, holds.",
    ]
    markdown = render_markdown(records)
    assert "primary metric: wer (lower is better)" in markdown
    assert f"| multi-task | 3 | {multi * 100:.1f} ± 0.0 | {ratio} | 1.5M (whole run) | 150.0 (whole run) |" in markdown


def test_markdown_section_follows_the_tables() -> None:
    markdown = render_markdown(GOOD + [example_record(id="bilstm-s0", model="bilstm")])
    sharing = markdown.index("## Sharing: single-task, multi-task, multi-task → fine-tuned")
    assert markdown.index("### sst2 / dev — primary metric: accuracy") < sharing
    section = markdown[sharing:]
    assert "bilstm" not in section
    assert "### sentiment / sst2 / dev — zoo-small, recipe standard — primary metric: accuracy (higher is better)" \
        in section
    assert "| single-task | 3 | 82.0 ± 2.0 | 100% | 1M | 100.0 |" in section
    assert "| multi-task | 3 | 79.0 ± 1.0 | 96% | 1.5M (whole run) | 150.0 (whole run) |" in section
    assert "| multi-task → fine-tuned | 3 | 87.0 ± 1.0 | 106% | 1M | 60.0 |" in section
    assert "- Target: multi-task accuracy ≥ 95% of single-task: 96%, holds." in section


def test_run_summary_against_the_single_task_sum() -> None:
    records = GOOD + [make(kind, seed, 0.3, AN4, 2_000_000 if kind == SINGLE else 1_500_000,
                           200.0 if kind == SINGLE else 140.0 + 10 * seed)
                      for kind in (SINGLE, MULTI) for seed in range(3)]
    (summary,) = run_summaries(records)
    assert (summary.model, summary.recipe, summary.tasks, summary.seeds) == (
        "zoo-small-multitask", "standard", ("sentiment", "asr"), (0, 1, 2))
    assert (summary.num_parameters_mean, summary.wall_seconds_mean) == (1_500_000, 150.0)
    assert (summary.single_parameters, summary.single_wall_seconds, summary.missing) == (3_000_000, 300.0, ())
    assert run_line(summary) == ("Target: the multi-task run has ≤ 40% of the single-task parameters (50%, does not "
                                 "hold) and less wall time (50%, holds).")
    markdown = render_markdown(records)
    assert "| multi-task run (2 tasks, whole run) | 3 | 1.5M | 150.0 |" in markdown
    assert "| single-task rows, sum over 2 tasks | — | 3M | 300.0 |" in markdown
    assert "| multi-task / single-task | — | 50% | 50% |" in markdown


def test_run_summary_names_missing_tasks() -> None:
    (summary,) = run_summaries(GOOD)
    assert summary.missing == ("asr (no multi-task record)",)
    records = GOOD + [make(MULTI, seed, 0.3, AN4, 1_500_000, 140.0 + 10 * seed) for seed in range(3)]
    (summary,) = run_summaries(records)
    assert run_line(summary) == "Not compared: no single-task rows for asr (an4/test)."
    assert "multi-task run (2 tasks" not in render_markdown(records)


def test_no_section_without_multitask_records() -> None:
    records = [*GOOD[:3], example_record(id="bilstm-s0", model="bilstm"), make(FINETUNED, 0, 0.9, start="sentiment")]
    assert sharing_tables(records) == {} and run_summaries(records) == []
    assert "Sharing" not in render_markdown(records)
    assert 'id="sharing"' not in render_html(records)


def test_html_section_has_tables_and_a_chart() -> None:
    page = render_html(GOOD)
    section = page[page.index('<section class="sharing" id="sharing">'):]
    assert section.count("<svg") == 1
    svg = section[section.index("<svg"):section.index("</svg>")]
    assert len(re.findall(r'<circle [^>]*class="point"', svg)) == 3
    assert len(re.findall(r'class="error"', svg)) == 3  # an error bar per kind
    assert "<td>multi-task</td><td>3</td><td>79.0 ± 1.0</td><td>96%</td>" in section
    assert "<li>Target: multi-task accuracy ≥ 95% of single-task: 96%, holds.</li>" in section
    assert render_html(GOOD) == page  # deterministic

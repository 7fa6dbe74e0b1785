"""The static HTML leaderboard: tables, an SVG chart per benchmark, a gallery; escaped, self-contained,
and rendered for real by headless Chromium (skipped, with the reason, where there is no Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.cli import main
from leaderboard import RecordError, append_record, validate_record
from leaderboard.html import render_html, render_sample_input
from leaderboard.predictions import write_predictions
from tests.records import example_record

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture()
def board(tmp_path: Path) -> Path:
    """Records of two benchmarks: zoo-small × 3 seeds and bilstm × 1 (with predictions) on sst2, one on reviews."""
    directory = tmp_path / "records"
    samples = [{"id": f"dev-{i}", "prediction": "positive", "reference": ["negative", "positive"][i % 2],
                "input": {"text": f"review {i} {HOSTILE}"}} for i in range(8)]
    for seed, accuracy in enumerate((0.80, 0.82, 0.85)):
        append_record(example_record(id=f"zoo-s{seed}", model="zoo-small", seed=seed, wall_seconds=100.0 + seed,
                                     metrics={"accuracy": accuracy}, samples=samples), directory)
    rows = [{"id": f"dev-{i}", "prediction": "positive", "reference": "positive" if i % 10 else "negative",
             "score": 0.0 if i % 10 == 0 else 1.0} for i in range(200)]
    write_predictions(rows, directory, "bilstm-s0")
    append_record(example_record(id="bilstm-s0", model=HOSTILE, metrics={"accuracy": 0.9}, wall_seconds=30.0,
                                 num_test_examples=200, predictions="predictions/bilstm-s0.jsonl"), directory)
    append_record(example_record(id="reviews-s0", benchmark="reviews", split="test", model="zoo-tiny"), directory)
    return directory


def _page(board: Path, tmp_path: Path) -> Path:
    page = tmp_path / "index.html"
    assert main(["leaderboard", "--records-dir", str(board), "--out", str(tmp_path / "README.md"),
                 "--html-out", str(page)]) == 0
    return page


def test_page_has_tables_charts_and_gallery(board: Path, tmp_path: Path) -> None:
    html = _page(board, tmp_path).read_text(encoding="utf-8")
    assert html.count('<table class="board">') == 2 and html.count("<svg ") == 2
    assert html.count('class="point"') == 5  # one point per record
    assert html.count('<tr class="hit">') == 4 and html.count('<tr class="miss">') == 4  # zoo-small's 8 samples
    assert "review 3 &lt;script&gt;" in html
    assert re.search(r"\[\d+\.\d, \d+\.\d\]", html)  # bilstm's single-seed bootstrap interval


def test_page_is_escaped_and_self_contained(board: Path, tmp_path: Path) -> None:
    html = _page(board, tmp_path).read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert re.findall(r"https?://[^\"' <]+", html) == ["http://www.w3.org/2000/svg"] * 2  # SVG namespace only


def test_gallery_hook_shows_images_and_transcripts() -> None:
    shown = render_sample_input({"image": f"data:image/png;base64,{PIXEL}", "transcript": "one two <three>"})
    assert f'<img src="data:image/png;base64,{PIXEL}"' in shown
    assert '<div class="transcript">one two &lt;three&gt;</div>' in shown
    sample = {"id": "1", "prediction": "a", "reference": "b", "input": {"image": "https://example.com/x.png"}}
    with pytest.raises(RecordError) as caught:
        validate_record(example_record(samples=[sample]))
    assert caught.value.field == "samples[0].input.image"


def test_no_records_renders_a_page() -> None:
    assert "No records yet." in render_html([])


def _chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)


def _run_chromium(binary: str, tmp_path: Path, *args: str) -> str:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def test_page_renders_in_headless_chromium(board: Path, tmp_path: Path) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (.ci/run installs Debian's chromium)")
    from PIL import Image

    page = _page(board, tmp_path)
    shot = tmp_path / "shot.png"
    _run_chromium(binary, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    with Image.open(shot) as image:
        pixels = image.convert("RGB")
        assert pixels.size == (1280, 2000)
        colours = pixels.getcolors(maxcolors=1 << 20)
    assert len(colours) > 100  # text, tables and coloured chart points, not a blank page
    white = max(colours)[0] / (1280 * 2000)
    assert white < 0.97
    dom = _run_chromium(binary, tmp_path, "--dump-dom", page.as_uri())
    assert dom.count('<table class="board">') == 2 and dom.count("<svg") == 2
    assert dom.count('class="point"') == 5 and "bilstm-s0" in dom

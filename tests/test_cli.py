"""The zoo command's error paths: one clear line and exit code 2, no record written."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.cli import main


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["bench", "nosuchtask"], "unknown task 'nosuchtask'"),
        (["bench", "sentiment", "--benchmark", "imaginary"], "unknown benchmark 'imaginary'"),
        (["bench", "sentiment", "--recipe", "marathon"], "unknown recipe 'marathon'"),
        (["bench", "sentiment", "--model", "gpt9"], "unknown model 'gpt9'"),
        (["bench", "sentiment", "--benchmark", "sst2"], "needs --data-dir"),
        (["bench", "sentiment", "--benchmark", "sst2", "--data-dir", "/nonexistent/sst2"], "data dir not found"),
        (["bench"], "give a task name or --suite builtin"),
        (["bench", "sentiment", "--suite", "builtin"], "--suite builtin runs every task"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(argv: list[str], expected: str, records_dir: Path,
                                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*argv, "--records-dir", str(records_dir), "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("zoo: error: ") and expected in err
    assert len(err.strip().splitlines()) == 1
    assert list(records_dir.iterdir()) == []


def test_bad_data_file_is_named_and_nothing_is_written(records_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "sst2"
    data.mkdir()
    (data / "train.tsv").write_text("sentence\tlabel\ngood film\t1\nbad film\tmaybe\n")
    (data / "dev.tsv").write_text("sentence\tlabel\nfine\t1\n")
    code = main(["bench", "sentiment", "--benchmark", "sst2", "--data-dir", str(data), "--recipe", "smoke",
                 "--records-dir", str(records_dir), "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{data / 'train.tsv'}:3: label must be 0 or 1" in err
    assert list(records_dir.iterdir()) == []


def test_models_lists_every_preset_and_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("tiny", "small", "base", "large", "sentiment"):
        assert name in out
    counts = [int(line.rsplit("parameters", 1)[1].replace(",", "")) for line in out.splitlines()
              if "parameters" in line]
    assert counts == sorted(counts) and counts[0] > 0


def test_leaderboard_renders_from_records(records_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "sentiment", "--recipe", "smoke", "--records-dir", str(records_dir),
                 "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 0
    out_md, out_html = tmp_path / "README.md", tmp_path / "index.html"
    assert main(["leaderboard", "--records-dir", str(records_dir), "--out", str(out_md),
                 "--html-out", str(out_html)]) == 0
    text = out_md.read_text()
    assert "## sentiment" in text and "zoo-tiny" in text and "smoke" in text
    assert "zoo-tiny" in out_html.read_text() and "<svg " in out_html.read_text()
    assert "zoo-tiny" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["reproduce", "no-such-run"], "no record with id 'no-such-run' in {records}"),
        (["reproduce", "no-such-run", "--data-dir", "/nonexistent/sst2"], "/nonexistent/sst2: data dir not found"),
        (["score", "{records}/predictions/no-such-run.jsonl"], "predictions file not found"),
        (["leaderboard", "--check", "--records-dir", "{records}/missing"], "{records}/missing: records dir not found"),
    ],
)
def test_reproduce_and_score_errors_are_one_line(argv: list[str], expected: str, records_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = [arg.format(records=records_dir) for arg in argv]
    if argv[0] == "reproduce":
        argv += ["--records-dir", str(records_dir)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and expected.format(records=records_dir) in err
    assert len(err.strip().splitlines()) == 1

"""Records and runs belong to the user: a run writes to the workspace ($ZOO_HOME, else ./zoo-runs), never into
the published leaderboard (leaderboard/records); `zoo leaderboard` shows both, the user's rows marked; `zoo
reproduce` finds a record in either place."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from benchmarks import cli
from benchmarks.cli import main
from leaderboard import store
from leaderboard.store import PUBLISHED_DIR, append_record, read_records, user_records_dir, user_runs_dir
from tests.records import example_record

BOARD_PAGES = (PUBLISHED_DIR.parent / "README.md", PUBLISHED_DIR.parent / "index.html")


def _snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` (relative name -> bytes)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _published_state() -> tuple[dict[str, bytes], list[bytes]]:
    """The published records and pages, to show that a command left them alone."""
    return _snapshot(PUBLISHED_DIR), [page.read_bytes() for page in BOARD_PAGES]


@pytest.fixture(scope="module")
def workspace_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """One smoke bench with neither --records-dir nor --runs-dir, ZOO_HOME set to tmp and the current directory
    elsewhere in tmp: (the workspace, its record, what the command printed)."""
    root = tmp_path_factory.mktemp("workspace")
    home, cwd = root / "home", root / "cwd"
    cwd.mkdir()
    before = _published_state()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(home))
        patch.chdir(cwd)
        out = io.StringIO()  # a module-scoped fixture cannot use capsys
        with contextlib.redirect_stdout(out):
            assert main(["bench", "sentiment", "--recipe", "smoke", "--no-progress"]) == 0
    assert _published_state() == before, "a bench without --records-dir wrote into the published leaderboard"
    assert list(cwd.iterdir()) == []  # ZOO_HOME wins over ./zoo-runs
    (record,) = read_records(home / "records")
    return home, record, out.getvalue()


def test_bench_without_records_dir_writes_under_zoo_home(workspace_run: tuple[Path, dict, str]) -> None:
    home, record, out = workspace_run
    assert (home / "records" / "sentiment.jsonl").is_file()
    assert (home / "records" / record["predictions"]).is_file()
    assert list((home / "runs" / "sentiment").rglob("last.ckpt"))
    table = [line for line in out.splitlines() if line.startswith("sentiment ") and "smoke" in line]
    assert table and table[0].rstrip().endswith("yours")  # the closing table marks the user's row


def test_workspace_defaults_to_zoo_runs_in_the_current_directory(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert user_records_dir().resolve() == tmp_path / "zoo-runs" / "records"
    assert user_runs_dir().resolve() == tmp_path / "zoo-runs" / "runs"
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "mine"))
    assert user_records_dir() == tmp_path / "mine" / "records"


def test_leaderboard_shows_published_and_yours_marked_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    append_record(example_record(id="mine-s0", model="my-model", metrics={"accuracy": 0.91}), user_records_dir())
    before = _published_state()
    assert main(["leaderboard"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "source"
    mine = [line for line in lines if "my-model" in line]
    assert len(mine) == 1 and mine[0].split()[-1] == "yours"
    published = {line.split()[2] for line in lines[1:] if line.strip() and line.split()[-1] == "published"}
    assert published == {r["model"] for r in read_records(PUBLISHED_DIR)}  # every published model is listed too
    assert _published_state() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # no page written anywhere unless asked

    assert main(["leaderboard", "--out", str(tmp_path / "board.md"), "--html-out", str(tmp_path / "board.html")]) == 0
    markdown = (tmp_path / "board.md").read_text(encoding="utf-8")
    assert "| my-model (yours) |" in markdown and "Rows marked (yours)" in markdown
    assert "my-model (yours)" in (tmp_path / "board.html").read_text(encoding="utf-8")
    assert _published_state() == before


def test_naming_the_published_folder_regenerates_its_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    published = tmp_path / "leaderboard" / "records"
    append_record(example_record(id="published-s0"), published)
    monkeypatch.setattr(store, "PUBLISHED_DIR", published)
    monkeypatch.setattr(cli, "PUBLISHED_DIR", published)
    assert main(["leaderboard", "--records-dir", str(published)]) == 0
    assert "zoo-small" in (tmp_path / "leaderboard" / "README.md").read_text(encoding="utf-8")
    assert "(yours)" not in (tmp_path / "leaderboard" / "index.html").read_text(encoding="utf-8")
    other = tmp_path / "other"
    append_record(example_record(id="other-s0"), other)
    assert main(["leaderboard", "--records-dir", str(other)]) == 0  # another folder: printed, no page written
    assert sorted(p.name for p in other.iterdir()) == ["sentiment.jsonl"]
    assert "zoo-small" in capsys.readouterr().out


def test_reproduce_finds_a_workspace_record(workspace_run: tuple[Path, dict, str], monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    home, record, _ = workspace_run
    monkeypatch.setenv("ZOO_HOME", str(home))
    before = _snapshot(home / "records")
    assert main(["reproduce", record["id"]]) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("verdict: reproduced")
    assert _snapshot(home / "records") == before


def test_reproduce_of_an_unknown_id_names_both_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    assert main(["reproduce", "no-such-record"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and len(err.strip().splitlines()) == 1
    assert str(tmp_path / "records") in err and str(PUBLISHED_DIR) in err

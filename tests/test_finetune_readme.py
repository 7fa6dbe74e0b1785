"""The README's "Fine-tune on your data" commands, run exactly as written on fixture files with the names they use."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from benchmarks.cli import main
from tests.finetune_data import write_captions, write_reviews

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- finetune-commands:"


def readme_commands() -> list[list[str]]:
    """The lines of the fenced block after the marker comment, split like a shell would."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(MARKER, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def test_readme_block_has_every_subcommand() -> None:
    commands = readme_commands()
    assert all(c[0] == "zoo" for c in commands)
    assert {c[1] for c in commands} >= {"fit", "test", "predict"}


def test_readme_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    write_reviews(tmp_path / "reviews.csv")
    write_captions(tmp_path / "my_captions")
    (tmp_path / "new_images").mkdir()
    for name in ("img00.png", "img01.png"):
        shutil.copy(tmp_path / "my_captions" / name, tmp_path / "new_images" / name)
    (tmp_path / "new_reviews.txt").write_text("what a great film\nboring and slow\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for command in readme_commands():
        assert main([*command[1:], "--trainer.enable_progress_bar", "false"]) == 0, shlex.join(command)
    rows = [json.loads(line) for line in (tmp_path / "runs/finetune/sentiment/predictions.jsonl").read_text()
            .splitlines()]
    assert [r["id"] for r in rows] == ["new_reviews.txt:1", "new_reviews.txt:2"]
    assert (tmp_path / "runs/finetune/sentiment-head/checkpoints/last.ckpt").is_file()
    captions = [json.loads(line) for line in (tmp_path / "runs/finetune/captioning/predictions.jsonl").read_text()
                .splitlines()]
    assert sorted(Path(r["id"]).name for r in captions) == ["img00.png", "img01.png"]
    tested = (tmp_path / "runs/finetune/captioning/test_predictions.jsonl").read_text().splitlines()
    assert tested and all("reference" in json.loads(line) for line in tested)
    assert (tmp_path / "runs/finetune/captioning/config.yaml").is_file()


def test_captions_folder_script_writes_the_readme_layout(tmp_path: Path) -> None:
    from scripts.write_captions_folder import write_folder

    counts = write_folder(tmp_path / "my_captions", images=40, seed=0, size=80)
    rows = [json.loads(line) for line in (tmp_path / "my_captions" / "captions.jsonl").read_text().splitlines()]
    assert counts == {"train": 32, "valid": 4, "test": 4} and len(rows) == 40
    assert all((tmp_path / "my_captions" / r["image"]).is_file() and r["captions"] for r in rows)

"""The fault suite: the bad inputs and faults that ``zoo`` handles, one case a row (the README's "bad input"
paragraph points here as the list of what is handled).

A case writes tiny files under ``tmp_path`` and gives the ``zoo`` command line (run in-process through
``benchmarks.cli.main``, smoke presets); the test checks the exit code, the one ``zoo: error:`` line (no traceback)
and that nothing was written: every file under ``tmp_path``, an earlier record included, is as it was, and no
file was added.
The handled inputs that are not errors (a CSV field over 128 KiB, a symlink that stays inside the data folder)
follow the table.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import zoo
from benchmarks.cli import main
from tasks import sentiment
from tasks.core.finetune import build_config
from tasks.core.inputs import DataError, resolve_inside
from tasks.sentiment.finetune import Data as SentimentData
from tests.finetune_data import write_reports, write_reviews, write_speech
from tests.records import example_record

EARLIER = json.dumps(example_record(id="sentiment-an-earlier-record")) + "\n"  # a valid record already there
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false", "--trainer.max_steps", "2"]


class Pickled:
    """A Python object inside a checkpoint: refused by weights_only loading, never executed."""


@dataclass(frozen=True)
class Fault:
    """One case: ``make(tmp)`` writes its files and returns the ``zoo`` arguments; ``first_line`` is a regular
    expression for the error line, ``{tmp}`` standing for the folder."""

    name: str
    make: Callable[[Path], list[str]]
    first_line: str
    code: int = 2


# ---------------------------------------------------------------- the files the cases use
def _fit(task: str, *args: str) -> Callable[[Path], list[str]]:
    """``zoo fit --task TASK ARGS`` ({tmp} in ARGS is the case's folder), its run folder under tmp."""
    return lambda tmp: ["fit", "--task", task, *(a.replace("{tmp}", str(tmp)) for a in args), *QUIET,
                        "--trainer.default_root_dir", str(tmp / "run")]


def _bench(task: str, *args: str) -> Callable[[Path], list[str]]:
    """``zoo bench TASK --recipe smoke ARGS``, records and runs under tmp."""
    return lambda tmp: ["bench", task, "--recipe", "smoke", *(a.replace("{tmp}", str(tmp)) for a in args),
                        "--records-dir", str(tmp / "records"), "--runs-dir", str(tmp / "runs"), "--no-progress"]


def _write(make: Callable[[Path], list[str]], files: dict[str, bytes | str]) -> Callable[[Path], list[str]]:
    """``make``, after writing ``files`` (path under tmp → content)."""
    def run(tmp: Path) -> list[str]:
        for name, content in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return make(tmp)
    return run


def _then(first: Callable[[Path], object], make: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    def run(tmp: Path) -> list[str]:
        first(tmp)
        return make(tmp)
    return run


def _table(rows: int = 20, label: Callable[[int], str] = lambda i: str(i % 2), ids: bool = False) -> str:
    return ("id," if ids else "") + "text,label\n" + "".join(
        (f"{7 if ids else ''}," if ids else "") + f"film number {i},{label(i)}\n" for i in range(rows))


def _jsonl_nan(tmp: Path) -> None:
    (tmp / "data").mkdir()
    lines = [f'{{"text": "film {i}", "label": {"NaN" if i == 3 else i % 2}}}\n' for i in range(20)]
    (tmp / "data" / "data.jsonl").write_text("".join(lines))


def _checkpoint(tmp: Path, module: torch.nn.Module, name: str, **extra: object) -> None:
    hparams = json.loads(json.dumps(dict(module.hparams)))
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": hparams, **extra}, tmp / name)


def _captions_folder(tmp: Path, first: str | None = None) -> Path:
    """A captions folder of six PNGs (splits train×3, val, test×2); the first row names ``first`` if given."""
    from PIL import Image

    folder = tmp / "caps"
    (folder / "img").mkdir(parents=True)
    splits = ("train", "train", "train", "val", "test", "test")
    for i in range(len(splits)):
        Image.new("RGB", (16, 16), (40 * i, 0, 0)).save(folder / "img" / f"{i}.png")
    lines = [{"image": (first if i == 0 and first else f"img/{i}.png"), "split": s, "captions": ["a red square"]}
             for i, s in enumerate(splits)]
    (folder / "captions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return folder


def _link_out_caption(tmp: Path) -> None:
    folder = _captions_folder(tmp)
    (tmp / "elsewhere").mkdir()
    (folder / "img" / "0.png").rename(tmp / "elsewhere" / "0.png")
    (folder / "img" / "0.png").symlink_to(tmp / "elsewhere" / "0.png")


def _link_out_report(tmp: Path) -> None:
    folder = write_reports(tmp / "data")
    (tmp / "elsewhere").mkdir()
    (folder / "img03.png").rename(tmp / "elsewhere" / "img03.png")
    (folder / "img03.png").symlink_to(tmp / "elsewhere" / "img03.png")


def _glue(dev: bytes) -> dict[str, bytes]:
    rows = b"".join(b"a fine film %d\t1\nboring stuff %d\t0\n" % (i, i) for i in range(600))
    return {"glue/train.tsv": b"sentence\tlabel\n" + rows, "glue/dev.tsv": b"sentence\tlabel\n" + dev}


def _speech_with_bad_wav(tmp: Path) -> None:
    (write_speech(tmp / "data") / "utt02.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")


GLUE = ["--benchmark", "sst2", "--data-dir", "{tmp}/glue"]
FAULTS = [
    # ---- names and options
    Fault("unknown-task", _fit("nosuch"), r"zoo: error: unknown task 'nosuch'"),
    Fault("unknown-preset", _fit("sentiment", "--model.preset", "huge"), r"zoo: error: model\.preset: unknown 'huge'"),
    Fault("unknown-benchmark", _bench("sentiment", "--benchmark", "nosuch"), r"zoo: error: .*'nosuch'"),
    Fault("malformed-yaml", _write(lambda tmp: ["fit", "--config", str(tmp / "bad.yaml")],
                                   {"bad.yaml": "task: sentiment\ntrainer:\n  max_steps: [1, 2\n  devices: 1\n"}),
          r"zoo: error: {tmp}/bad\.yaml:4:\d+: malformed YAML"),
    # ---- data: missing, unreadable, malformed
    Fault("missing-data-dir", _bench("sentiment", "--benchmark", "sst2", "--data-dir", "{tmp}/nothere"),
          r"zoo: error: .*{tmp}/nothere"),
    Fault("missing-data-file", _fit("sentiment", "--data.path", "{tmp}/nothere.csv"),
          r"zoo: error: {tmp}/nothere\.csv: data file or folder not found"),
    Fault("hub-offline", _fit("sentiment", "--data.path", "hub:nobody/no-such-set"),
          r"zoo: error: hub:nobody/no-such-set: cannot load from the Hugging Face hub"),
    Fault("non-utf8-text", _write(_bench("sentiment", *GLUE), _glue(b"good\t1\ncaf\xe9 cr\xe8me\t0\n")),
          r"zoo: error: {tmp}/glue/dev\.tsv:3: not UTF-8 text \(byte 0xe9 at offset 25\)"),
    Fault("empty-text", _write(_bench("sentiment", *GLUE), _glue(b"good\t1\n  \t0\n")),
          r"zoo: error: {tmp}/glue/dev\.tsv:3: expected a non-empty sentence"),
    Fault("row-with-extra-field", _write(_fit("sentiment", "--data.path", "{tmp}/d.csv"),
                                         {"d.csv": "text,label\ngood,1\nbad,0,extra\n"}),
          r"zoo: error: {tmp}/d\.csv:3: expected 2 fields as in the header"),
    Fault("missing-column", _then(lambda tmp: write_reviews(tmp / "r.csv"), _fit("sentiment", "--data.path",
                                                                               "{tmp}/r.csv")),
          r"zoo: error: {tmp}/r\.csv:2: missing column 'label' for field 'label'"),
    Fault("empty-csv", _write(_fit("sentiment", "--data.path", "{tmp}/d.csv"), {"d.csv": ""}),
          r"zoo: error: {tmp}/d\.csv: empty file"),
    Fault("header-only-csv", _write(_fit("sentiment", "--data.path", "{tmp}/d.csv"), {"d.csv": "text,label\n"}),
          r"zoo: error: {tmp}/d\.csv: the table has no rows"),
    Fault("empty-jsonl", _write(_fit("sentiment", "--data.path", "{tmp}/d.jsonl"), {"d.jsonl": "\n"}),
          r"zoo: error: {tmp}/d\.jsonl: the table has no rows"),
    Fault("one-class-table", _write(_fit("sentiment", "--data.path", "{tmp}/d.csv"),
                                    {"d.csv": _table(label=lambda i: "1")}),
          r"zoo: error: {tmp}/d\.csv: the train split has 1 label\(s\)"),
    Fault("duplicate-ids", _write(_fit("sentiment", "--data.train", "{tmp}/train.csv", "--data.test",
                                       "{tmp}/test.csv"), {"train.csv": _table(40), "test.csv": _table(60, ids=True)}),
          r"zoo: error: {tmp}/test\.csv:2: id '7' is used by 60 rows of the test split \({tmp}/test\.csv:2, "),
    Fault("nan-label-csv", _write(_fit("sentiment", "--data.path", "{tmp}/d.csv"),
                                  {"d.csv": _table(label=lambda i: "NaN" if i == 5 else str(i % 2))}),
          r"zoo: error: {tmp}/d\.csv:7: field 'label' is NaN \(a missing value\)"),
    Fault("nan-label-jsonl", _then(_jsonl_nan, _fit("sentiment", "--data.path", "{tmp}/data/data.jsonl")),
          r"zoo: error: {tmp}/data/data\.jsonl:4: field 'label' is NaN \(a missing value\)"),
    Fault("unknown-eval-label", _write(_fit("sentiment", "--data.train", "{tmp}/train.csv", "--data.test",
                                            "{tmp}/test.csv"), {"train.csv": _table(), "test.csv": _table(3, str)}),
          r"zoo: error: test example {tmp}/test\.csv:4: label '2' is not one of the train labels"),
    # ---- paths inside a data folder
    Fault("path-outside-folder", _then(lambda tmp: _captions_folder(tmp, "../outside.png"),
                                       _bench("captioning", "--benchmark", "captions-folder", "--data-dir",
                                              "{tmp}/caps")),
          r"zoo: error: {tmp}/caps/captions\.jsonl:1: field 'image': path '\.\./outside\.png' is outside"),
    Fault("symlink-outside-folder", _then(_link_out_caption, _bench("captioning", "--benchmark", "captions-folder",
                                                                    "--data-dir", "{tmp}/caps")),
          r"zoo: error: {tmp}/caps/captions\.jsonl:1: field 'image': path 'img/0\.png' is a symlink "
          r"\({tmp}/caps/img/0\.png -> {tmp}/elsewhere/0\.png\) that leaves the data folder"),
    Fault("symlink-outside-folder-fit", _then(_link_out_report, _fit("med_report", "--data.path", "{tmp}/data")),
          r"zoo: error: {tmp}/data/reports\.jsonl:4: path 'img03\.png' is a symlink"),
    Fault("corrupt-image", _then(lambda tmp: (_captions_folder(tmp) / "img" / "0.png").write_bytes(
        b"\x89PNG\r\n\x1a\n not a png"), _bench("captioning", "--benchmark", "captions-folder", "--data-dir",
                                               "{tmp}/caps")),
          r"zoo: error: .*0\.png: not a readable image"),  # decoded lazily: the fresh run folder is removed
    Fault("corrupt-audio", _then(_speech_with_bad_wav, _fit("asr", "--data.path", "{tmp}/data")),
          r"zoo: error: {tmp}/data/metadata\.csv:4: audio file .*utt02\.wav is not readable audio \("),
    # ---- checkpoints
    Fault("random-bytes-checkpoint", _write(lambda tmp: ["test", "--task", "sentiment", "--ckpt_path",
                                                         str(tmp / "r.ckpt")], {"r.ckpt": bytes(range(7, 256)) * 9}),
          r"zoo: error: {tmp}/r\.ckpt: not a checkpoint \(2241 bytes that are neither a zip archive nor a pickle"),
    Fault("empty-checkpoint", _write(lambda tmp: ["test", "--task", "sentiment", "--ckpt_path", str(tmp / "e.ckpt")],
                                     {"e.ckpt": b""}),
          r"zoo: error: {tmp}/e\.ckpt: not a checkpoint \(an empty file\)"),
    Fault("another-tasks-checkpoint", _then(
        lambda tmp: _checkpoint(tmp, sentiment.Module(sentiment.tiny(), zoo.ByteTokenizer().to_dict()), "s.ckpt"),
        lambda tmp: ["test", "--task", "vqa", "--ckpt_path", str(tmp / "s.ckpt")]),
          r"zoo: error: {tmp}/s\.ckpt: a checkpoint of task 'sentiment', not of task 'vqa'"),
    Fault("pickled-checkpoint", _then(
        lambda tmp: _checkpoint(tmp, sentiment.Module(sentiment.tiny(), zoo.ByteTokenizer().to_dict()), "p.ckpt",
                                extra=Pickled()),
        lambda tmp: ["test", "--task", "sentiment", "--ckpt_path", str(tmp / "p.ckpt")]),
          r"zoo: error: {tmp}/p\.ckpt: refused: the file holds pickled Python objects \(tests\.test_faults\.Pickled\)"),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time (what "nothing was written" compares)."""
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in root.rglob("*") if not p.is_dir()}


@pytest.mark.parametrize("case", FAULTS, ids=lambda case: getattr(case, "name", None))
def test_fault(case: Fault, tmp_path: Path, capsys: pytest.CaptureFixture[str],
               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_DEBUG", raising=False)
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "sentiment.jsonl").write_text(EARLIER)
    argv = case.make(tmp_path)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("zoo: error: ")]
    assert code == case.code, err
    assert len(errors) == 1 and not any("Traceback" in line for line in err), err
    assert re.match(case.first_line.replace("{tmp}", re.escape(str(tmp_path))), errors[0]), errors[0]
    assert _snapshot(tmp_path) == before


# ---------------------------------------------------------------- handled, not errors
def test_a_csv_field_over_128_kib_is_read_then_truncated_like_any_long_text(tmp_path: Path) -> None:
    long = "a very long review " * 8000  # 152,000 characters: over the csv module's 131,072 default
    path = tmp_path / "d.csv"
    path.write_text(_table() + f'"{long}",1\n')
    config = build_config("sentiment", "smoke", None, None, None, None)
    splits = SentimentData(path=str(path)).load(config)
    assert any(e["text"] == long.strip() for rows in splits.values() for e in rows)
    dm = sentiment.DataModule(config)
    dm.tokenizer = zoo.ByteTokenizer()
    batch = dm.collate([{"id": "long", "text": long, "label": 1}])
    assert batch["text"].shape == (1, config.max_length)


def test_a_symlink_that_stays_inside_the_data_folder_is_followed(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "a.png").write_bytes(b"png")
    (tmp_path / "link.png").symlink_to(tmp_path / "store" / "a.png")
    (tmp_path / "shared").symlink_to(tmp_path / "store", target_is_directory=True)
    assert resolve_inside(tmp_path, "link.png", "t.csv:2") == tmp_path / "link.png"
    assert resolve_inside(tmp_path, "shared/a.png", "t.csv:2") == tmp_path / "shared" / "a.png"
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "out").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DataError, match=r"t\.csv:3: path 'out/x\.png' is a symlink \(.*/out -> .*-outside\)"):
        resolve_inside(tmp_path, "out/x.png", "t.csv:3")
    os.rmdir(outside)


def test_generated_ids_are_unique_even_for_rows_of_one_image(tmp_path: Path) -> None:
    from tasks.med_report.finetune import Data as ReportData

    folder = write_reports(tmp_path / "data")
    lines = (folder / "reports.jsonl").read_text().splitlines()
    (folder / "reports.jsonl").write_text("\n".join([*lines, lines[0].replace("cough", "fever")]) + "\n")
    config = build_config("med_report", "smoke", None, None, None, None)
    ids = [e["id"] for rows in ReportData(path=str(folder)).load(config).values() for e in rows]
    assert len(ids) == len(lines) + 1 == len(set(ids))
    assert sum(i.startswith("img00.png (") for i in ids) == 2  # the image named, with the row that made it

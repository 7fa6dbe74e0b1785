"""Bad input, one test per case: a one-line error naming the file, row or field (``zoo`` exits 2, no traceback),
or the documented, logged handling. Each test writes its own fixture; the ``zoo`` cases also check that nothing
already written (an existing records file) changes and that no predictions file appears."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import zoo
from benchmarks.cli import main as zoo_main
from tasks import captioning, med_report, sentiment, vqa
from tasks.core import inputs
from tasks.core import vision
from tasks.core.audio import SAMPLE_RATE_HZ, load_audio
from tasks.core.checkpoints import CheckpointError, check_compatible, load_checkpoint
from tasks.core.inputs import DataError
from tasks.vqa.metric import ExactMatchAccuracy
from tests.records import example_record

EARLIER = {name: json.dumps(example_record(id=f"{task}-an-earlier-record", task=task)) + "\n"
           for name, task in (("sentiment.jsonl", "sentiment"), ("captioning.jsonl", "captioning"))}


class Pickled:
    """A Python object inside a checkpoint: refused by weights_only loading."""


@pytest.fixture()
def zoo_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run ``zoo ARGS`` (records in tmp_path/records, which holds an earlier record); assert exit 2, one line on
    stderr without a traceback, the earlier record untouched and no predictions; return the error line."""
    records = tmp_path / "records"
    records.mkdir()
    for name in ("sentiment.jsonl", "captioning.jsonl"):
        (records / name).write_text(EARLIER[name])
    monkeypatch.delenv("ZOO_DEBUG", raising=False)

    def run(*args: str) -> str:
        capsys.readouterr()
        extra = ["--records-dir", str(records), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
        assert zoo_main([*args, *extra] if args[0] == "bench" else list(args)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        lines = [line for line in err if line.startswith("zoo: error: ")]
        assert len(lines) == 1 and not any("Traceback" in line for line in err), err
        assert sorted(p.name for p in records.iterdir()) == ["captioning.jsonl", "sentiment.jsonl"]
        assert all((records / name).read_text() == EARLIER[name] for name in ("sentiment.jsonl", "captioning.jsonl"))
        return lines[0]

    return run


def _glue(folder: Path, train: bytes | None = None, dev: bytes | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    rows = b"".join(b"a fine film %d\t1\nboring stuff %d\t0\n" % (i, i) for i in range(600))  # smoke: 1,000 to val
    (folder / "train.tsv").write_bytes(train or b"sentence\tlabel\n" + rows)
    (folder / "dev.tsv").write_bytes(dev or b"sentence\tlabel\ngood\t1\nbad\t0\n")
    return folder


SPLITS = ("train", "train", "train", "val", "test", "test")


def _captions(folder: Path, image: bytes | None = None, name: str = "img/0.png") -> Path:
    """A captions folder of six images; the first row names ``name``, whose bytes are ``image`` if given."""
    from PIL import Image

    (folder / "img").mkdir(parents=True)
    for index in range(len(SPLITS)):
        Image.new("RGB", (16, 16), (40 * index, 0, 0)).save(folder / "img" / f"{index}.png")
    if image is not None:
        (folder / name).write_bytes(image)
    lines = [{"image": name if i == 0 else f"img/{i}.png", "split": split, "captions": ["a red square"]}
             for i, split in enumerate(SPLITS)]
    (folder / "captions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def _wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE_HZ, subtype: str = "PCM_16") -> Path:
    soundfile.write(path, samples, rate, subtype=subtype)
    return path


def _sine(seconds: float, rate: int) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


# ---------------------------------------------------------------- images
def test_corrupt_image_is_named(tmp_path: Path, zoo_fails) -> None:
    folder = _captions(tmp_path / "caps", image=b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DataError, match=r"img/0\.png: not a readable image"):
        vision.load_image(folder / "img" / "0.png")
    line = zoo_fails("bench", "captioning", "--benchmark", "captions-folder", "--recipe", "smoke",
                     "--data-dir", str(folder))
    assert "0.png: not a readable image" in line


def test_image_folder_skips_non_image_files_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _captions(tmp_path / "caps") / "img"
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\0")
    with caplog.at_level(logging.WARNING, logger="zoo.inputs"):
        found = inputs.list_images(folder)
    assert [p.name for p in found] == [f"{i}.png" for i in range(6)]
    assert "skipped 1 non-image file(s): notes.txt" in caplog.text and str(folder) in caplog.text
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("#")
    with pytest.raises(DataError, match="empty: no image files"):
        inputs.list_images(tmp_path / "empty")


def test_manifest_path_outside_the_data_folder_is_an_error(tmp_path: Path, zoo_fails) -> None:
    folder = _captions(tmp_path / "caps", image=b"", name="../outside.png")
    with pytest.raises(DataError, match=r"captions\.jsonl:1: field 'image': path '\.\./outside\.png' is outside"):
        captioning.read_captions_folder(folder)
    line = zoo_fails("bench", "captioning", "--benchmark", "captions-folder", "--recipe", "smoke",
                     "--data-dir", str(folder))
    assert "captions.jsonl:1" in line and "outside the data folder" in line


@pytest.mark.parametrize("task,benchmark,hub_id", [
    ("sentiment", "sst2", "stanfordnlp/sst2"), ("captioning", "flickr30k", "nlphuji/flickr30k"),
    ("vqa", "vqa-rad", "flaviagiammarino/vqa-rad"), ("asr", "librispeech", "openslr/librispeech_asr"),
])
def test_a_hub_id_that_cannot_be_reached_is_named(task: str, benchmark: str, hub_id: str, zoo_fails,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError(f"Couldn't reach '{args[0]}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr("datasets.load_dataset", offline)
    error = zoo_fails("bench", task, "--benchmark", benchmark, "--data-dir", f"hub:{hub_id}", "--recipe", "smoke")
    assert error.startswith(f"zoo: error: hub:{hub_id}: cannot load from the Hugging Face hub (Couldn't reach")


# ---------------------------------------------------------------- audio
def test_truncated_audio_is_named(tmp_path: Path) -> None:
    path = _wav(tmp_path / "cut.wav", _sine(1.0, SAMPLE_RATE_HZ))
    path.write_bytes(path.read_bytes()[:10000])
    with pytest.raises(DataError, match=r"cut\.wav: truncated audio file"):
        load_audio(path)


@pytest.mark.parametrize("rate_hz", [8000, 22050, 44100])
def test_other_sample_rates_are_resampled_and_logged(rate_hz: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(inputs, "_ONCE", set())
    path = _wav(tmp_path / f"at-{rate_hz}.wav", _sine(0.5, rate_hz), rate_hz)
    with caplog.at_level(logging.WARNING, logger="zoo.inputs"):
        waveform = load_audio(path)
    assert waveform.shape == (-(-int(0.5 * rate_hz) * SAMPLE_RATE_HZ // rate_hz),)
    assert f"at-{rate_hz}.wav: {rate_hz} Hz audio resampled to 16000 Hz" in caplog.text


def test_stereo_audio_is_mixed_to_mono_and_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(inputs, "_ONCE", set())
    left, right = _sine(0.2, SAMPLE_RATE_HZ), np.full(int(0.2 * SAMPLE_RATE_HZ), 0.1, dtype=np.float32)
    path = _wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="zoo.inputs"):
        waveform = load_audio(path)
    torch.testing.assert_close(waveform, torch.from_numpy((left + right) / 2))
    assert "stereo.wav: 2-channel audio mixed to mono" in caplog.text


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_nan_or_inf_audio_is_named(bad_value: float, tmp_path: Path) -> None:
    samples = _sine(0.2, SAMPLE_RATE_HZ)
    samples[100] = bad_value
    path = _wav(tmp_path / "bad.wav", samples, subtype="FLOAT")
    with pytest.raises(DataError, match=r"bad\.wav: audio holds NaN or infinite samples"):
        load_audio(path)


def test_over_long_audio_errors_or_is_truncated_as_configured(tmp_path: Path) -> None:
    path = _wav(tmp_path / "long.wav", _sine(2.0, SAMPLE_RATE_HZ))
    with pytest.raises(DataError, match=r"long\.wav: audio is 2\.00 s long, more than max_seconds=1"):
        load_audio(path, max_seconds=1.0)
    assert load_audio(path, max_seconds=1.0, on_long="truncate").shape == (SAMPLE_RATE_HZ,)


# ---------------------------------------------------------------- text and tables
def test_empty_text_is_named(tmp_path: Path, zoo_fails) -> None:
    folder = _glue(tmp_path / "glue", dev=b"sentence\tlabel\ngood\t1\n  \t0\n")
    with pytest.raises(DataError, match=r"dev\.tsv:3: expected a non-empty sentence"):
        sentiment.read_glue_tsv(folder / "dev.tsv")
    with pytest.raises(DataError, match=r"data\.csv:4: field 'text' is empty"):
        inputs.require_text("   ", "data.csv:4", "text")
    line = zoo_fails("bench", "sentiment", "--benchmark", "sst2", "--recipe", "smoke", "--data-dir", str(folder))
    assert "dev.tsv:3" in line


def test_non_utf8_text_is_named_with_line_and_byte(tmp_path: Path, zoo_fails) -> None:
    folder = _glue(tmp_path / "glue", dev=b"sentence\tlabel\ngood\t1\ncaf\xe9 cr\xe8me\t0\n")
    with pytest.raises(DataError, match=r"dev\.tsv:3: not UTF-8 text \(byte 0xe9 at offset 25\)"):
        sentiment.read_glue_tsv(folder / "dev.tsv")
    line = zoo_fails("bench", "sentiment", "--benchmark", "sst2", "--recipe", "smoke", "--data-dir", str(folder))
    assert "dev.tsv:3: not UTF-8" in line


def test_missing_column_is_named(tmp_path: Path) -> None:
    csv = tmp_path / "reports.csv"
    csv.write_text("image_path,split\na.png,train\n")
    with pytest.raises(ValueError, match=r"reports\.csv:1: missing column 'report'"):
        med_report.read_report_csv(csv, val_size=1)
    with pytest.raises(DataError, match=r"rows\.csv:1: missing column 'label' \(columns: text, stars\)"):
        inputs.require_columns(["text", "stars"], ["text", "label"], "rows.csv:1")


def test_unknown_label_in_eval_is_named(tmp_path: Path, zoo_fails) -> None:
    folder = _glue(tmp_path / "glue", dev=b"sentence\tlabel\ngood\t1\nso so\t2\n")
    with pytest.raises(DataError, match=r"dev\.tsv:3: label must be 0 or 1, got '2'"):
        sentiment.read_glue_tsv(folder / "dev.tsv")
    with pytest.raises(DataError, match=r"test\.jsonl:7: label 'meh' is not one of the train labels \('bad', 'good'\)"):
        inputs.check_label("meh", {"good", "bad"}, "test.jsonl:7")
    assert "dev.tsv:3" in zoo_fails("bench", "sentiment", "--benchmark", "sst2", "--recipe", "smoke",
                                    "--data-dir", str(folder))


def test_answer_outside_the_vocabulary_counts_as_wrong() -> None:
    """Documented in tasks/vqa/__init__.py: a test answer the train answers never had gets label -100 (no loss) and
    scores 0; it is never an error."""
    data = vqa.DataModule(vqa.tiny())
    data.setup("fit")
    example = {**data.splits["test"][0], "answer": "a never seen answer", "answers": ["a never seen answer"]}
    batch = data.collate([example, data.splits["test"][1]])
    assert batch["label"][0].item() == -100 and batch["label"][1].item() >= 0
    metric = ExactMatchAccuracy()
    metric.update([data.answers[0]], ["a never seen answer"], ids=["q0"])
    assert float(metric.compute()["accuracy"]) == 0.0


def test_answers_outside_the_vocabulary_are_counted_in_a_warning_once_per_split(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(inputs, "_ONCE", set())
    original = vqa.load_splits

    def with_unseen_test_answers(config: vqa.Config) -> tuple[dict, str]:
        splits, fingerprint = original(config)
        for row in splits["test"].rows[:3]:
            row.update(answer="a never seen answer", answers=["a never seen answer"])
        return splits, fingerprint

    monkeypatch.setattr(vqa, "load_splits", with_unseen_test_answers)
    with caplog.at_level(logging.WARNING, logger="zoo.inputs"):
        data = vqa.DataModule(vqa.tiny())
        data.setup("fit")
        vqa.DataModule(vqa.tiny()).setup("test")  # the same data again: no second warning
    rows = data.splits["test"].rows
    outside = sum(r["answer"] not in data.answers for r in rows)
    assert outside >= 3
    message = (f"sort-of-clevr test: {outside} of {len(rows)} answers are not in the train answer vocabulary "
               f"({len(data.answers)} answers); they get label -100 (no loss) and count as wrong")
    assert caplog.text.count(message) == 1, caplog.text


def test_over_long_text_is_truncated_to_max_length() -> None:
    """Documented at ``Config.max_length``: a longer text keeps its first max_length tokens."""
    config = dataclasses.replace(sentiment.tiny(), max_length=8)
    data = sentiment.DataModule(config)
    data.tokenizer = zoo.ByteTokenizer()
    batch = data.collate([{"id": "long", "text": "a very long review " * 20, "label": 1},
                          {"id": "short", "text": "ok", "label": 0}])
    assert batch["text"].shape == (2, 8) and batch["text_mask"][0].all() and batch["text_mask"][1].sum() == 2


# ---------------------------------------------------------------- configs and checkpoints
def test_malformed_yaml_is_named_with_line(tmp_path: Path, zoo_fails) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("task: sentiment\ntrainer:\n  max_steps: [1, 2\n  devices: 1\n")
    with pytest.raises(DataError, match=r"bad\.yaml:4:\d+: malformed YAML"):
        inputs.load_yaml(path)
    assert "bad.yaml:4:" in zoo_fails("fit", "--config", str(path))
    # with --task the config is not needed to find the task, yet it is still read first and named
    assert "bad.yaml:4:" in zoo_fails("fit", "--task", "sentiment", "--config", str(path))
    assert "bad.yaml:4:" in zoo_fails("test", "--task", "sentiment", "-c", str(path))
    assert "bad.yaml:4:" in zoo_fails("fit", "--task", "sentiment", "--trainer", str(path))


def _checkpoint(path: Path, config: sentiment.Config, payload: dict | None = None) -> Path:
    module = sentiment.Module(config, zoo.ByteTokenizer().to_dict())
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": json.loads(json.dumps(dict(module.hparams))),
                **(payload or {})}, path)
    return path


def test_checkpoint_of_another_task_or_preset_names_both(tmp_path: Path, zoo_fails) -> None:
    path = _checkpoint(tmp_path / "sentiment.ckpt", sentiment.tiny())
    line = zoo_fails("test", "--task", "vqa", "--ckpt_path", str(path))
    assert "sentiment.ckpt: a checkpoint of task 'sentiment', not of task 'vqa'" in line
    with pytest.raises(CheckpointError, match=r"sentiment\.ckpt: a checkpoint of task 'sentiment', not of task 'vqa'"):
        load_checkpoint(path, expected_task="vqa")
    with pytest.raises(CheckpointError, match=r"a checkpoint of preset 'tiny' .*not of preset 'small'"):
        load_checkpoint(path, expected_preset="small")
    bigger = sentiment.Module(dataclasses.replace(sentiment.tiny(), preset="small"), zoo.ByteTokenizer().to_dict())
    with pytest.raises(CheckpointError, match=r"preset 'tiny'.*does not fit this model \(preset 'small'.*\): "
                                              r"parameter '[\w.]+' has shape \(\d+, \d+\), the model expects"):
        check_compatible(bigger, load_checkpoint(path), path)


def test_resuming_from_another_tasks_checkpoint_is_refused(tmp_path: Path, zoo_fails) -> None:
    folder = _glue(tmp_path / "glue")
    last = tmp_path / "runs" / "sentiment" / "sst2" / "smoke" / "zoo-tiny-s0" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    module = captioning.Module(captioning.tiny(), zoo.ByteTokenizer().to_dict())
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, last)
    line = zoo_fails("bench", "sentiment", "--benchmark", "sst2", "--recipe", "smoke", "--data-dir", str(folder),
                     "--resume")
    assert "a checkpoint of task 'captioning', not of task 'sentiment'" in line
    assert last.is_file()  # the checkpoint is kept


def test_pickled_checkpoint_is_refused(tmp_path: Path, zoo_fails) -> None:
    path = _checkpoint(tmp_path / "pickled.ckpt", sentiment.tiny(), {"extra": Pickled()})
    with pytest.raises(CheckpointError, match=r"pickled\.ckpt: refused: the file holds pickled Python objects "
                                              r"\(tests\.test_bad_input\.Pickled\).*weights_only=True"):
        load_checkpoint(path)
    assert "pickled.ckpt: refused" in zoo_fails("test", "--task", "sentiment", "--ckpt_path", str(path))
    last = tmp_path / "runs" / "sentiment" / "sst2" / "smoke" / "zoo-tiny-s0" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(path.read_bytes())
    line = zoo_fails("bench", "sentiment", "--benchmark", "sst2", "--recipe", "smoke", "--data-dir",
                     str(_glue(tmp_path / "glue")), "--resume")
    assert "last.ckpt: refused" in line

"""ASR task: release-layout loaders on fixture folders (FSDD, AN4 with NIST SPHERE, LibriSpeech folder and hub id),
bad audio, length policy, scoring from prediction rows, CTC on and off, the whisper reference and whisper-checkpoint
init."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile
import torch

from leaderboard.predictions import read_predictions
from tasks import asr
from tasks.asr import data as asr_data
from tasks.asr import sources as asr_sources
from tasks.asr.whisper_reference import WhisperASR, dimensions, init_zoo_audio
from tests.runs import two_step_run

TONE_SECONDS = 0.3


def write_tone(path: Path, frequency_hz: float, sample_rate_hz: int = 16000, seconds: float = TONE_SECONDS,
               file_format: str | None = None) -> Path:
    """A sine tone as 16-bit PCM in the format the suffix (or ``file_format``) names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * frequency_hz * t), sample_rate_hz, subtype="PCM_16",
                    format=file_format)
    return path


@pytest.fixture()
def fsdd_folder(tmp_path: Path) -> Path:
    """recordings/{digit}_{speaker}_{index}.wav at 8 kHz: digits 0-2, two speakers, indices 0-7."""
    root = tmp_path / "fsdd"
    for digit in range(3):
        for speaker in ("jackson", "theo"):
            for index in range(8):
                write_tone(root / "recordings" / f"{digit}_{speaker}_{index}.wav", 300 + 200 * digit, 8000)
    return root


AN4_TRAIN = {"an4_clstk/fash/an251-fash-b": "YES", "an4_clstk/fash/an253-fash-b": "GO",
             "an4_clstk/mblw/cen7-mblw-b": "TWO OH ONE FOUR", "an4_clstk/mblw/an82-mblw-b": "ERASE C Q Q F SEVEN"}
AN4_TEST = {"an4test_clstk/fjlp/an416-fjlp-b": "NO", "an4test_clstk/fjlp/an417-fjlp-b": "ENTER NINE ONE SIX NINE"}


@pytest.fixture()
def an4_folder(tmp_path: Path) -> Path:
    """etc/an4_{train,test}.{fileids,transcription} (train with <s> tags, test without) and wav/*.sph."""
    root = tmp_path / "an4"
    (root / "etc").mkdir(parents=True)
    for split, items in (("train", AN4_TRAIN), ("test", AN4_TEST)):
        lines = [f"<s> {words} </s> ({Path(fileid).name})" if split == "train" else f"{words} ({Path(fileid).name})"
                 for fileid, words in items.items()]
        leading = "\n" if split == "test" else ""  # the release's test files start with a blank line
        (root / "etc" / f"an4_{split}.fileids").write_text(leading + "\n".join(items) + "\n")
        (root / "etc" / f"an4_{split}.transcription").write_text(leading + "\n".join(lines) + "\n")
        for i, fileid in enumerate(items):
            write_tone(root / "wav" / f"{fileid}.sph", 250 + 100 * i, file_format="NIST")
    return root


@pytest.fixture()
def librispeech_folder(tmp_path: Path) -> Path:
    """train-clean-100/, dev-clean/, test-clean/ with {speaker}/{chapter}/*.flac and *.trans.txt."""
    root = tmp_path / "LibriSpeech"
    for split, speaker in (("train-clean-100", "19"), ("train-other-500", "20"), ("dev-clean", "84"),
                           ("test-clean", "61")):
        chapter = root / split / speaker / "198"
        lines = []
        for utt in range(3):
            utt_id = f"{speaker}-198-{utt:04d}"
            write_tone(chapter / f"{utt_id}.flac", 200 + 50 * utt)
            lines.append(f"{utt_id} CHAPTER {utt + 1} OF THE BOOK")
        (chapter / f"{speaker}-198.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def _texts(split: object) -> dict[str, str]:
    return dict(zip(split["id"], split["text"], strict=True))


def test_fsdd_folder_gives_the_official_split_and_digit_words(fsdd_folder: Path) -> None:
    splits, fingerprint = asr_data.load_splits("fsdd", str(fsdd_folder), val_size=4)
    assert {name: len(split) for name, split in splits.items()} == {"train": 14, "val": 4, "test": 30}
    test = _texts(splits["test"])
    assert all(int(row_id.rsplit("_", 1)[1]) < 5 for row_id in test)
    assert test["fsdd:2_theo_3"] == "two" and test["fsdd:0_jackson_0"] == "zero"
    assert not set(splits["train"]["id"]) & set(splits["val"]["id"])
    assert splits["test"][0]["num_frames"] == int(TONE_SECONDS * 100)  # 8 kHz resampled to 16 kHz, 10 ms hop
    assert len(fingerprint) == 16


def test_an4_folder_reads_transcripts_and_sphere_audio(an4_folder: Path) -> None:
    splits, _ = asr_data.load_splits("an4", str(an4_folder), val_size=1)
    assert len(splits["train"]) + len(splits["val"]) == 4
    assert {**_texts(splits["train"]), **_texts(splits["val"])}["an4:cen7-mblw-b"] == "TWO OH ONE FOUR"
    assert _texts(splits["test"]) == {"an4:an416-fjlp-b": "NO", "an4:an417-fjlp-b": "ENTER NINE ONE SIX NINE"}
    mel = asr_data.decode_features(splits["test"][0])
    assert mel.shape == (asr_data.NUM_MEL_BINS, int(TONE_SECONDS * 100)) and torch.isfinite(mel).all()


def test_librispeech_folder_uses_every_train_folder_and_dev_clean(librispeech_folder: Path) -> None:
    splits, _ = asr_data.load_splits("librispeech", str(librispeech_folder), val_size=1)
    assert {name: len(split) for name, split in splits.items()} == {"train": 6, "val": 3, "test": 3}
    assert _texts(splits["val"])["librispeech:84-198-0001"] == "CHAPTER 2 OF THE BOOK"
    assert {row_id.split(":")[1].split("-")[0] for row_id in splits["train"]["id"]} == {"19", "20"}


def test_librispeech_hub_id_reads_the_clean_splits_undecoded(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``hub:openslr/librispeech_asr`` on a local stand-in of its "clean" configuration (its columns; FLAC bytes)."""
    def split(speaker: int) -> datasets.Dataset:
        rows = {"file": [], "audio": [], "text": [], "speaker_id": [], "chapter_id": [], "id": []}
        for utt in range(2):
            utt_id = f"{speaker}-7-{utt:04d}"
            path = write_tone(tmp_path / f"{utt_id}.flac", 200 + 100 * utt, seconds=0.2 + 0.1 * utt)
            for column, value in {"file": path.name, "audio": {"bytes": path.read_bytes(), "path": path.name},
                                  "text": f"WORD {speaker} {utt}", "speaker_id": speaker, "chapter_id": 7,
                                  "id": utt_id}.items():
                rows[column].append(value)
        return datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(sampling_rate=16000))

    asked = []

    def load_dataset(path: str, name: str) -> datasets.DatasetDict:
        asked.append((path, name))
        return datasets.DatasetDict({"train.100": split(1), "validation": split(2), "test": split(3)})

    monkeypatch.setattr("datasets.load_dataset", load_dataset)  # what tasks.core.data.load_hub calls
    splits, fingerprint = asr_data.load_splits("librispeech", "hub:openslr/librispeech_asr", val_size=1)
    assert asked == [("openslr/librispeech_asr", "clean")] and fingerprint
    assert _texts(splits["test"]) == {"librispeech:3-7-0000": "WORD 3 0", "librispeech:3-7-0001": "WORD 3 1"}
    assert _texts(splits["val"])["librispeech:2-7-0001"] == "WORD 2 1" and len(splits["train"]) == 2
    assert splits["test"]["num_frames"] == [20, 30]
    assert asr_data.decode_features(splits["test"][1]).shape == (asr_data.NUM_MEL_BINS, 30)


@pytest.mark.parametrize("bad_bytes", [b"RIFF\x00\x00\x00\x00WAVEjunk", b"not audio at all"])
def test_a_bad_audio_file_is_named(fsdd_folder: Path, bad_bytes: bytes) -> None:
    bad = fsdd_folder / "recordings" / "1_theo_6.wav"
    bad.write_bytes(bad_bytes)
    with pytest.raises(ValueError, match="1_theo_6.wav") as info:
        asr_data.load_splits("fsdd", str(fsdd_folder), val_size=4)
    assert "\n" not in str(info.value)


def test_a_malformed_an4_line_names_file_and_line(an4_folder: Path) -> None:
    path = an4_folder / "etc" / "an4_test.transcription"
    path.write_text("\nNO (an416-fjlp-b)\nENTER NINE\n")
    with pytest.raises(ValueError, match=r"an4_test.transcription:3: expected"):
        asr_data.load_splits("an4", str(an4_folder), val_size=1)


def test_a_missing_an4_audio_file_is_named(an4_folder: Path) -> None:
    (an4_folder / "wav" / "an4test_clstk" / "fjlp" / "an417-fjlp-b.sph").unlink()
    with pytest.raises(ValueError, match="an417-fjlp-b.sph: no such audio file"):
        asr_data.load_splits("an4", str(an4_folder), val_size=1)


def test_data_fingerprint_follows_file_content(fsdd_folder: Path) -> None:
    _, before = asr_data.load_splits("fsdd", str(fsdd_folder), val_size=4)
    write_tone(fsdd_folder / "recordings" / "0_theo_7.wav", 999.0, 8000)
    _, after = asr_data.load_splits("fsdd", str(fsdd_folder), val_size=4)
    assert before != after


@pytest.mark.parametrize("on_long", ["error", "truncate"])
def test_audio_longer_than_the_limit_errors_or_is_cut(fsdd_folder: Path, on_long: str) -> None:
    write_tone(fsdd_folder / "recordings" / "2_jackson_0.wav", 440.0, 8000, seconds=1.5)
    config = asr.Config(benchmark="fsdd", data_dir=str(fsdd_folder), val_size=4, max_audio_seconds=1.0,
                        on_long=on_long)
    datamodule = asr.DataModule(config)
    if on_long == "error":
        with pytest.raises(ValueError, match=r"2_jackson_0.wav: audio is 1.50 s long"):
            datamodule.setup()
        return
    datamodule.setup()
    cut = next(e for e in datamodule.splits["test"] if e["id"] == "fsdd:2_jackson_0")
    assert cut["mel"].shape[1] == config.max_frames == 100


def test_config_fills_benchmark_defaults_and_round_trips() -> None:
    an4, libri = asr.Config(benchmark="an4"), asr.Config(benchmark="librispeech")
    assert (an4.max_audio_seconds, an4.normalizer) == (8.0, "whisper-english+split-digits")
    assert libri.normalizer == "whisper-english" and libri.decoding.max_new_tokens == libri.max_target_tokens
    from tasks.core.contract import config_from_dict
    assert config_from_dict(asr.Config, dataclasses.asdict(asr.quick("fsdd"))) == asr.quick("fsdd")
    for recipe, make in asr.PRESETS.items():
        for benchmark in asr.SPEC.benchmark_names:
            for arch in asr.SPEC.models:
                assert make(benchmark, arch).benchmark == benchmark, recipe


@pytest.mark.parametrize("changes,field", [
    ({"benchmark": "timit"}, "benchmark"), ({"on_long": "skip"}, "on_long"), ({"arch": "conformer"}, "arch"),
    ({"model": {"vocab_size": 10}}, "model"), ({"model": {"text_input": True}}, "model"),
    ({"normalizer": "lower"}, "normalizer"),
    ({"init_checkpoint": "w.pt"}, "feature_norm"),
    ({"max_target_tokens": 4, "decoding": {"max_new_tokens": 8}}, "decoding.max_new_tokens"),
])
def test_bad_config_fields_are_named(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        asr.Config(**changes)


def test_length_grouped_sampler_is_a_seeded_permutation_of_similar_lengths() -> None:
    lengths = torch.randint(10, 500, (200,), generator=torch.Generator().manual_seed(1)).tolist()
    sampler = asr_data.LengthGroupedSampler(lengths, batch_size=8, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(200)) and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    spread = [max(lengths[i] for i in first[s:s + 8]) - min(lengths[i] for i in first[s:s + 8])
              for s in range(0, 200, 8)]
    assert sum(spread) / len(spread) < 0.25 * (max(lengths) - min(lengths))


def test_spec_augment_masks_a_few_bands_and_spans_of_real_frames() -> None:
    torch.manual_seed(0)
    mask = torch.ones(4, 50, dtype=torch.bool)
    mask[1, 30:] = False
    audio = torch.ones(4, asr_data.NUM_MEL_BINS, 50) * mask[:, None, :]
    out = asr_data.spec_augment(audio, mask)
    for row in range(4):
        real = int(mask[row].sum())
        masked_bins = int(out[row, :, :real].eq(0).all(dim=1).sum())
        masked_frames = int(out[row, :, :real].eq(0).all(dim=0).sum())
        assert masked_bins <= 30 and masked_frames <= 2 * int(0.1 * real)
    assert out[1, :, 30:].eq(0).all() and out.sum() > 0.5 * audio.sum()


def test_time_stretch_resamples_real_frames_and_keeps_padding_zero() -> None:
    torch.manual_seed(0)
    mask = torch.ones(2, 100, dtype=torch.bool)
    mask[1, 60:] = False
    ramp = torch.linspace(0.0, 1.0, 100).expand(2, asr_data.NUM_MEL_BINS, 100) * mask[:, None, :]
    lengths = set()
    for _ in range(20):
        out, keep = asr_data.time_stretch(ramp, mask, 0.1, max_frames=105)
        frames = out.shape[2]
        lengths.add(frames)
        assert 90 <= frames <= 105 and keep.shape == (2, frames) and keep[0].all()
        assert abs(int(keep[1].sum()) - round(60 * frames / 100)) <= 1 and out[1][:, ~keep[1]].eq(0).all()
        assert torch.all(out[0, :, 1:] >= out[0, :, :-1])  # a ramp stays a ramp: resampled, not shuffled
    assert len(lengths) > 5 and max(lengths) == 105  # the cap holds
    with pytest.raises(ValueError, match="time_stretch"):
        asr.Config(time_stretch=1.5)
    with pytest.raises(ValueError, match="audio_stride"):
        asr.Config(arch="whisper", model={"audio_stride": 4})


def test_scores_are_corpus_rates_of_the_normalised_rows() -> None:
    rows = [{"id": "a", "prediction": "4 1 7", "reference": "4 1 7", "score": 0.0},
            {"id": "b", "prediction": "4 1", "reference": "4 1 7", "score": 1 / 3},
            {"id": "c", "prediction": "go", "reference": "", "score": 1.0}]  # empty reference: skipped
    scores = asr.score_predictions(rows)
    assert math.isclose(scores["wer"], 1 / 6, rel_tol=1e-6) and math.isclose(scores["cer"], 2 / 10, rel_tol=1e-6)
    assert [asr.example_wer(r["prediction"], r["reference"]) for r in rows] == pytest.approx([0.0, 1 / 3, 1.0])


def test_fsdd_run_rescores_from_its_predictions(fsdd_folder: Path, records_dir: Path, tmp_path: Path) -> None:
    record = two_step_run("asr", records_dir, tmp_path / "runs", benchmark="fsdd", data_dir=str(fsdd_folder),
                          overrides={"val_size": 4, "spec_augment": True, "time_stretch": 0.1})
    rows = read_predictions(records_dir / record["predictions"])
    assert record["num_test_examples"] == len(rows) == 30
    assert asr.score_predictions(rows) == record["metrics"]
    assert record["samples"][0]["input"] == {"transcript": "zero"}
    assert record["config"]["normalizer"] == "whisper-english+split-digits"


def _batch(config: asr.Config) -> tuple[asr.DataModule, dict]:
    datamodule = asr.DataModule(config)
    datamodule.setup()
    return datamodule, next(iter(datamodule.train_dataloader()))


@pytest.mark.parametrize("ctc_weight", [0.0, 0.5])
def test_ctc_on_and_off_both_train(ctc_weight: float) -> None:
    config = dataclasses.replace(asr.tiny(), ctc_weight=ctc_weight)
    datamodule, batch = _batch(config)
    torch.manual_seed(0)
    module = asr.Module(config, datamodule.tokenizer.to_dict(), **datamodule.module_kwargs())
    loss = module.step(batch, "train")
    loss.backward()
    lm = asr.seq2seq.lm_loss(module.net, module.inputs(batch), batch["target"], batch["target_mask"])
    assert (module.ctc_head is not None) == (ctc_weight > 0)
    if module.ctc_head is None:
        torch.testing.assert_close(loss, lm)
    else:
        assert loss > lm and module.ctc_head.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in module.parameters()), "every parameter gets a gradient"


def test_whisper_reference_ignores_padding() -> None:
    config = asr.tiny(arch="whisper")
    datamodule, batch = _batch(config)
    module = asr.Module(config, datamodule.tokenizer.to_dict(), **datamodule.module_kwargs()).eval()
    inputs = module.inputs(batch)
    row = int(inputs["audio_mask"].sum(1).argmin())  # the shortest row: padded in the batch
    alone = {"audio": inputs["audio"][row:row + 1, :, : int(inputs["audio_mask"][row].sum())]}
    torch.testing.assert_close(module.net.encode(alone)[0][0], module.net.encode(inputs)[0][row])


def _whisper_checkpoint(path: Path, model_config: object) -> Path:
    torch.manual_seed(7)
    reference = WhisperASR(dimensions(model_config))
    torch.save({"dims": dataclasses.asdict(reference.whisper.dims),
                "model_state_dict": reference.whisper.state_dict()}, path)
    return path


def test_whisper_model_starts_from_a_local_checkpoint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = dataclasses.replace(asr.tiny(arch="whisper"), feature_norm="none")
    tokenizer = asr.zoo.ByteTokenizer().to_dict()
    model_config = asr.Module(config, tokenizer).model_config
    path = _whisper_checkpoint(tmp_path / "whisper-tiny-random.pt", model_config)
    caplog.set_level(logging.INFO)
    module = asr.Module(dataclasses.replace(config, init_checkpoint=str(path)), tokenizer)
    saved = torch.load(path, weights_only=True)["model_state_dict"]
    for key, value in module.net.whisper.state_dict().items():
        torch.testing.assert_close(value, saved[key])
    assert f"tensors from {path} (0 left out)" in caplog.text


def test_the_zoo_encoder_reads_no_text() -> None:
    module = asr.Module(dataclasses.replace(asr.tiny(), feature_norm="none"), asr.zoo.ByteTokenizer().to_dict())
    keys = set(module.state_dict())
    assert module.net.text is None and not any(k.startswith("net.text.") for k in keys)
    assert "net.decoder.token.weight" in keys


def test_zoo_audio_encoder_from_a_whisper_checkpoint_computes_whisper_encoder(tmp_path: Path) -> None:
    config = dataclasses.replace(asr.tiny(), feature_norm="none")
    tokenizer = asr.zoo.ByteTokenizer().to_dict()
    model_config = asr.Module(config, tokenizer).model_config
    path = _whisper_checkpoint(tmp_path / "whisper-tiny-random.pt", model_config)
    net = asr.zoo.MultimodalModel(model_config).eval()
    report = init_zoo_audio(net, path)
    assert "audio.conv1.weight" in report["loaded"] and not any(k.startswith("encoder.") for k in report["skipped"])
    reference = WhisperASR(dimensions(model_config)).eval()
    reference.whisper.load_state_dict(torch.load(path, weights_only=True)["model_state_dict"])
    mel = torch.randn(2, asr_data.NUM_MEL_BINS, reference.num_frames)
    memory, _ = net.encode({"audio": mel})
    torch.testing.assert_close(memory, reference.whisper.encoder(mel), atol=1e-5, rtol=1e-4)


def test_a_checkpoint_file_that_is_not_whisper_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, path)
    config = dataclasses.replace(asr.tiny(arch="whisper"), feature_norm="none", init_checkpoint=str(path))
    with pytest.raises(ValueError, match="other.pt: not a whisper checkpoint"):
        asr.Module(config, asr.zoo.ByteTokenizer().to_dict())


def test_module_reloads_from_its_lightning_checkpoint(records_dir: Path, tmp_path: Path) -> None:
    two_step_run("asr", records_dir, tmp_path / "runs")
    (last,) = (tmp_path / "runs").rglob("last.ckpt")
    reloaded = asr.Module.load_from_checkpoint(last)
    assert reloaded.config == dataclasses.replace(asr.tiny(), optim=reloaded.config.optim)
    assert reloaded.feature_std.shape == (asr_data.NUM_MEL_BINS, 1)


def test_hold_out_is_fixed_and_disjoint() -> None:
    rows = [{"id": str(i)} for i in range(50)]
    train, val = asr_sources.hold_out(rows, 10)
    assert (train, val) == asr_sources.hold_out(rows, 10)
    assert len(val) == 10 and not set(train) & set(val) and len(train) + len(val) == 50
    with pytest.raises(ValueError, match="val_size"):
        asr_sources.hold_out(rows, 50)


@pytest.mark.parametrize("data_dir,error,message", [
    (None, ValueError, "an4 needs a data dir: an AN4 folder with etc/ and wav/"),
    ("/nonexistent/an4", FileNotFoundError, r"an4: data dir not found \(expected an AN4 folder"),
    ("hub:someone/an4", ValueError, "hub ids are supported for librispeech only"),
])
def test_a_missing_data_dir_names_the_release_layout(data_dir: str | None, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        asr_data.load_splits("an4", data_dir, val_size=1)

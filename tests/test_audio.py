"""tasks/core/audio.py: decoding (WAV, FLAC, NIST SPHERE), mono mix, resampling, bad files, log-mel."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from tasks.core.audio import SAMPLE_RATE_HZ, load_audio, log_mel_features, resample

TONE_HZ = 440.0


def sine(frequency_hz: float, sample_rate_hz: int, seconds: float = 1.0, amplitude: float = 0.5) -> torch.Tensor:
    """A float32 sine (N,) computed in float64."""
    t = torch.arange(int(round(seconds * sample_rate_hz)), dtype=torch.float64) / sample_rate_hz
    return (amplitude * torch.sin(2 * math.pi * frequency_hz * t)).to(torch.float32)


def peak_frequency_hz(waveform: torch.Tensor, sample_rate_hz: int) -> float:
    """FFT peak of a Hann-windowed signal, refined by parabolic interpolation of the log magnitude."""
    spectrum = torch.fft.rfft(waveform.double() * torch.hann_window(len(waveform), dtype=torch.float64)).abs()
    i = int(spectrum.argmax())
    a, b, c = (math.log(float(spectrum[j])) for j in (i - 1, i, i + 1))
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * sample_rate_hz / len(waveform)


@pytest.mark.parametrize("orig_hz", [8000, 22050, 44100])
def test_resampled_sine_keeps_its_frequency_and_length(orig_hz: int) -> None:
    tone = sine(TONE_HZ, orig_hz, seconds=1.003)
    out = resample(tone, orig_hz, SAMPLE_RATE_HZ)
    assert out.dtype == torch.float32
    assert len(out) == math.ceil(len(tone) * SAMPLE_RATE_HZ / orig_hz)
    assert abs(peak_frequency_hz(out, SAMPLE_RATE_HZ) - TONE_HZ) < 0.05
    expected = sine(TONE_HZ, SAMPLE_RATE_HZ, seconds=len(out) / SAMPLE_RATE_HZ)
    interior = slice(400, len(out) - 400)  # the ends see zeros beyond the signal
    torch.testing.assert_close(out[interior], expected[interior], atol=1e-4, rtol=0)


def test_downsampling_removes_what_would_alias() -> None:
    tone_12khz = sine(12000.0, 44100)  # above the new 8 kHz Nyquist: would fold to 4 kHz
    out = resample(tone_12khz, 44100, SAMPLE_RATE_HZ)
    assert float(out[400:-400].abs().max()) < 1e-3


def test_resample_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="positive"):
        resample(torch.zeros(10), 0, SAMPLE_RATE_HZ)
    with pytest.raises(ValueError, match="1-D"):
        resample(torch.zeros(2, 10), 8000, SAMPLE_RATE_HZ)
    torch.testing.assert_close(resample(torch.ones(5), 16000, 16000), torch.ones(5))


@pytest.mark.parametrize(("suffix", "file_format", "subtype"), [
    (".wav", "WAV", "PCM_16"), (".wav", "WAV", "FLOAT"), (".flac", "FLAC", "PCM_16"), (".sph", "NIST", "PCM_16"),
])
def test_formats_decode_to_the_same_waveform(tmp_path: Path, suffix: str, file_format: str, subtype: str) -> None:
    tone = sine(TONE_HZ, SAMPLE_RATE_HZ, seconds=0.5)
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, tone.numpy(), SAMPLE_RATE_HZ, format=file_format, subtype=subtype)
    assert soundfile.info(path).format == file_format
    torch.testing.assert_close(load_audio(path), tone, atol=1e-4, rtol=0)


def test_stereo_is_averaged_and_other_rates_resampled(tmp_path: Path) -> None:
    left = sine(TONE_HZ, 22050)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, torch.stack([left, 0.5 * left], dim=1).numpy(), 22050)
    waveform = load_audio(path)
    assert waveform.shape == (math.ceil(len(left) * SAMPLE_RATE_HZ / 22050),)
    expected = 0.75 * sine(TONE_HZ, SAMPLE_RATE_HZ, seconds=len(waveform) / SAMPLE_RATE_HZ)
    torch.testing.assert_close(waveform[400:-400], expected[400:-400], atol=1e-3, rtol=0)


def test_silence_is_valid_audio(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(800, dtype=np.float32), SAMPLE_RATE_HZ)
    torch.testing.assert_close(load_audio(path), torch.zeros(800))


def _write_bad(path: Path, kind: str) -> None:
    """Write a broken audio file of one ``kind``."""
    tone = sine(TONE_HZ, SAMPLE_RATE_HZ).numpy()
    if kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "no_samples":
        soundfile.write(path, np.zeros(0, dtype=np.float32), SAMPLE_RATE_HZ)
    elif kind in ("nan", "inf"):
        tone[100] = np.nan if kind == "nan" else np.inf
        soundfile.write(path, tone, SAMPLE_RATE_HZ, subtype="FLOAT")
    else:  # "truncated": the second half cut off
        file_format = {".wav": "WAV", ".flac": "FLAC", ".sph": "NIST"}[path.suffix]
        soundfile.write(path, tone, SAMPLE_RATE_HZ, format=file_format, subtype="PCM_16")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if kind == "truncated" else data[:30])


@pytest.mark.parametrize(("name", "kind", "message"), [
    ("garbage.wav", "garbage", "cannot decode"), ("empty.wav", "empty_file", "cannot decode"),
    ("header.wav", "header_only", "cannot decode"), ("cut.wav", "truncated", "truncated"),
    ("cut.sph", "truncated", "truncated"), ("cut.flac", "truncated", "cannot decode"),
    ("none.wav", "no_samples", "no samples"), ("nan.wav", "nan", "NaN"), ("inf.wav", "inf", "infinite"),
])
def test_bad_files_raise_one_line_errors_naming_the_file(tmp_path: Path, name: str, kind: str, message: str) -> None:
    path = tmp_path / name
    _write_bad(path, kind)
    with pytest.raises(ValueError, match=re.escape(str(path))) as caught:
        load_audio(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file_and_folder_are_named(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.wav", tmp_path):
        with pytest.raises(ValueError, match=re.escape(f"{path}: no such audio file")):
            load_audio(path)


def test_long_audio_errors_or_truncates(tmp_path: Path) -> None:
    path = tmp_path / "two_seconds.wav"
    soundfile.write(path, sine(TONE_HZ, 8000, seconds=2.0).numpy(), 8000)
    with pytest.raises(ValueError, match=re.escape(f"{path}: audio is 2.00 s long, more than max_seconds=1.5")):
        load_audio(path, max_seconds=1.5)
    assert load_audio(path, max_seconds=1.5, on_long="truncate").shape == (int(1.5 * SAMPLE_RATE_HZ),)
    assert load_audio(path, max_seconds=3.0).shape == (2 * SAMPLE_RATE_HZ,)
    with pytest.raises(ValueError, match="on_long"):
        load_audio(path, max_seconds=1.0, on_long="drop")


@pytest.mark.parametrize("num_mel_bins", [80, 128])
def test_log_mel_features_are_whisper_frames_without_padding(num_mel_bins: int) -> None:
    waveform = sine(TONE_HZ, SAMPLE_RATE_HZ, seconds=1.25)
    features = log_mel_features(waveform, num_mel_bins=num_mel_bins)
    assert features.shape == (num_mel_bins, len(waveform) // 160)
    assert torch.isfinite(features).all()


def test_log_mel_features_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="num_mel_bins"):
        log_mel_features(torch.zeros(16000), num_mel_bins=64)
    with pytest.raises(ValueError, match="fewer than 400"):
        log_mel_features(torch.zeros(100))


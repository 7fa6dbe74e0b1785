"""Audio input for the zoo: decode, mono-mix, resample to 16 kHz, log-mel features.

Decoding goes through ``soundfile`` (libsndfile: WAV, FLAC, NIST SPHERE ``.sph``, OGG, …), so set-up stays
pip-only (no ffmpeg, no torchcodec, no torchaudio). Multichannel audio is averaged to mono and any sample
rate is brought to ``SAMPLE_RATE_HZ`` by ``resample``, a Kaiser-windowed sinc interpolator written here.

Every problem with a file is a one-line ``DataError`` (a ``ValueError``) naming the file: unreadable, corrupt or
truncated, no samples, NaN/inf samples, or longer than ``max_seconds`` with ``on_long="error"``. Silence is valid
audio. Resampling (e.g. 8, 22.05 or 44.1 kHz → 16 kHz) and mono-mixing are logged on ``zoo.inputs``, once per
source rate / channel count, naming the first file.

Shapes: N samples, M mel bins, F frames (10 ms hop).
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import numpy as np
import soundfile
import torch

from tasks.core.inputs import DataError, log_once

SAMPLE_RATE_HZ = 16000
HOP_SAMPLES = 160  # whisper's 10 ms hop at 16 kHz
N_FFT = 400  # whisper's 25 ms window
MEL_BIN_CHOICES = (80, 128)  # the filterbanks whisper ships
ZERO_CROSSINGS = 16  # half-width of the interpolation kernel, in zero crossings of the sinc
KAISER_BETA = 8.6  # about -80 dB sidelobes
ROLLOFF = 0.945  # cutoff as a fraction of the lower Nyquist frequency
CHUNK_OUTPUTS = 32768  # output samples interpolated per step (bounds memory at CHUNK x taps)
ON_LONG_CHOICES = ("error", "truncate")


@functools.lru_cache(maxsize=16)
def _kernel_table(up: int, down: int) -> tuple[torch.Tensor, int]:
    """Interpolation weights ``(up, 2 * half + 1)`` float32 for the ``up`` fractional phases, and ``half``.

    Row ``r`` holds ``h(r / up - j)`` for taps ``j = -half..half`` (in input samples), where ``h`` is a
    low-pass sinc at ``ROLLOFF`` of the lower Nyquist frequency under a Kaiser window of ``ZERO_CROSSINGS``.
    """
    cutoff = ROLLOFF * min(1.0, up / down) / 2  # cycles per input sample
    half_width = ZERO_CROSSINGS / (2 * cutoff)  # input samples to the window's edge
    half = math.ceil(half_width) + 1
    taps = torch.arange(-half, half + 1, dtype=torch.float64)  # (K,)
    offsets = torch.arange(up, dtype=torch.float64)[:, None] / up - taps[None, :]  # (up, K)
    ratio = (offsets / half_width).clamp(-1.0, 1.0)
    window = torch.special.i0(KAISER_BETA * torch.sqrt(1.0 - ratio**2)) / torch.special.i0(torch.tensor(KAISER_BETA))
    window = torch.where(offsets.abs() <= half_width, window, torch.zeros_like(window))
    return (2 * cutoff * torch.sinc(2 * cutoff * offsets) * window).to(torch.float32), half


def resample(waveform: torch.Tensor, orig_hz: int, new_hz: int = SAMPLE_RATE_HZ) -> torch.Tensor:
    """Band-limited resampling of ``waveform`` (N,) from ``orig_hz`` to ``new_hz``; returns (ceil(N * new / orig),).

    Output sample ``k`` sits at input time ``k * orig / new``: a windowed-sinc interpolation whose low-pass
    cutoff is ``ROLLOFF`` times the lower of the two Nyquist frequencies, so downsampling does not alias.
    With ``g = gcd(orig, new)`` there are only ``new / g`` fractional positions, whose weights are tabulated
    once. Samples beyond the ends count as zero. Float32 in, float32 out.
    """
    if waveform.dim() != 1:
        raise ValueError(f"resample: expected a 1-D waveform (N,), got shape {tuple(waveform.shape)}")
    if int(orig_hz) <= 0 or int(new_hz) <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {orig_hz} -> {new_hz}")
    waveform = waveform.to(torch.float32)
    if orig_hz == new_hz or waveform.numel() == 0:
        return waveform.clone()
    divisor = math.gcd(int(orig_hz), int(new_hz))
    up, down = int(new_hz) // divisor, int(orig_hz) // divisor
    table, half = _kernel_table(up, down)  # (up, K)
    num_outputs = -(-waveform.numel() * up // down)  # ceil(N * up / down)
    num_periods = -(-num_outputs // up)  # outputs come in periods of `up`, one per fractional phase
    padded = torch.nn.functional.pad(waveform, (half, half + down + 1))  # room for the last period
    frames = padded.unfold(0, 2 * half + 1, 1)  # (N + down + 1, K) view: frames[i] = inputs i - half .. i + half
    phase_offsets = torch.arange(up, dtype=torch.int64) * down  # (up,): output r of a period, in 1/up inputs
    weights = table[phase_offsets % up]  # (up, K)
    periods_per_chunk = max(1, CHUNK_OUTPUTS // up)
    pieces = []
    for start in range(0, num_periods, periods_per_chunk):
        period = torch.arange(start, min(start + periods_per_chunk, num_periods), dtype=torch.int64)  # (P,)
        base = period[:, None] * down + phase_offsets[None, :] // up  # (P, up): input at or before each output
        pieces.append(torch.einsum("prk,rk->pr", frames[base], weights).reshape(-1))  # (P * up,)
    return torch.cat(pieces)[:num_outputs]


def _truncation(sound: soundfile.SoundFile, path: Path) -> str | None:
    """Why the header promises more samples than the file holds (WAV, NIST SPHERE), or None."""
    if sound.format == "WAV":
        match = re.search(r"^data : (\d+) \(should be (\d+)\)", sound.extra_info, flags=re.MULTILINE)
        if match:
            declared, present = int(match.group(1)), int(match.group(2))
            if present < declared < 0xFFFF0000:  # 0xFFFFFFFF and kin: streaming writers' placeholders
                return f"header declares {declared} data bytes but only {present} are present"
    elif sound.format == "NIST":
        with open(path, "rb") as handle:
            header = handle.read(1024).decode("ascii", errors="replace")
        match = re.search(r"sample_count -i (\d+)", header)
        if match and int(match.group(1)) > sound.frames:
            return f"header declares {match.group(1)} samples but only {sound.frames} are present"
    return None


def _read(path: Path, max_seconds: float | None, on_long: str) -> tuple[np.ndarray, int]:
    """Decode ``path`` to ``(samples (N, C) float32, sample_rate_hz)``, applying the length policy."""
    try:
        with soundfile.SoundFile(path) as sound:
            reason = _truncation(sound, path)
            if reason:
                raise DataError(f"{path}: truncated audio file ({reason})")
            rate = sound.samplerate
            frames = sound.frames
            if max_seconds is not None and frames > max_seconds * rate:
                if on_long == "error":
                    raise DataError(f"{path}: audio is {frames / rate:.2f} s long, "
                                     f"more than max_seconds={max_seconds}")
                frames = int(max_seconds * rate)
            samples = sound.read(frames, dtype="float32", always_2d=True)
    except soundfile.SoundFileError as error:
        message = re.sub(r"^Error( opening .*?)?\s*:\s*", "", str(error)).strip() or type(error).__name__
        raise DataError(f"{path}: cannot decode audio ({message})") from error
    except OSError as error:
        raise DataError(f"{path}: cannot read audio ({error.strerror or error})") from error
    return samples, rate


def load_audio(path: str | Path, max_seconds: float | None = None, on_long: str = "error") -> torch.Tensor:
    """Decode an audio file to a mono float32 waveform (N,) at ``SAMPLE_RATE_HZ``.

    Channels are averaged and other sample rates resampled (both logged, see the module docstring).
    ``max_seconds`` bounds the duration: ``on_long="error"`` raises, ``on_long="truncate"`` keeps the first
    ``max_seconds``. Raises a one-line ``DataError`` naming the file when it cannot be decoded, is truncated,
    holds no samples or holds NaN/inf samples.
    """
    path = Path(path)
    if on_long not in ON_LONG_CHOICES:
        raise ValueError(f"load_audio: on_long must be one of {ON_LONG_CHOICES}, got {on_long!r}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"load_audio: max_seconds must be positive, got {max_seconds}")
    if not path.is_file():
        raise DataError(f"{path}: no such audio file")
    samples, rate = _read(path, max_seconds, on_long)
    if samples.size == 0:
        raise DataError(f"{path}: audio file holds no samples")
    if not np.isfinite(samples).all():
        raise DataError(f"{path}: audio holds NaN or infinite samples")
    if samples.shape[1] > 1:
        log_once(f"channels-{samples.shape[1]}", f"{path}: {samples.shape[1]}-channel audio mixed to mono "
                 "(channels averaged; logged once per channel count)")
    if rate != SAMPLE_RATE_HZ:
        log_once(f"rate-{rate}", f"{path}: {rate} Hz audio resampled to {SAMPLE_RATE_HZ} Hz (logged once per rate)")
    mono = torch.from_numpy(samples.mean(axis=1, dtype=np.float32))  # (N,)
    return resample(mono, rate, SAMPLE_RATE_HZ)


def log_mel_features(waveform: torch.Tensor, num_mel_bins: int = 80) -> torch.Tensor:
    """Whisper's log-mel spectrogram (M, F) of a 16 kHz waveform (N,), F = N // 160; no 30 s padding.

    Values follow whisper's scaling: log10 power, floored 8 below the utterance's maximum, then
    ``(x + 4) / 4``.
    """
    import whisper.audio  # deferred: importing whisper loads its model code (about a second)

    if num_mel_bins not in MEL_BIN_CHOICES:
        raise ValueError(f"log_mel_features: num_mel_bins must be one of {MEL_BIN_CHOICES}, got {num_mel_bins}")
    if waveform.dim() != 1:
        raise ValueError(f"log_mel_features: expected a 1-D waveform (N,), got shape {tuple(waveform.shape)}")
    if waveform.numel() < N_FFT:
        raise ValueError(f"log_mel_features: waveform has {waveform.numel()} samples, fewer than {N_FFT} (25 ms)")
    return whisper.audio.log_mel_spectrogram(waveform.to(torch.float32), n_mels=num_mel_bins)  # (M, F)

"""tts-digits: spoken digit strings and command words, synthesised offline with espeak-ng, in noise.

Each utterance is 1–7 words: mostly a digit string ("four one seven", with "oh" sometimes standing for
zero), otherwise 1–3 command words ("go left", "stop"). It is spoken by ``tasks.generators.tts.synthesize`` with a
drawn voice (an English accent plus a male/female variant), rate (120–220 words per minute) and pitch
(20–80), resampled from espeak's 22050 Hz to 16 kHz with ``tasks.core.audio.resample``, and mixed with white,
pink (1/f) or brown (1/f²) noise at a drawn signal-to-noise ratio (5–30 dB). The SNR is exact over the
whole clip, espeak's short lead-in and trailing silence included: the noise is scaled so that
mean(speech²) / mean(noise²) = 10^(snr_db / 10). A mixture peaking above ``PEAK_LIMIT`` is scaled down
as a whole, which leaves the SNR unchanged.

Rows depend only on ``(seed, index)``: utterance ``i`` draws from ``numpy.random.default_rng([seed, i])``,
so ``generate(n, seed)`` is a prefix of ``generate(m, seed)`` for ``n < m``, and espeak-ng output is
bit-deterministic (see ``tasks.generators.tts``).
"""

from __future__ import annotations

import numpy as np
import torch

from tasks.generators import tts
from tasks.core.audio import SAMPLE_RATE_HZ, resample

GENERATOR_VERSION: str = "1"
DIGITS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS: tuple[str, ...] = ("yes", "no", "stop", "go", "left", "right", "up", "down", "on", "off")
VOCABULARY: tuple[str, ...] = (*DIGITS, "oh", *COMMANDS)
ACCENTS: tuple[str, ...] = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc")
VARIANTS: tuple[str, ...] = ("", "m1", "m3", "m7", "f1", "f2", "f3", "f4")  # "" is the accent's own voice
NOISE_COLOURS: tuple[str, ...] = ("white", "pink", "brown")
DIGIT_STRING_SHARE = 0.8
OH_SHARE = 0.3  # of the zeros in digit strings, spoken "oh"
MAX_DIGITS = 7
MAX_COMMANDS = 3
RATE_WPM_RANGE = (120, 220)
PITCH_RANGE = (20, 80)
SNR_DB_RANGE = (5.0, 30.0)
LOWEST_NOISE_HZ = 20.0  # coloured noise is flat below this (no unbounded rumble)
PEAK_LIMIT = 0.99


def sample_text(rng: np.random.Generator) -> str:
    """A digit string of 1–``MAX_DIGITS`` words, or 1–``MAX_COMMANDS`` command words."""
    if rng.random() < DIGIT_STRING_SHARE:
        digits = rng.integers(0, 10, size=int(rng.integers(1, MAX_DIGITS + 1)))
        words = ["oh" if d == 0 and rng.random() < OH_SHARE else DIGITS[d] for d in digits]
    else:
        words = [COMMANDS[c] for c in rng.integers(0, len(COMMANDS), size=int(rng.integers(1, MAX_COMMANDS + 1)))]
    return " ".join(words)


def coloured_noise(num_samples: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise (N,) float64 with a flat (white), 1/f (pink) or 1/f² (brown) power spectrum."""
    if colour not in NOISE_COLOURS:
        raise ValueError(f"coloured_noise: colour must be one of {NOISE_COLOURS}, got {colour!r}")
    white = rng.standard_normal(num_samples)
    if colour == "white" or num_samples < 2:
        return white
    frequencies = np.fft.rfftfreq(num_samples, d=1.0 / SAMPLE_RATE_HZ)  # (N // 2 + 1,) Hz
    exponent = {"pink": 0.5, "brown": 1.0}[colour]  # amplitude slope: power goes as f^(-2 * exponent)
    amplitude = np.maximum(frequencies, LOWEST_NOISE_HZ) ** -exponent
    amplitude[0] = 0.0  # no DC offset
    return np.fft.irfft(np.fft.rfft(white) * amplitude, n=num_samples)


def add_noise(speech: np.ndarray, snr_db: float, colour: str, rng: np.random.Generator) -> np.ndarray:
    """``speech`` (N,) plus ``colour`` noise scaled to exactly ``snr_db`` over the clip; float32 (N,)."""
    speech = np.asarray(speech, dtype=np.float64)
    noise = coloured_noise(speech.size, colour, rng)
    speech_power, noise_power = float(np.mean(speech**2)), float(np.mean(noise**2))
    if speech_power == 0.0 or noise_power == 0.0:
        raise ValueError("add_noise: speech and noise must both have non-zero power")
    noise *= np.sqrt(speech_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    mixture = speech + noise
    peak = float(np.max(np.abs(mixture)))
    if peak > PEAK_LIMIT:
        mixture *= PEAK_LIMIT / peak  # scales speech and noise alike: the SNR stays
    return mixture.astype(np.float32)


def speak(text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
    """Clean speech (N,) float32 at ``SAMPLE_RATE_HZ``: espeak-ng's output resampled from its own rate."""
    waveform, sample_rate_hz = tts.synthesize(text, voice=voice, rate_wpm=rate_wpm, pitch=pitch)
    return resample(torch.from_numpy(waveform), sample_rate_hz, SAMPLE_RATE_HZ).numpy()


def make_utterance(seed: int, index: int) -> dict:
    """Row ``index`` of the set drawn with ``seed`` (see the module docstring for the schema)."""
    rng = np.random.default_rng([seed, index])
    text = sample_text(rng)
    variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
    voice = ACCENTS[int(rng.integers(len(ACCENTS)))] + (f"+{variant}" if variant else "")
    rate_wpm = int(rng.integers(RATE_WPM_RANGE[0], RATE_WPM_RANGE[1] + 1))
    pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
    snr_db = round(float(rng.uniform(*SNR_DB_RANGE)), 2)
    colour = NOISE_COLOURS[int(rng.integers(len(NOISE_COLOURS)))]
    audio = add_noise(speak(text, voice, rate_wpm, pitch), snr_db, colour, rng)
    return {"id": f"tts-digits-{seed}-{index:06d}", "audio": audio, "sample_rate_hz": SAMPLE_RATE_HZ,
            "text": text, "voice": voice, "rate_wpm": rate_wpm, "pitch": pitch, "snr_db": snr_db,
            "noise": colour}


def generate(num_utterances: int, seed: int) -> list[dict]:
    """``num_utterances`` rows ``{id, audio (N,) float32 at 16 kHz, sample_rate_hz, text, voice, rate_wpm,
    pitch, snr_db, noise}``, a deterministic function of ``seed``."""
    if isinstance(num_utterances, bool) or not isinstance(num_utterances, int) or num_utterances < 0:
        raise ValueError(f"tts_digits.generate: num_utterances must be a non-negative int, got {num_utterances!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"tts_digits.generate: seed must be a non-negative int, got {seed!r}")
    return [make_utterance(seed, index) for index in range(num_utterances)]

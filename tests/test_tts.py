"""tasks/generators/tts.py (espeak-ng through ctypes) and the tts-digits generator built on it."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

from tasks.generators import tts
from tasks.generators import tts_digits

TEXT = "one two three"


def fundamental_hz(waveform: np.ndarray, sample_rate_hz: int) -> float:
    """Median autocorrelation pitch (60–400 Hz) over the voiced 40 ms frames."""
    size, estimates = int(0.04 * sample_rate_hz), []
    low, high = sample_rate_hz // 400, sample_rate_hz // 60
    for start in range(0, len(waveform) - size, size):
        frame = waveform[start:start + size] - waveform[start:start + size].mean()
        if np.mean(frame**2) < 1e-3:
            continue
        correlation = np.correlate(frame, frame, "full")[size - 1:]
        lag = low + int(np.argmax(correlation[low:high]))
        if correlation[lag] > 0.3 * correlation[0]:
            estimates.append(sample_rate_hz / lag)
    return float(np.median(estimates))


def test_synthesis_is_plausible_speech() -> None:
    waveform, sample_rate_hz = tts.synthesize(TEXT)
    assert sample_rate_hz == 22050
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert 0.5 < len(waveform) / sample_rate_hz < 4.0
    assert np.abs(waveform).max() <= 1.0
    assert np.sqrt(np.mean(waveform**2)) > 0.02  # not silent


def test_rate_changes_duration_and_pitch_changes_spectrum() -> None:
    slow, rate = tts.synthesize(TEXT, rate_wpm=120)
    fast, _ = tts.synthesize(TEXT, rate_wpm=220)
    assert len(slow) > 1.4 * len(fast)
    low, _ = tts.synthesize(TEXT, pitch=20)
    high, _ = tts.synthesize(TEXT, pitch=80)
    assert fundamental_hz(high, rate) > 1.3 * fundamental_hz(low, rate)


def test_same_inputs_give_identical_samples_whatever_came_before() -> None:
    first, _ = tts.synthesize("four oh seven", voice="en-us+f3", rate_wpm=180, pitch=30)
    tts.synthesize("stop go left right", voice="en-gb+m3", rate_wpm=120, pitch=70)  # would shift espeak's state
    second, _ = tts.synthesize("four oh seven", voice="en-us+f3", rate_wpm=180, pitch=30)
    np.testing.assert_array_equal(first, second)


def test_concurrent_calls_are_serialised() -> None:
    expected = {voice: tts.synthesize(TEXT, voice=voice)[0] for voice in ("en", "en-us+m3")}
    results: dict[int, np.ndarray] = {}

    def speak(index: int) -> None:
        results[index] = tts.synthesize(TEXT, voice=("en", "en-us+m3")[index % 2])[0]

    threads = [threading.Thread(target=speak, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, waveform in results.items():
        np.testing.assert_array_equal(waveform, expected[("en", "en-us+m3")[index % 2]])


def _speak_in_child(text: str) -> np.ndarray:
    return tts.synthesize(text)[0]


def test_forked_workers_synthesise_the_same_samples() -> None:
    expected = tts.synthesize(TEXT)[0]  # the parent has used espeak-ng (and holds its lock between calls)
    with multiprocessing.get_context("fork").Pool(1) as pool:  # as DataLoader workers and datasets.map do
        np.testing.assert_array_equal(pool.apply(_speak_in_child, (TEXT,)), expected)


def test_voices_and_variants() -> None:
    assert {"en", "en-us", "en-gb"} <= set(tts.available_voices())
    assert {"f3", "m3", "klatt"} <= set(tts.available_variants())
    us, _ = tts.synthesize(TEXT, voice="en-us")
    female, _ = tts.synthesize(TEXT, voice="en-us+f3")
    assert not np.array_equal(us[: len(female)], female[: len(us)])


@pytest.mark.parametrize(("arguments", "message"), [
    ({"voice": "xx-nowhere"}, "unknown espeak voice language 'xx-nowhere'"),
    ({"voice": "en+nobody"}, "unknown espeak voice variant 'nobody'"),
    ({"rate_wpm": 20}, "rate_wpm=20"), ({"pitch": 101}, "pitch=101"), ({"text": "  "}, "non-empty"),
])
def test_bad_arguments_are_value_errors(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tts.synthesize(**{"text": TEXT, **arguments})


def test_generated_rows_follow_the_schema_and_ranges() -> None:
    rows = tts_digits.generate(6, seed=3)
    assert [row["id"] for row in rows] == [f"tts-digits-3-{i:06d}" for i in range(6)]
    for row in rows:
        words = row["text"].split()
        assert 1 <= len(words) <= 7 and set(words) <= set(tts_digits.VOCABULARY)
        assert row["audio"].dtype == np.float32 and row["sample_rate_hz"] == 16000
        assert 0.3 < len(row["audio"]) / 16000 < 6.0 and np.abs(row["audio"]).max() <= 1.0
        assert 120 <= row["rate_wpm"] <= 220 and 20 <= row["pitch"] <= 80 and 5.0 <= row["snr_db"] <= 30.0
        assert row["voice"].partition("+")[0] in tts_digits.ACCENTS and row["noise"] in tts_digits.NOISE_COLOURS


def test_generation_is_a_deterministic_function_of_seed_and_index() -> None:
    rows = tts_digits.generate(3, seed=11)
    again = tts_digits.generate(2, seed=11)  # a prefix, generated after other utterances
    for row, other in zip(rows, again):
        assert {k: v for k, v in row.items() if k != "audio"} == {k: v for k, v in other.items() if k != "audio"}
        np.testing.assert_array_equal(row["audio"], other["audio"])
    assert [row["text"] for row in tts_digits.generate(3, seed=12)] != [row["text"] for row in rows]


def test_texts_mix_digit_strings_and_commands() -> None:
    texts = [tts_digits.sample_text(np.random.default_rng([0, i])) for i in range(300)]
    digit_strings = [t for t in texts if t.split()[0] in (*tts_digits.DIGITS, "oh")]
    assert 0.7 < len(digit_strings) / len(texts) < 0.9
    assert any("oh" in t.split() for t in texts) and {len(t.split()) for t in digit_strings} == set(range(1, 8))


def test_stated_snr_holds_for_generated_rows() -> None:
    for row in tts_digits.generate(3, seed=5):
        clean = tts_digits.speak(row["text"], row["voice"], row["rate_wpm"], row["pitch"]).astype(np.float64)
        audio = row["audio"].astype(np.float64)
        gain = audio @ clean / (clean @ clean)  # 1 unless the mixture was scaled down for headroom
        noise = audio - gain * clean
        measured_db = 10 * np.log10(np.mean((gain * clean) ** 2) / np.mean(noise**2))
        assert abs(measured_db - row["snr_db"]) < 0.5


@pytest.mark.parametrize(("colour", "low_to_high_power_db"), [("white", 0.0), ("pink", 20.0), ("brown", 40.0)])
def test_noise_colours_and_exact_snr(colour: str, low_to_high_power_db: float) -> None:
    rng = np.random.default_rng(0)
    speech = 0.1 * np.sin(np.arange(32000) * 0.05)
    mixture = tts_digits.add_noise(speech, snr_db=12.5, colour=colour, rng=rng)
    noise = mixture.astype(np.float64) - speech
    assert abs(10 * np.log10(np.mean(speech**2) / np.mean(noise**2)) - 12.5) < 0.01
    spectrum = np.abs(np.fft.rfft(tts_digits.coloured_noise(160000, colour, rng))) ** 2
    frequencies = np.fft.rfftfreq(160000, 1 / 16000)
    low, high = (spectrum[(frequencies > centre / 1.2) & (frequencies < centre * 1.2)].mean()
                 for centre in (60.0, 6000.0))
    assert abs(10 * np.log10(low / high) - low_to_high_power_db) < 1.5  # pink: 10 dB a decade, brown: 20


def test_generate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_utterances"):
        tts_digits.generate(-1, seed=0)
    with pytest.raises(ValueError, match="seed"):
        tts_digits.generate(1, seed=-3)

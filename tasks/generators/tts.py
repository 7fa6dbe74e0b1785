"""Offline text-to-speech through the espeak-ng library shipped by the ``espeakng-loader`` wheel.

A small ``ctypes`` binding: the wheel carries ``libespeak-ng.so`` and its ``espeak-ng-data`` folder
(``espeakng_loader.get_library_path()`` / ``get_data_path()``), so nothing is installed system-wide and
nothing plays: espeak-ng runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode and hands each block of 16-bit samples
to a Python callback, which collects them in memory.

Determinism. espeak-ng keeps hidden state between utterances (a pitch-flutter index, a cycle counter and
an automatic gain in function-local statics that ``espeak_Terminate``/``espeak_Initialize`` do not reset),
so with one library instance the samples of an utterance depend on what was spoken before. Every
``synthesize`` call therefore loads the library afresh (``dlopen``), initialises it, speaks, terminates and
unloads it (``dlclose``); a 1.5 s utterance takes about 4 ms in all, and the same inputs give
bit-identical samples whatever came before. (Should another module of the process hold libespeak-ng open, ``dlclose`` cannot unload it and
that guarantee lapses.) espeak-ng is global state, so one process-wide lock serialises the calls; a forked
child starts with a fresh lock.

``synthesize(text, voice, rate_wpm, pitch) -> (waveform (N,) float32 in [-1, 1], sample_rate_hz)``.
Bad arguments raise ``ValueError``; a failure inside the library raises a one-line ``RuntimeError``.
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: synthesise in the caller's thread, samples to the callback
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000  # return an error code instead of calling exit() on a data error
ESPEAK_CHARS_UTF8 = 1
ESPEAK_ENDPAUSE = 0x1000  # keep the short pause after the last word
POS_CHARACTER = 1
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH = 1, 2, 3  # espeak_PARAMETER
EE_OK = 0
RATE_WPM_RANGE = (80, 450)  # espeak-ng's own limits
PITCH_RANGE = (0, 100)
VOLUME = 100  # espeak's default amplitude scale
RANDOM_SEED = 0  # espeak_rand (breathy variants); a fresh instance starts there anyway
MAX_TEXT_CHARS = 10_000

# int callback(short *wav, int numsamples, espeak_EVENT *events); returning 0 lets synthesis go on
SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakVoice(ctypes.Structure):
    """``espeak_VOICE`` from speak_lib.h; ``languages`` is a raw pointer to (priority byte, name NUL)*, NUL."""

    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


def _paths() -> tuple[str, str]:
    """``(library path, espeak-ng-data path)`` from the ``espeakng-loader`` wheel."""
    try:
        import espeakng_loader
    except ImportError as error:
        raise RuntimeError("espeak-ng: the espeakng-loader package is not installed "
                           "(pip install espeakng-loader)") from error
    try:
        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except RuntimeError as error:
        raise RuntimeError(f"espeak-ng: {error}") from error


def _declare(lib: ctypes.CDLL) -> None:
    """Argument and return types of the C functions used (speak_lib.h / espeak_ng.h, espeak-ng 1.52)."""
    signatures: dict[str, tuple[list[Any], Any]] = {
        "espeak_Initialize": ([ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int], ctypes.c_int),
        "espeak_SetSynthCallback": ([SYNTH_CALLBACK], None),
        "espeak_SetVoiceByName": ([ctypes.c_char_p], ctypes.c_int),
        "espeak_SetParameter": ([ctypes.c_int, ctypes.c_int, ctypes.c_int], ctypes.c_int),
        "espeak_Synth": ([ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                          ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p], ctypes.c_int),
        "espeak_Synchronize": ([], ctypes.c_int),
        "espeak_Terminate": ([], ctypes.c_int),
        "espeak_ListVoices": ([ctypes.POINTER(EspeakVoice)], ctypes.POINTER(ctypes.POINTER(EspeakVoice))),
        "espeak_ng_SetRandSeed": ([ctypes.c_long], None),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype


def _check(status: int, what: str) -> None:
    """A one-line ``RuntimeError`` when an espeak call did not return ``EE_OK``."""
    if status != EE_OK:
        raise RuntimeError(f"espeak-ng: {what} failed (espeak_ERROR {status})")


_LOCK = threading.Lock()


def _reset_after_fork() -> None:
    """A forked child gets a fresh lock (the parent's may have been held by another thread)."""
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


@contextlib.contextmanager
def _fresh_library(callback: Any = None) -> Iterator[tuple[ctypes.CDLL, int]]:
    """A newly loaded, initialised espeak-ng ``(library, sample_rate_hz)``, unloaded on exit; hold ``_LOCK``."""
    library_path, data_path = _paths()
    try:
        lib = ctypes.CDLL(library_path)
    except OSError as error:
        raise RuntimeError(f"espeak-ng: cannot load {library_path}: {error}") from error
    try:
        _declare(lib)
        sample_rate_hz = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
                                               ESPEAK_INITIALIZE_DONT_EXIT)
        if sample_rate_hz <= 0:
            raise RuntimeError(f"espeak-ng: espeak_Initialize failed with data path {data_path}")
        try:
            if callback is not None:
                lib.espeak_SetSynthCallback(callback)
            yield lib, sample_rate_hz
        finally:
            lib.espeak_Terminate()
    finally:
        if hasattr(_ctypes, "dlclose"):  # POSIX; elsewhere the library stays loaded (and state persists)
            _ctypes.dlclose(lib._handle)


def _languages(voice: EspeakVoice) -> list[tuple[int, str]]:
    """Decode the ``(priority byte, name NUL)*`` list of one voice into ``(priority, name)`` pairs."""
    pairs, address = [], voice.languages
    while address and (priority := ctypes.string_at(address, 1)[0]) != 0:  # a zero priority ends the list
        name = ctypes.string_at(address + 1)
        pairs.append((priority, name.decode("utf-8", "replace")))
        address += len(name) + 2
    return pairs


def _list_voices(lib: ctypes.CDLL, spec_languages: bytes | None) -> list[tuple[str, list[tuple[int, str]]]]:
    """``(identifier, [(priority, language)])`` of the voices matching a language spec (all for ``None``)."""
    spec_pointer = None
    if spec_languages is not None:
        buffer = ctypes.create_string_buffer(spec_languages)
        spec_pointer = ctypes.pointer(EspeakVoice(languages=ctypes.addressof(buffer)))
    array = lib.espeak_ListVoices(spec_pointer)
    voices, index = [], 0
    while array and array[index]:  # NULL-terminated
        voice = array[index].contents
        identifier = voice.identifier.decode("utf-8", "replace") if voice.identifier else ""
        voices.append((identifier, _languages(voice)))
        index += 1
    return voices


_CATALOGUE: tuple[dict[str, str], frozenset[str]] | None = None


def _catalogue() -> tuple[dict[str, str], frozenset[str]]:
    """``({language: voice identifier}, {variant names})``, read once per process; hold ``_LOCK``."""
    global _CATALOGUE
    if _CATALOGUE is None:
        best: dict[str, tuple[int, str]] = {}
        with _fresh_library() as (lib, _):
            for identifier, languages in _list_voices(lib, None):
                for priority, language in languages:
                    if language not in best or priority < best[language][0]:
                        best[language] = (priority, identifier)
            variants = frozenset(identifier.split("/")[-1] for identifier, _ in _list_voices(lib, b"variant"))
        _CATALOGUE = ({language: identifier for language, (_, identifier) in best.items()}, variants)
    return _CATALOGUE


def _resolve_voice(voice: str) -> str:
    """``"en-gb+f3"`` -> ``"gmw/en+f3"``: the voice file for the language, plus the variant; hold ``_LOCK``."""
    language, _, variant = voice.partition("+")
    languages, variants = _catalogue()
    if language.lower() not in languages:
        raise ValueError(f"synthesize: unknown espeak voice language {language!r} (see tasks.generators.tts.available_voices())")
    if variant and variant not in variants:
        raise ValueError(f"synthesize: unknown espeak voice variant {variant!r} (see tasks.generators.tts.available_variants())")
    return languages[language.lower()] + (f"+{variant}" if variant else "")


def _check_arguments(text: str, voice: str, rate_wpm: int, pitch: int) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"synthesize: text must be a non-empty string, got {text!r}")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"synthesize: text has {len(text)} characters, more than {MAX_TEXT_CHARS}")
    if not isinstance(voice, str) or not voice or not voice.isprintable():
        raise ValueError(f"synthesize: voice must be a name such as 'en-us' or 'en+f3', got {voice!r}")
    if not RATE_WPM_RANGE[0] <= rate_wpm <= RATE_WPM_RANGE[1]:
        raise ValueError(f"synthesize: rate_wpm={rate_wpm} is outside {RATE_WPM_RANGE[0]}..{RATE_WPM_RANGE[1]}")
    if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        raise ValueError(f"synthesize: pitch={pitch} is outside {PITCH_RANGE[0]}..{PITCH_RANGE[1]}")


def synthesize(text: str, voice: str = "en", rate_wpm: int = 160, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng; returns ``(waveform (N,) float32 in [-1, 1], sample_rate_hz)``.

    ``voice`` is a language (``"en"``, ``"en-us"``, ``"en-gb"``; see ``available_voices()``) optionally
    with a variant (``"en+f3"``, ``"en-us+m2"``; see ``available_variants()``); ``rate_wpm`` is words per
    minute (80–450); ``pitch`` is espeak's base pitch (0–100). The rate is espeak-ng's own (22050 Hz).
    """
    _check_arguments(text, voice, rate_wpm, pitch)
    encoded = text.encode("utf-8") + b"\0"
    blocks: list[np.ndarray] = []

    def collect(samples: Any, num_samples: int, events: int | None) -> int:
        if num_samples > 0:
            blocks.append(np.ctypeslib.as_array(samples, shape=(num_samples,)).copy())
        return 0

    callback = SYNTH_CALLBACK(collect)  # referenced until the library is unloaded
    with _LOCK:
        name = _resolve_voice(voice)
        with _fresh_library(callback) as (lib, sample_rate_hz):
            _check(lib.espeak_SetVoiceByName(name.encode("utf-8")), f"setting voice {voice!r}")
            _check(lib.espeak_SetParameter(PARAM_RATE, int(rate_wpm), 0), f"setting rate {rate_wpm}")
            _check(lib.espeak_SetParameter(PARAM_PITCH, int(pitch), 0), f"setting pitch {pitch}")
            _check(lib.espeak_SetParameter(PARAM_VOLUME, VOLUME, 0), "setting volume")
            lib.espeak_ng_SetRandSeed(RANDOM_SEED)
            _check(lib.espeak_Synth(encoded, len(encoded), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8 | ESPEAK_ENDPAUSE,
                                    None, None), f"synthesising {text[:40]!r}")
            _check(lib.espeak_Synchronize(), "espeak_Synchronize")
    if not blocks:
        raise RuntimeError(f"espeak-ng: no audio for {text[:40]!r} with voice {voice!r}")
    waveform = np.concatenate(blocks).astype(np.float32) / 32768.0  # (N,)
    return waveform, sample_rate_hz


def available_voices() -> list[str]:
    """The language names accepted as ``voice`` (``"en"``, ``"en-gb"``, ``"en-us"``, …), sorted."""
    with _LOCK:
        return sorted(_catalogue()[0])


def available_variants() -> list[str]:
    """The variant names that may follow ``+`` in a voice (``"f3"``, ``"m2"``, ``"klatt"``, …), sorted."""
    with _LOCK:
        return sorted(_catalogue()[1])

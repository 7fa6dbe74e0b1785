"""Input and output sizes for fine-tuning on your data, measured from its train split, and decoding defaults.

A recipe preset is sized for a built-in benchmark (its image size, its caption or report length). On your data the
adapter's ``own_data_options`` measures them instead; the user's ``--model.options`` (config file or flags) win over
every measured value. Precedence, lowest first: the preset (backbone size and optimisation), then these measured
sizes, then the config file, then the flags.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

IMAGE_SIZE = 128  # own images are resized to this square: detail enough for photos and films, cheap on a CPU
PATCH_SIZE = 16  # ViT patches of IMAGE_SIZE: an 8 x 8 grid
LENGTH_PERCENTILE = 95  # a text length that covers this share of the train texts: the rest are truncated
# generated captions and reports on real data: no phrase of three tokens twice, and a mild penalty on repeats
NO_LOOPS = {"no_repeat_ngram_size": 3, "repetition_penalty": 1.2}


def percentile_length(tokenizer: Any, texts: Sequence[str], extra: int, floor: int, ceiling: int,
                      percentile: float = LENGTH_PERCENTILE) -> int:
    """The ``percentile``-th token length of ``texts`` (nearest rank) plus ``extra`` (bos/eos), within
    [``floor``, ``ceiling``]."""
    lengths = sorted(len(tokenizer.encode(text)) for text in texts)
    if not lengths:
        return floor
    rank = max(0, math.ceil(percentile / 100 * len(lengths)) - 1)
    return max(floor, min(ceiling, lengths[rank] + extra))


def image_options(config: Any) -> dict[str, Any]:
    """``image_size`` (and ``patch_size`` for the patch stem) for your images."""
    options: dict[str, Any] = {"image_size": IMAGE_SIZE}
    if config.model.get("image_stem", "patch") == "patch":
        options["patch_size"] = PATCH_SIZE
    return options


def merge_options(measured: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` over ``measured``; a dict-valued option (``decoding``) is merged key by key."""
    merged = dict(measured)
    for name, value in given.items():
        base = merged.get(name)
        merged[name] = {**base, **value} if isinstance(base, Mapping) and isinstance(value, Mapping) else value
    return merged


def describe(measured: Mapping[str, Any], given: Mapping[str, Any]) -> str:
    """``image_size 128, max_length 41, decoding.max_new_tokens 40`` for the measured options the user left unset."""
    parts = []
    for name, value in measured.items():
        if isinstance(value, Mapping):
            own = given.get(name) if isinstance(given.get(name), Mapping) else {}
            parts += [f"{name}.{k} {v}" for k, v in value.items() if k not in own]
        elif name not in given:
            parts.append(f"{name} {value}")
    return ", ".join(parts)

"""Image helpers shared by the image tasks (captioning, med_report): decode, load, resize, normalise, encode.

An example carries its image either as PNG bytes (``image``; the generated benchmarks, stored compactly
in Arrow) or as a file path (``image_path``; real datasets, decoded lazily in ``collate``). A file that is
missing, corrupt or not an image raises a one-line ``DataError`` (a ``ValueError``) naming it.
Shapes: B batch, C = 3 channels, H/W the model's image size.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from tasks.core.inputs import DataError

MEAN, STD = 0.5, 0.5  # pixels in [0, 1] are mapped to [-1, 1]


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) or (H, W) uint8 array (lossless, a few KB for generated scenes)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _decode(source: Any, name: str) -> Image.Image:
    try:
        with Image.open(source) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{name}: not a readable image ({reason})") from None


def load_image(path: str | Path) -> Image.Image:
    """An RGB image from a file; ``DataError`` naming the file when it is missing, corrupt or not an image."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    return _decode(path, str(path))


def example_image(example: Mapping[str, Any]) -> Image.Image:
    """The RGB image of an example: ``image`` PNG bytes (or an array) or ``image_path``."""
    image = example.get("image")
    if isinstance(image, (bytes, bytearray)):
        return _decode(io.BytesIO(image), f"example {example.get('id')!r} image bytes")
    if image is not None:
        return Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    if example.get("image_path"):
        return load_image(example["image_path"])
    raise ValueError(f"example {example.get('id')!r} has neither 'image' nor 'image_path'")


def to_tensor(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """Resize (bilinear, to size × size) and normalise to (B, 3, H, W) float in [-1, 1]."""
    arrays = []
    for image in images:
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(image, dtype=np.uint8))
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W)
    return (pixels - MEAN) / STD


def batch_images(examples: Sequence[Mapping[str, Any]], size: int) -> torch.Tensor:
    """The (B, 3, size, size) image tensor of a list of examples."""
    return to_tensor([example_image(e) for e in examples], size)


def png_data_uri(image: Image.Image, max_side: int = 128) -> str:
    """An inline ``data:image/png;base64,...`` URI of an image (downscaled to ``max_side``) for the HTML gallery."""
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def sample_input(example: Mapping[str, Any]) -> dict[str, str]:
    """The gallery hook shared by image tasks: ``{"image": data URI}``."""
    return {"image": png_data_uri(example_image(example))}

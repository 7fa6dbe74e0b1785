"""Shapes-captions: rendered scenes of 2–6 shapes with five reference captions each.

Scene: a 64×64 white canvas with 2–6 objects, each a (shape, colour, size) triple from
5 shapes × 7 colours × 2 sizes, no triple twice in a scene (so "the small red circle" always
names one object). A small object spans radius 5 px around its integer centre (x right, y down),
a large one 9 px; objects keep at least 3 px between their extents. Drawn at 4× and box-filtered
down, so edges are anti-aliased while object interiors keep the exact colour of ``COLOURS_RGB``.

Captions (``shapes_captions_text``) are written from the object list only, and only claims that
hold with a margin: counts, attributes, a full listing, "left of"/"above"/"next to", regions such
as "in the top left corner", size comparisons and "leftmost"-style extremes.

Rows: ``image`` (64, 64, 3) uint8 RGB, ``objects`` (list of {shape, colour, size, x, y}),
``captions`` (list of ``NUM_CAPTIONS`` distinct strings).
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw

from .shapes_captions_text import (COLOURS, IMAGE_SIZE, NUM_CAPTIONS, RADIUS_PX, SHAPES, SIZES,
                                   SceneObject, write_captions)

__all__ = ["COLOURS", "COLOURS_RGB", "GENERATOR_VERSION", "IMAGE_SIZE", "NUM_CAPTIONS", "RADIUS_PX",
           "SHAPES", "SIZES", "SceneObject", "draw_scene", "generate", "sample_objects"]

GENERATOR_VERSION: str = "1"
MIN_OBJECTS, MAX_OBJECTS = 2, 6
MIN_GAP_PX: int = 3
SUPERSAMPLE: int = 4
MAX_PLACEMENT_TRIES: int = 200
COLOURS_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "green": (30, 160, 60), "blue": (30, 80, 220), "yellow": (240, 200, 20),
    "purple": (140, 50, 180), "orange": (250, 130, 20), "gray": (120, 120, 120),
}
assert tuple(COLOURS_RGB) == COLOURS


def _place(rng: random.Random, radii: list[int]) -> list[tuple[int, int]] | None:
    """Integer centres inside the canvas with ``MIN_GAP_PX`` between extents, or None on failure."""
    centres: list[tuple[int, int]] = []
    for radius in radii:
        for _ in range(MAX_PLACEMENT_TRIES):
            x = rng.randint(radius + 1, IMAGE_SIZE - 2 - radius)
            y = rng.randint(radius + 1, IMAGE_SIZE - 2 - radius)
            if all(math.dist((x, y), c) >= radius + r + MIN_GAP_PX for c, r in zip(centres, radii)):
                centres.append((x, y))
                break
        else:
            return None
    return centres


def sample_objects(rng: random.Random) -> list[SceneObject]:
    """2–6 objects with distinct (shape, colour, size), placed without overlap."""
    combos = [(s, c, z) for s in SHAPES for c in COLOURS for z in SIZES]
    num_objects = rng.randint(MIN_OBJECTS, MAX_OBJECTS)
    while True:
        chosen = rng.sample(combos, num_objects)
        centres = _place(rng, [RADIUS_PX[size] for _, _, size in chosen])
        if centres is not None:
            return [SceneObject(shape=s, colour=c, size=z, x=x, y=y)
                    for (s, c, z), (x, y) in zip(chosen, centres)]


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Outline of a square, triangle, star or cross of nominal radius ``r`` around (cx, cy)."""
    def ring(radii: tuple[float, ...], start_deg: float) -> list[tuple[float, float]]:
        """Vertices at evenly spaced angles from ``start_deg``, at the given distances."""
        step = 360 / len(radii)
        return [(cx + q * math.cos(math.radians(start_deg + i * step)),
                 cy + q * math.sin(math.radians(start_deg + i * step))) for i, q in enumerate(radii)]

    if shape == "square":
        return ring((1.2 * r,) * 4, 45.0)  # half side 0.85 r
    if shape == "triangle":
        return ring((1.1 * r,) * 3, -90.0)  # centroid at the centre
    if shape == "star":
        return ring((1.1 * r, 0.45 * r) * 5, -90.0)
    if shape == "cross":
        arm, half = r, 0.36 * r
        steps = [(half, -arm), (half, -half), (arm, -half), (arm, half), (half, half), (half, arm)]
        right = [(cx + dx, cy + dy) for dx, dy in steps]
        return right + [(2 * cx - x, 2 * cy - y) for x, y in right]  # point-symmetric other half
    raise ValueError(f"unknown shape {shape!r}")


def draw_scene(objects: list[SceneObject]) -> np.ndarray:
    """Render ``objects`` on white at 4× and box-filter down; (64, 64, 3) uint8 RGB."""
    big = IMAGE_SIZE * SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for obj in objects:
        cx, cy = (obj["x"] + 0.5) * SUPERSAMPLE, (obj["y"] + 0.5) * SUPERSAMPLE
        r, fill = RADIUS_PX[obj["size"]] * SUPERSAMPLE, COLOURS_RGB[obj["colour"]]
        if obj["shape"] == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            draw.polygon(_polygon(obj["shape"], cx, cy, r), fill=fill)
    small = canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8).copy()


def generate(num_images: int, seed: int) -> list[dict]:
    """``num_images`` rows ``{image, objects, captions}`` from one ``random.Random(seed)``."""
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    rng = random.Random(seed)
    rows = []
    for _ in range(num_images):
        objects = sample_objects(rng)
        rows.append({"image": draw_scene(objects), "objects": objects,
                     "captions": write_captions(rng, objects)})
    return rows

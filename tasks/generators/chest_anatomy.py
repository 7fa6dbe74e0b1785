"""Geometry and rendering of the chest phantom (a frontal PA radiograph, 128×128).

Coordinates: canonical (u, v) in [-1, 1], u to the image right, v down. As on a real PA film the
patient's **right is the image left** (u < 0); ``side`` is -1 for the patient's right, +1 for the left.
The picture is a density map (brighter = more attenuation): soft tissue, dark lungs with vessel
markings radiating from the hila, bright heart, mediastinum, spine, ribs and clavicles, diaphragm
domes. Findings change it where they are: a bigger heart, fluid with a meniscus at a lung base, a
bright disc, a bright patchy opacity, or a lucent rim without markings inside a pleural line.
Pose (rotation, scale, shift), blur, contrast and noise are applied last, to the whole film.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE: int = 128
LUNG_HALF_WIDTH: float = 0.32
HEART_CENTRE_U: float = 0.06  # the heart sits towards the patient's left
LOBES: tuple[str, ...] = ("right upper", "right middle", "right lower", "left upper", "left lower")
_PIX = (np.arange(SIZE, dtype=np.float32) + 0.5) / (SIZE / 2) - 1
V, U = np.meshgrid(_PIX, _PIX, indexing="ij")  # (H, W) each


@dataclass(frozen=True)
class Anatomy:
    """Per-film body habitus; lung lateral edges at ±thorax_half_width."""

    thorax_half_width: float
    lung_centre_v: float
    lung_half_height: float
    dome_v: tuple[float, float]  # (right, left) dome tops; the right is usually higher
    heart_ratio: float  # cardiothoracic ratio: heart width / internal thoracic width


@dataclass(frozen=True)
class Lesions:
    """Where and how big drawn findings are (used only when the finding is present)."""

    effusion_level_v: float  # fluid top at the medial end of the meniscus
    nodule: tuple[float, float, float]  # (u, v, radius)
    consolidation: tuple[float, float, float]  # (u, v, spread)
    collapse: float  # pneumothorax: collapsed-lung scale (1 = none)


@dataclass(frozen=True)
class Film:
    """Acquisition: pose, exposure and the seed of the film's texture and noise."""

    angle_deg: float
    scale: float
    shift_px: tuple[float, float]
    gain: float
    gamma: float
    noise: float
    texture_seed: int


def lung_centre_u(anat: Anatomy, side: int) -> float:
    """Horizontal centre of lung ``side`` (its lateral edge touches ±thorax_half_width)."""
    return side * (anat.thorax_half_width - LUNG_HALF_WIDTH)


def dome_v(anat: Anatomy, side: int, u: np.ndarray) -> np.ndarray:
    """The diaphragm dome under lung ``side``: highest mid-lung, lowest at the costophrenic angle."""
    return anat.dome_v[side > 0] + 1.6 * (u - lung_centre_u(anat, side)) ** 2


def lung_implicit(anat: Anatomy, side: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """< 1 inside the lung outline (round apex, square base); the dome is cut separately."""
    du = (u - lung_centre_u(anat, side)) / LUNG_HALF_WIDTH
    dv = (v - anat.lung_centre_v) / anat.lung_half_height
    du2, dv2 = du * du, dv * dv  # products, not **: numpy's float power is slow
    return np.where(dv < 0, du2 + dv2, du2 * du2 + dv2 * dv2)


def collapsed_implicit(anat: Anatomy, side: int, collapse: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The lung outline shrunk by ``collapse`` towards a low medial anchor (apex and side move most)."""
    au, av = lung_centre_u(anat, side) - side * 0.1, 0.55
    return lung_implicit(anat, side, au + (u - au) / collapse, av + (v - av) / collapse)


def heart_implicit(anat: Anatomy, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """< 1 inside the heart shadow, whose width is heart_ratio × the internal thoracic width."""
    half_width = anat.heart_ratio * anat.thorax_half_width
    half_height = 0.24 + 0.3 * (anat.heart_ratio - 0.45)
    dv = v - heart_centre_v(anat)
    dv = np.where(dv > 0, dv / 1.6, dv)  # the lower half reaches down onto the diaphragm
    return ((u - HEART_CENTRE_U) / half_width) ** 2 + (dv / half_height) ** 2


def heart_centre_v(anat: Anatomy) -> float:
    """Height of the heart's widest row, a little above the higher dome."""
    return min(anat.dome_v) - 0.12


def meniscus_v(anat: Anatomy, side: int, level: float, u: np.ndarray) -> np.ndarray:
    """Top of pleural fluid: ``level`` medially, curving up towards the lateral chest wall."""
    t = np.clip(side * (u - lung_centre_u(anat, side)) / LUNG_HALF_WIDTH, -1, 1)
    return level - 0.2 * ((t + 1) / 2) ** 2


def lobe_mask(anat: Anatomy, lobe: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean: which (u, v) fall in ``lobe``'s projection (upper/middle/lower by height, middle medial)."""
    side = -1 if lobe.startswith("right") else 1
    own = (u < 0) if side < 0 else (u > 0)
    if side > 0:
        return own & ((v < 0.05) if lobe == "left upper" else (v >= 0.05))
    medial = (u - lung_centre_u(anat, side)) > 0
    middle = (v >= -0.15) & (v < 0.3) & medial
    regions = {"right upper": v < -0.15, "right middle": middle, "right lower": (v >= -0.15) & ~middle}
    return own & regions[lobe]


def inside(f: np.ndarray, width: float = 0.08) -> np.ndarray:
    """Soft mask of ``f < 1``: 1 inside, 0 outside, a linear ramp ``width`` wide."""
    return np.clip((1.0 - f) / width, 0.0, 1.0)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding."""
    radius = max(1, int(3 * sigma))
    taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2))
    taps /= taps.sum()
    for axis in (0, 1):
        padded = np.pad(image, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        n = image.shape[axis]
        image = sum(w * np.take(padded, range(i, i + n), axis=axis) for i, w in enumerate(taps))
    return image


def to_pixels(u: float, v: float) -> tuple[float, float]:
    """Canonical (u, v) to unposed pixel (x, y)."""
    return (u + 1) * SIZE / 2, (v + 1) * SIZE / 2


def vessel_markings(rng: random.Random, anat: Anatomy) -> np.ndarray:
    """Branching vessel shadows from both hila, fading towards the periphery; (H, W) in [0, 1]."""
    layer = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(layer)
    for side in (-1, 1):
        hilum = (side * 0.2, anat.lung_centre_v - 0.02)
        for _ in range(28):
            angle = math.radians(rng.uniform(-80, 80) if side > 0 else rng.uniform(100, 260))
            length, start = rng.uniform(0.25, 0.65), hilum
            for segment in range(3):
                angle += rng.uniform(-0.35, 0.35)
                end = (start[0] + length / 3 * math.cos(angle), start[1] + length / 3 * math.sin(angle))
                draw.line([to_pixels(*start), to_pixels(*end)], fill=int(200 - 55 * segment), width=1)
                start = end
    markings = blur(np.asarray(layer, dtype=np.float32) / 255.0, 0.5)
    return markings * np.exp(-np.hypot(U - np.sign(U) * 0.2, V - anat.lung_centre_v) / 0.7)


def patch_texture(rng: random.Random) -> np.ndarray:
    """Smooth blotchy noise in [0, 1], (H, W), for patchy consolidation."""
    coarse = np.array([[rng.random() for _ in range(12)] for _ in range(12)], dtype=np.float32)
    image = Image.fromarray(coarse).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)


def expose(density: np.ndarray, film: Film, rng: np.random.Generator) -> np.ndarray:
    """Pose the film, blur, apply gain/gamma and noise; (H, W, 3) uint8 with three equal channels."""
    theta, centre = math.radians(film.angle_deg), SIZE / 2
    cos, sin = math.cos(theta) / film.scale, math.sin(theta) / film.scale
    ox, oy = centre + film.shift_px[0], centre + film.shift_px[1]
    coeffs = (cos, sin, centre - cos * ox - sin * oy, -sin, cos, centre + sin * ox - cos * oy)
    posed = Image.fromarray(density.astype(np.float32)).transform(
        (SIZE, SIZE), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR, fillcolor=0.0)
    image = blur(np.asarray(posed, dtype=np.float32), 0.7)
    image = np.clip(image * film.gain, 0.0, 1.0) ** film.gamma
    image = image + rng.normal(0.0, film.noise, image.shape)
    grey = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)

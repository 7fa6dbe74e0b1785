"""Chest-phantom: procedurally drawn frontal chest radiographs with known findings and reports.

Each film has ground-truth ``findings`` (about 30% have none; otherwise 1–3 of the five):

* cardiomegaly  – cardiothoracic ratio 0.53–0.68 (normal 0.38–0.47); ``severity`` mild/moderate/marked;
* effusion      – ``side`` left/right/bilateral, ``size`` small/moderate/large: fluid at the lung base
                  with a meniscus rising laterally, blunting the costophrenic angle;
* nodule        – ``lobe``: a small bright round spot inside that lobe's projection;
* pneumothorax  – ``side``, ``size``: the lung pulled in from apex and chest wall, a lucent rim
                  without vessel markings, a thin visible pleural line;
* consolidation – ``lobe``: a bright patchy opacity confined to that lobe's projection.

The patient's right is the image left (``chest_anatomy``). Rows: ``image`` (128, 128, 3) uint8 with
three equal channels; ``findings`` (finding → {"present", plus "side"/"lobe"/"severity"/"size",
None when absent}); ``report`` (``chest_report``: every finding stated, absent ones negated);
``indication``. ``render(scene)`` draws a ``Scene`` and is deterministic, so a finding can be
switched off (``dataclasses.replace``) to see exactly what it changes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from . import chest_anatomy as ca
from .chest_report import FINDINGS, write_indication, write_report

GENERATOR_VERSION: str = "1"  # covers chest_anatomy and chest_report too
NORMAL_FRACTION: float = 0.3
SEVERITY_RATIO: dict[str, tuple[float, float]] = {
    "mild": (0.53, 0.57), "moderate": (0.57, 0.62), "marked": (0.62, 0.68)}
EFFUSION_LEVEL_V: dict[str, float] = {"small": 0.38, "moderate": 0.26, "large": 0.08}
COLLAPSE: dict[str, float] = {"small": 0.86, "moderate": 0.78, "large": 0.68}
RIB_SPACING: float = 0.125


@dataclass(frozen=True)
class Scene:
    """Everything ``render`` needs: findings, anatomy, lesion geometry and acquisition."""

    findings: dict[str, dict]
    anatomy: ca.Anatomy
    lesions: ca.Lesions
    film: ca.Film


def _attributes(rng: random.Random, present: bool, **options: tuple[str, ...]) -> dict:
    """``{"present": present, key: a drawn option or None, ...}``."""
    return {"present": present, **{key: rng.choice(values) if present else None for key, values in options.items()}}


def sample_findings(rng: random.Random) -> dict[str, dict]:
    """Ground truth: none with probability 0.3, else 1–3 distinct findings with their attributes."""
    present: set[str] = set()
    if rng.random() >= NORMAL_FRACTION:
        present = set(rng.sample(FINDINGS, rng.choices((1, 2, 3), weights=(6, 3, 1))[0]))
    return {
        "cardiomegaly": _attributes(rng, "cardiomegaly" in present, severity=tuple(SEVERITY_RATIO)),
        "effusion": _attributes(rng, "effusion" in present, side=("left", "right", "bilateral"),
                                size=tuple(EFFUSION_LEVEL_V)),
        "nodule": _attributes(rng, "nodule" in present, lobe=ca.LOBES),
        "pneumothorax": _attributes(rng, "pneumothorax" in present, side=("left", "right"), size=tuple(COLLAPSE)),
        "consolidation": _attributes(rng, "consolidation" in present, lobe=ca.LOBES),
    }


def _sides(attrs: dict) -> tuple[int, ...]:
    """The sides (-1 patient right, +1 left) a present effusion or pneumothorax is drawn on."""
    side = attrs["side"] if attrs["present"] else None
    return {"right": (-1,), "left": (1,), "bilateral": (-1, 1)}.get(side or "", ())


def _lobe_point(rng: random.Random, anat: ca.Anatomy, sofar: dict, lobe: str,
                findings: dict[str, dict]) -> tuple[float, float] | None:
    """A point well inside ``lobe``: in the lung, clear of heart, fluid, dome and pneumothorax."""
    side = -1 if lobe.startswith("right") else 1
    centre = ca.lung_centre_u(anat, side)
    for _ in range(400):
        u, v = np.float32(rng.uniform(centre - 0.3, centre + 0.3)), np.float32(rng.uniform(-0.6, 0.55))
        ok = (ca.lobe_mask(anat, lobe, u, v) and ca.lung_implicit(anat, side, u, v) < 0.7
              and ca.heart_implicit(anat, u, v) > 1.2 and v < ca.dome_v(anat, side, u) - 0.1)
        if side in _sides(findings["effusion"]):
            ok = ok and v < ca.meniscus_v(anat, side, sofar["level"], u) - 0.1
        if side in _sides(findings["pneumothorax"]):
            ok = ok and ca.collapsed_implicit(anat, side, sofar["collapse"], u, v) < 0.6
        if ok:
            return float(u), float(v)
    return None


def _place_in_lobe(rng: random.Random, anat: ca.Anatomy, sofar: dict, findings: dict[str, dict],
                   name: str) -> tuple[float, float]:
    """A point for finding ``name`` in its lobe; if a large effusion or heart leaves the lobe no room,
    the finding moves to the next lobe with room (``findings`` is updated in place)."""
    lobes = [findings[name]["lobe"]] + rng.sample([lb for lb in ca.LOBES if lb != findings[name]["lobe"]], 4)
    for lobe in lobes:
        point = _lobe_point(rng, anat, sofar, lobe, findings)
        if point is not None:
            findings[name]["lobe"] = lobe
            return point
    raise AssertionError("no lobe has room for a lesion")


def sample_scene(rng: random.Random) -> Scene:
    """Findings, then an anatomy and lesions that show them, then a film."""
    findings = sample_findings(rng)
    severity = findings["cardiomegaly"]["severity"]
    ratio = rng.uniform(*SEVERITY_RATIO[severity]) if severity else rng.uniform(0.38, 0.47)
    right_dome = rng.uniform(0.36, 0.44)
    anat = ca.Anatomy(thorax_half_width=rng.uniform(0.74, 0.8), lung_centre_v=rng.uniform(-0.04, 0.02),
                      lung_half_height=rng.uniform(0.68, 0.74),
                      dome_v=(right_dome, right_dome + rng.uniform(0.02, 0.08)), heart_ratio=ratio)
    size, ptx_size = findings["effusion"]["size"], findings["pneumothorax"]["size"]
    sofar = {"level": EFFUSION_LEVEL_V[size] + rng.uniform(-0.04, 0.04) if size else 1.0,
             "collapse": COLLAPSE[ptx_size] + rng.uniform(-0.03, 0.03) if ptx_size else 1.0}
    nodule, consolidation = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    if findings["nodule"]["present"]:
        nodule = (*_place_in_lobe(rng, anat, sofar, findings, "nodule"), rng.uniform(0.03, 0.05))
    if findings["consolidation"]["present"]:
        consolidation = (*_place_in_lobe(rng, anat, sofar, findings, "consolidation"), rng.uniform(0.12, 0.18))
    lesions = ca.Lesions(effusion_level_v=sofar["level"], nodule=nodule, consolidation=consolidation,
                         collapse=sofar["collapse"])
    film = ca.Film(angle_deg=rng.uniform(-4, 4), scale=rng.uniform(0.95, 1.05),
                   shift_px=(rng.uniform(-3, 3), rng.uniform(-3, 3)), gain=rng.uniform(0.9, 1.1),
                   gamma=rng.uniform(0.85, 1.15), noise=rng.uniform(0.01, 0.025),
                   texture_seed=rng.getrandbits(32))
    return Scene(findings, anat, lesions, film)


def _skeleton(anat: ca.Anatomy, body: np.ndarray) -> np.ndarray:
    """Posterior ribs (curving down laterally), fainter anterior ribs, clavicles, spine: added density."""
    a, tw = np.abs(ca.U), anat.thorax_half_width
    in_chest = np.clip((tw + 0.04 - a) / 0.03, 0, 1) * (a > 0.1)
    ribs = np.zeros_like(a)
    for amplitude, curve, first in ((0.07, 0.5 * (a - 0.12) ** 2 - 0.05 * a, -0.7),
                                    (0.035, 0.35 * (tw - a), -0.62)):
        phase = (ca.V - curve - first) / RIB_SPACING  # rib k where phase == k
        near = phase - np.round(phase)
        ribs += amplitude * np.exp(-(near * RIB_SPACING / 0.028) ** 2) * (phase > -0.5) * (phase < 9.5)
    clavicles = np.exp(-((ca.V - (-0.76 - 0.15 * a)) / 0.03) ** 2) * (a > 0.08) * (a < 0.68)
    spine = np.clip((0.065 - a) / 0.02, 0.0, 1.0)
    return body * (ribs * in_chest + 0.14 * clavicles + 0.05 * spine)


def _soft_tissue(anat: ca.Anatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft tissue + bone density, the body mask and the heart/mediastinum opacity (all (H, W))."""
    U, V = ca.U, ca.V
    bu, bv = np.abs(U / (anat.thorax_half_width + 0.17)), np.abs((V - 0.25) / 1.3)
    body = ca.inside(bu * bu * bu + bv * bv * bv, 0.05)
    heart = ca.inside(ca.heart_implicit(anat, U, V), 0.1)
    width = 0.09 + 0.03 * (V + 1)  # the mediastinum widens downwards into the heart
    mediastinum = np.maximum(np.clip((width - np.abs(U)) / 0.03, 0, 1) * (V < ca.heart_centre_v(anat)),
                             ca.inside(((U - 0.12) / 0.075) ** 2 + ((V + 0.28) / 0.065) ** 2))
    opaque = np.maximum(heart, 0.8 * mediastinum)
    domes = np.where(U < 0, ca.dome_v(anat, -1, U), ca.dome_v(anat, 1, U))
    abdomen = np.clip((V - domes) / 0.03, 0, 1)
    trachea = np.clip((0.035 - np.abs(U)) / 0.015, 0, 1) * np.clip((-0.3 - V) / 0.05, 0, 1)
    density = body * (0.5 + np.maximum(0.2 * opaque, 0.14 * abdomen) - 0.12 * trachea)
    return density + _skeleton(anat, body), body, opaque


def render_density(scene: Scene) -> np.ndarray:
    """The canonical (unposed) density map of ``scene``; (H, W) float, about [0, 1]."""
    anat, les, fnd = scene.anatomy, scene.lesions, scene.findings
    texture = random.Random(scene.film.texture_seed)
    U, V = ca.U, ca.V
    density, body, opaque = _soft_tissue(anat)
    markings, air = ca.vessel_markings(texture, anat), np.zeros_like(U)
    patch = ca.patch_texture(texture)
    for side in (-1, 1):
        lung = ca.inside(ca.lung_implicit(anat, side, U, V)) * np.clip((ca.dome_v(anat, side, U) - V) / 0.03, 0, 1)
        lung *= 1 - opaque
        tissue = np.ones_like(U)  # where lung (not pneumothorax air) fills the space
        if side in _sides(fnd["pneumothorax"]):
            collapsed = ca.collapsed_implicit(anat, side, les.collapse, U, V)
            tissue = ca.inside(collapsed, 0.05)
            pleural_line = np.exp(-((collapsed - 0.96) / 0.05) ** 2)  # the visceral pleura, just inside
            density += lung * (0.22 * pleural_line - 0.12 * (1 - tissue))
        if side in _sides(fnd["effusion"]):
            fluid = np.clip((V - ca.meniscus_v(anat, side, les.effusion_level_v, U)) / 0.05, 0, 1)
            density += 0.05 * lung * fluid
            lung *= 1 - fluid
        air += lung
        density += 0.14 * lung * tissue * markings
    if fnd["consolidation"]["present"]:
        u0, v0, spread = les.consolidation
        region = ca.lobe_mask(anat, fnd["consolidation"]["lobe"], U, V)
        blob = np.exp(-((U - u0) ** 2 + (V - v0) ** 2) / (2 * spread ** 2)) * (0.5 + patch)
        opacity = ca.blur(np.clip(1.6 * blob - 0.5, 0, 1) * region, 1.0)
        density += 0.06 * opacity * air
        air *= 1 - 0.75 * opacity
    if fnd["nodule"]["present"]:
        u0, v0, radius = les.nodule
        density += 0.35 * ca.inside(((U - u0) ** 2 + (V - v0) ** 2) / radius ** 2, 0.4)
    return density - 0.34 * air


def render(scene: Scene) -> np.ndarray:
    """The film of ``scene``: (128, 128, 3) uint8, three equal channels."""
    noise_rng = np.random.default_rng(scene.film.texture_seed)
    return ca.expose(render_density(scene), scene.film, noise_rng)


def generate(num_images: int, seed: int) -> list[dict]:
    """``num_images`` rows ``{image, findings, report, indication}`` from one ``random.Random(seed)``."""
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    rng = random.Random(seed)
    rows = []
    for _ in range(num_images):
        scene = sample_scene(rng)
        rows.append({"image": render(scene), "findings": scene.findings,
                     "report": write_report(rng, scene.findings), "indication": write_indication(rng, scene.findings)})
    return rows

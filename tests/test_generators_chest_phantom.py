"""Tests for tasks.generators.chest_phantom: findings distribution, reports read back by a small
negation-aware labeler, and drawn effects measured from pixels (heart width, fluid at the lung base,
where a nodule / consolidation / pneumothorax changes the film)."""

from __future__ import annotations

import collections
import dataclasses
import random
import re

import numpy as np
import pytest

from tasks.generators import chest_anatomy as ca
from tasks.generators import chest_phantom as cp

FINDINGS = ("cardiomegaly", "effusion", "nodule", "pneumothorax", "consolidation")
KEYWORDS = {"cardiomegaly": r"cardiomegaly|heart|cardiac silhouette", "effusion": r"effusion|costophrenic",
            "nodule": r"nodul", "pneumothorax": r"pneumothorax", "consolidation": r"consolidation"}
NEGATION = r"\b(no|not|without|normal|clear)\b"


@pytest.fixture(scope="module")
def scenes() -> list:
    rng = random.Random(3)
    return [cp.sample_scene(rng) for _ in range(400)]


def label(report: str) -> dict[str, set[str]]:
    """finding → {"positive", "negative"}: which kinds of sentence mention it."""
    found: dict[str, set[str]] = collections.defaultdict(set)
    for sentence in re.split(r"(?<=\.) ", report.lower()):
        for finding, pattern in KEYWORDS.items():
            if re.search(pattern, sentence):
                found[finding].add("negative" if re.search(NEGATION, sentence) else "positive")
    return found


def where(attrs: dict) -> str | None:
    return attrs.get("side") or attrs.get("lobe")


def flat(film: ca.Film) -> ca.Film:
    """The same film without rotation, scaling or shift: canonical (u, v) map straight to pixels."""
    return dataclasses.replace(film, angle_deg=0.0, scale=1.0, shift_px=(0.0, 0.0))


def without(scene, finding: str):
    findings = {**scene.findings, finding: {**scene.findings[finding], "present": False}}
    return dataclasses.replace(scene, findings=findings)


def grey(image: np.ndarray) -> np.ndarray:
    return image[:, :, 0].astype(float)


def heart_and_thorax_px(image: np.ndarray) -> tuple[float, float]:
    """Heart shadow width (bright run around the midline at heart level) and inner thoracic width
    (outermost dark lung pixels inside the body at mid-lung level), in pixels."""
    g = grey(image)
    widths = []
    for row in range(72, 85):
        p = np.convolve(g[row], np.ones(3) / 3, mode="same")
        x = int(np.argmax(p[60:72])) + 60
        threshold = (np.percentile(p[20:108], 10) + p[x]) / 2
        left, right = x, x
        while left > 0 and p[left - 1] > threshold:
            left -= 1
        while right < 127 and p[right + 1] > threshold:
            right += 1
        widths.append(right - left + 1)
    p = g[56:64].mean(axis=0)
    body = np.flatnonzero(p > 0.5 * np.median(p[40:88]))
    dark = np.flatnonzero(p < (p.max() + np.percentile(p, 25)) / 2)
    dark = dark[(dark > body.min() + 1) & (dark < body.max() - 1)]
    return float(np.median(sorted(widths)[-5:])), float(dark.max() - dark.min() + 1)


def test_findings_distribution() -> None:
    rng = random.Random(0)
    drawn = [cp.sample_findings(rng) for _ in range(2000)]
    normal = sum(not any(f["present"] for f in d.values()) for d in drawn) / len(drawn)
    assert 0.26 < normal < 0.34
    for name in FINDINGS:
        present = [d[name] for d in drawn if d[name]["present"]]
        assert len(present) > 0.12 * len(drawn), name
        assert all(v is None for d in drawn if not d[name]["present"] for k, v in d[name].items() if k != "present")
        assert all(v is not None for f in present for v in f.values())
    assert {d["effusion"]["side"] for d in drawn} == {None, "left", "right", "bilateral"}
    assert {d["nodule"]["lobe"] for d in drawn} == {None, *ca.LOBES}
    assert {d["cardiomegaly"]["severity"] for d in drawn} == {None, "mild", "moderate", "marked"}


def test_labeler_reads_the_brief_examples() -> None:
    assert label("The heart size is normal. No pleural effusion or pneumothorax. No focal consolidation.") == {
        "cardiomegaly": {"negative"}, "effusion": {"negative"}, "pneumothorax": {"negative"},
        "consolidation": {"negative"}}
    assert label("Moderate cardiomegaly. Small left pleural effusion. No pneumothorax.") == {
        "cardiomegaly": {"positive"}, "effusion": {"positive"}, "pneumothorax": {"negative"}}


def test_reports_state_every_finding_with_its_place(scenes: list) -> None:
    rng = random.Random(1)
    for scene in scenes:
        report = cp.write_report(rng, scene.findings)
        labels = label(report)
        for name in FINDINGS:
            attrs = scene.findings[name]
            if attrs["present"]:
                assert labels[name] == {"positive"}, (name, report)
                place = where(attrs)
                assert place is None or place in report, (name, place, report)
            else:
                assert labels[name] == {"negative"}, (name, report)


def test_indications_are_one_line(scenes: list) -> None:
    rng = random.Random(2)
    lines = {cp.write_indication(rng, s.findings) for s in scenes}
    assert len(lines) >= 8 and all(line.endswith(".") and "\n" not in line for line in lines)


def test_rows_and_determinism() -> None:
    first, again, other = cp.generate(3, 21), cp.generate(3, 21), cp.generate(3, 22)
    for a, b in zip(first, again):
        assert np.array_equal(a["image"], b["image"])
        assert (a["findings"], a["report"], a["indication"]) == (b["findings"], b["report"], b["indication"])
    assert not all(np.array_equal(a["image"], b["image"]) for a, b in zip(first, other))
    for row in first:
        image = row["image"]
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert (image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all()
        assert image.std() > 20 and set(row["findings"]) == set(FINDINGS)
    assert cp.GENERATOR_VERSION


def test_heart_is_wider_with_cardiomegaly(scenes: list) -> None:
    """Over 50 films without effusion (fluid against the heart border hides it, as on real films)."""
    clear = [s for s in scenes if not s.findings["effusion"]["present"]]
    big = [s for s in clear if s.findings["cardiomegaly"]["present"]][:25]
    normal = [s for s in clear if not s.findings["cardiomegaly"]["present"]][:25]
    measured = {key: [heart_and_thorax_px(cp.render(s)) for s in group] for key, group in
                (("big", big), ("normal", normal))}
    widths = {key: np.array([h for h, _ in pairs]) for key, pairs in measured.items()}
    ratios = {key: np.array([h / t for h, t in pairs]) for key, pairs in measured.items()}
    assert len(big) == len(normal) == 25
    assert widths["big"].mean() > widths["normal"].mean() + 10
    assert (ratios["big"] > 0.5).mean() >= 0.9 and (ratios["normal"] < 0.5).mean() >= 0.9


def test_effusion_brightens_its_lung_base(scenes: list) -> None:
    rendered = [(s, grey(cp.render(s))) for s in scenes[:60]]
    for side, columns in (("right", slice(21, 30)), ("left", slice(98, 107))):
        wet = [g[78:89, columns].mean() for s, g in rendered if s.findings["effusion"]["side"] in (side, "bilateral")]
        dry = [g[78:89, columns].mean() for s, g in rendered
               if s.findings["effusion"]["side"] not in (side, "bilateral")]
        assert len(wet) >= 5 and np.mean(wet) > np.mean(dry) + 40, side
        assert np.mean([w > d for w in wet for d in dry]) > 0.9, side


def test_nodule_is_a_small_bright_spot_in_its_lobe(scenes: list) -> None:
    with_nodule = [dataclasses.replace(s, film=flat(s.film)) for s in scenes if s.findings["nodule"]["present"]]
    for scene in with_nodule[:10]:
        diff = grey(cp.render(scene)) - grey(cp.render(without(scene, "nodule")))
        spot = diff > 15
        assert diff.max() > 40 and 3 <= spot.sum() <= 60
        y, x = np.argwhere(spot).mean(axis=0)
        u, v = (x + 0.5) / 64 - 1, (y + 0.5) / 64 - 1
        assert ca.lobe_mask(scene.anatomy, scene.findings["nodule"]["lobe"], u, v), (u, v)


def test_consolidation_is_a_patch_inside_its_lobe(scenes: list) -> None:
    with_patch = [dataclasses.replace(s, film=flat(s.film)) for s in scenes if s.findings["consolidation"]["present"]]
    for scene in with_patch[:10]:
        diff = grey(cp.render(scene)) - grey(cp.render(without(scene, "consolidation")))
        patch = diff > 10
        assert patch.sum() > 60
        lobe = ca.lobe_mask(scene.anatomy, scene.findings["consolidation"]["lobe"], ca.U, ca.V)
        assert (patch & lobe).sum() >= 0.9 * patch.sum()


def test_pneumothorax_dark_rim_and_pleural_line_on_its_side(scenes: list) -> None:
    cases = [dataclasses.replace(s, film=flat(s.film)) for s in scenes if s.findings["pneumothorax"]["present"]]
    for scene in cases[:10]:
        diff = grey(cp.render(without(scene, "pneumothorax"))) - grey(cp.render(scene))
        rim, line = diff > 15, diff < -8
        own = slice(0, 64) if scene.findings["pneumothorax"]["side"] == "right" else slice(64, 128)
        assert rim[:, own].sum() > 40 and rim[:, own].sum() >= 0.95 * rim.sum()
        assert line[:, own].sum() > 15
        assert np.argwhere(rim)[:, 0].mean() < 64  # apex and upper chest wall, not the base

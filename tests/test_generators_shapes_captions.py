"""Tests for tasks.generators.shapes_captions: a caption checker that parses every caption and
verifies each claim (counts, attributes, listings, relations, regions, sizes, extremes) against the
object list; the drawing; determinism."""

from __future__ import annotations

import collections
import itertools
import math
import re

import numpy as np
import pytest

from tasks.generators import shapes_captions as sc
from tasks.generators import shapes_captions_text as text


NUM = "one|two|three|four|five|six"
SIZE = "small|little|large|big"
COLOUR = "|".join(sc.COLOURS)
NOUN = r"circles?|squares?|triangles?|stars?|cross(?:es)?|shapes?|objects?"
NP = rf"(?:(?:{SIZE}) )?(?:(?:{COLOUR}) )?(?:{NOUN})"
REGION = (r"in the (?:top|bottom) (?:left|right) corner|on the left|on the right|at the top|at the bottom"
          r"|in the centre|in the middle")
RELATION = "to the left of|left of|to the right of|right of|above|below|under|beneath|next to|beside|close to"
EXTREME = "leftmost|rightmost|topmost|lowest"
PATTERNS: dict[str, str] = {  # tried in this order; a caption must match one in full
    "count": rf"(?:there are |an image of )?(?P<n>{NUM}) (?:shapes|objects)(?: on a white background)?",
    "relation": rf"the (?P<a>{NP}) (?:is|sits|lies) (?P<rel>{RELATION}) the (?P<b>{NP})",
    "next_to_each_other": rf"the (?P<a>{NP}) and the (?P<b>{NP}) are next to each other",
    "region_the": rf"the (?P<a>{NP}) is (?P<region>{REGION})",
    "region_a": rf"there is an? (?P<a>{NP}) (?P<region>{REGION})",
    "region_front": rf"(?P<region>{REGION}), there is an? (?P<a>{NP})",
    "region_sits": rf"an? (?P<a>{NP}) sits (?P<region>{REGION})",
    "size": rf"the (?P<a>{NP}) is (?P<cmp>larger|bigger|smaller) than the (?P<b>{NP})",
    "extreme_a": rf"the (?P<w>{EXTREME}) (?:shape|object) is an? (?P<a>{NP})",
    "extreme_the": rf"the (?P<a>{NP}) is the (?P<w>{EXTREME}) (?:shape|object)",
    "fraction": rf"(?P<n>{NUM}|all) of the (?:shapes|objects) (?:is|are) (?P<v>{SIZE}|{COLOUR})",
    "there_is_count": rf"there (?:is|are) (?P<n>{NUM}) (?P<a>{NP})",
    "tally": rf"(?:the image contains |the scene has |there are )?(?P<items>(?:{NUM}) .+)",
    "listing": rf"(?P<prefix>from left to right, |the image shows |a picture of )?(?P<items>an? .+)",
}
NUMBERS = {w: i for i, w in enumerate("zero one two three four five six".split())}
SIZE_OF = {"small": "small", "little": "small", "large": "large", "big": "large"}


def attrs(phrase: str) -> tuple[str | None, str | None, str | None]:
    """(size, colour, shape) of a noun phrase; None where the phrase does not say."""
    words = phrase.split()
    size = SIZE_OF.get(words[0])
    colour = next((w for w in words if w in sc.COLOURS), None)
    noun = "cross" if words[-1].startswith("cross") else words[-1].rstrip("s")
    return size, colour, (noun if noun in sc.SHAPES else None)


def fits(obj: dict, phrase: str) -> bool:
    size, colour, shape = attrs(phrase)
    return all(w is None or obj[k] == w for k, w in (("size", size), ("colour", colour), ("shape", shape)))


def the(objects: list[dict], phrase: str) -> dict:
    """The single object "the <phrase>" names; fails the test when it names none or several."""
    found = [o for o in objects if fits(o, phrase)]
    assert len(found) == 1, f"'the {phrase}' names {len(found)} objects"
    return found[0]


def holds(relation: str, a: dict, b: dict) -> bool:
    dx, dy = b["x"] - a["x"], b["y"] - a["y"]
    gap = math.hypot(dx, dy) - text.RADIUS_PX[a["size"]] - text.RADIUS_PX[b["size"]]
    horizontal = abs(dx) >= text.MARGIN_PX and 2 * abs(dx) >= abs(dy)
    vertical = abs(dy) >= text.MARGIN_PX and 2 * abs(dy) >= abs(dx)
    return {"left": horizontal and dx > 0, "right": horizontal and dx < 0, "above": vertical and dy > 0,
            "below": vertical and dy < 0, "next": gap <= text.NEXT_TO_GAP_PX}[relation]


def in_region(obj: dict, region: str) -> bool:
    third, margin = 64 / 3, text.REGION_MARGIN_PX
    col = 0 if obj["x"] < third - margin else 2 if obj["x"] > 2 * third + margin else (
        1 if third + margin < obj["x"] < 2 * third - margin else None)
    row = 0 if obj["y"] < third - margin else 2 if obj["y"] > 2 * third + margin else (
        1 if third + margin < obj["y"] < 2 * third - margin else None)
    wants = {"top": ("row", 0), "bottom": ("row", 2), "left": ("col", 0), "right": ("col", 2)}
    if region in ("in the centre", "in the middle"):
        return (col, row) == (1, 1)
    cells = {"row": row, "col": col}
    return all(cells[wants[w][0]] == wants[w][1] for w in re.findall(r"top|bottom|left|right", region))


def split_items(items: str) -> list[str]:
    return re.split(r", | and ", items)


def check_caption(caption: str, objects: list[dict]) -> str:
    """Verify every claim of ``caption``; return the name of the pattern that parsed it."""
    assert caption[0].isupper() and caption.endswith("."), caption
    body = caption[:-1].lower()
    assert not re.search(r"\ba [aeiou]|\ban [^aeiou]", body), f"article: {caption}"
    for name, pattern in PATTERNS.items():
        m = re.fullmatch(pattern, body)
        if m:
            verify(name, m, objects)
            return name
    raise AssertionError(f"no pattern parses {caption!r}")


def verify(name: str, m: re.Match, objects: list[dict]) -> None:
    g = m.groupdict()
    relation = {"to the left of": "left", "left of": "left", "to the right of": "right", "right of": "right",
                "above": "above", "below": "below", "under": "below", "beneath": "below"}
    if name == "count":
        assert NUMBERS[g["n"]] == len(objects)
    elif name in ("relation", "next_to_each_other"):
        rel = relation.get(g.get("rel") or "", "next")
        assert holds(rel, the(objects, g["a"]), the(objects, g["b"])), (g, objects)
    elif name.startswith("region"):
        candidates = [the(objects, g["a"])] if name == "region_the" else [o for o in objects if fits(o, g["a"])]
        assert any(in_region(o, g["region"]) for o in candidates), (g, objects)
    elif name == "size":
        a, b = the(objects, g["a"]), the(objects, g["b"])
        bigger, smaller = (a, b) if g["cmp"] != "smaller" else (b, a)
        assert (bigger["size"], smaller["size"]) == ("large", "small")
    elif name.startswith("extreme"):
        key, sign = text.EXTREMES[g["w"]]
        ranked = sorted(objects, key=lambda o: sign * o[key])
        assert sign * (ranked[1][key] - ranked[0][key]) >= text.EXTREME_MARGIN_PX and fits(ranked[0], g["a"])
        if name == "extreme_the":
            the(objects, g["a"])
    elif name == "fraction":
        key = "size" if g["v"] in SIZE_OF else "colour"
        count = sum(o[key] == SIZE_OF.get(g["v"], g["v"]) for o in objects)
        assert count == (len(objects) if g["n"] == "all" else NUMBERS[g["n"]])
    elif name == "there_is_count":
        assert sum(fits(o, g["a"]) for o in objects) == NUMBERS[g["n"]]
    elif name == "tally":
        counted = [item.split(" ", 1) for item in split_items(g["items"])]
        assert all(sum(fits(o, phrase) for o in objects) == NUMBERS[n] for n, phrase in counted), g
        assert sum(NUMBERS[n] for n, _ in counted) == len(objects)
    else:
        phrases = [re.sub(r"^an? ", "", item) for item in split_items(g["items"])]
        assert len(phrases) == len(objects) and all(re.fullmatch(NP, p) for p in phrases), g
        if g["prefix"] == "from left to right, ":
            ordered = sorted(objects, key=lambda o: o["x"])
            assert all(b["x"] > a["x"] for a, b in zip(ordered, ordered[1:]))
            assert all(fits(o, p) for o, p in zip(ordered, phrases)), g
        else:
            assert any(all(fits(o, p) for o, p in zip(perm, phrases))
                       for perm in itertools.permutations(objects)), g


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return sc.generate(300, seed=5)


def test_every_caption_parses_and_is_true(rows: list[dict]) -> None:
    kinds = collections.Counter()
    for row in rows:
        assert len(row["captions"]) == sc.NUM_CAPTIONS == len(set(row["captions"]))
        names = [check_caption(c, row["objects"]) for c in row["captions"]]
        assert names[0] in ("count", "listing"), names
        kinds.update(names)
    assert set(kinds) == set(PATTERNS), kinds  # every phrasing shows up


def test_relations_and_regions_all_occur(rows: list[dict]) -> None:
    captions = " ".join(c.lower() for row in rows for c in row["captions"])
    for phrase in ("to the left of", "right of", "above", "below", "beside", "next to each other",
                   "in the top left corner", "in the bottom right corner", "in the centre", "from left to right"):
        assert phrase in captions, phrase


def test_checker_rejects_false_captions() -> None:
    objects = [{"shape": "circle", "colour": "red", "size": "small", "x": 10, "y": 10},
               {"shape": "square", "colour": "blue", "size": "large", "x": 50, "y": 50}]
    assert check_caption("The red circle is in the top left corner.", objects) == "region_the"
    for false in ("The red circle is to the right of the blue square.", "There are three shapes.",
                  "The blue square is smaller than the red circle.", "Two of the objects are red.",
                  "The leftmost shape is a blue square.", "A red circle and a blue circle.",
                  "The red circle is next to the blue square.", "The red circle is at the bottom."):
        with pytest.raises(AssertionError):
            check_caption(false, objects)


def test_scene_constraints(rows: list[dict]) -> None:
    counts = collections.Counter(len(row["objects"]) for row in rows)
    assert set(counts) == {2, 3, 4, 5, 6}
    for row in rows:
        objects = row["objects"]
        assert len({(o["shape"], o["colour"], o["size"]) for o in objects}) == len(objects)
        for a, b in itertools.combinations(objects, 2):
            assert math.dist((a["x"], a["y"]), (b["x"], b["y"])) >= (
                text.RADIUS_PX[a["size"]] + text.RADIUS_PX[b["size"]] + sc.MIN_GAP_PX)


def test_drawing_colours_and_sizes(rows: list[dict]) -> None:
    areas: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for row in rows[:100]:
        image = row["image"]
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert (image == 255).all(axis=-1).mean() > 0.4
        for obj in row["objects"]:
            rgb = sc.COLOURS_RGB[obj["colour"]]
            assert tuple(image[obj["y"], obj["x"]]) == rgb
            r = text.RADIUS_PX[obj["size"]] + 2
            box = image[max(obj["y"] - r, 0):obj["y"] + r + 1, max(obj["x"] - r, 0):obj["x"] + r + 1]
            areas[obj["shape"], obj["size"]].append(int((box == rgb).all(axis=-1).sum()))
    for shape in sc.SHAPES:
        assert min(areas[shape, "large"]) > 1.8 * max(areas[shape, "small"]), shape


def test_same_seed_same_rows() -> None:
    first, again, other = sc.generate(5, 9), sc.generate(5, 9), sc.generate(5, 10)
    for a, b in zip(first, again):
        assert np.array_equal(a["image"], b["image"]) and a["objects"] == b["objects"]
        assert a["captions"] == b["captions"]
    assert [r["captions"] for r in first] != [r["captions"] for r in other]
    assert sc.GENERATOR_VERSION


def test_negative_size_raises() -> None:
    with pytest.raises(ValueError, match="num_images"):
        sc.generate(-2, 0)

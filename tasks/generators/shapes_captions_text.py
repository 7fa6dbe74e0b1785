"""Captions for shapes-captions scenes, written from the object list alone (no pixels).

Every caption is true of the scene under these definitions (x right, y down, in pixels):

* "A left of B": B.x − A.x ≥ ``MARGIN_PX`` and |dx| ≥ |dy| / 2 ("right of", "above", "below" alike);
* "next to": the gap between the two extents (centre distance − radii) ≤ ``NEXT_TO_GAP_PX``;
* regions: the canvas in thirds; "on the left" = left third, "at the top" = top third, a corner =
  both, "in the centre" = middle cell; a centre within ``REGION_MARGIN_PX`` of a third line gets none;
* "leftmost" etc.: ahead of every other object by ≥ ``EXTREME_MARGIN_PX``;
* "the X" names exactly one object; "N ..." counts exactly; a listing names every object once.

Sizes read "small"/"little" and "large"/"big"; "shape" and "object" name any shape.
"""

from __future__ import annotations

import collections
import math
import random
from collections.abc import Callable
from typing import TypedDict

IMAGE_SIZE: int = 64
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange", "gray")
SIZES: tuple[str, ...] = ("small", "large")
RADIUS_PX: dict[str, int] = {"small": 5, "large": 9}
SIZE_WORDS: dict[str, tuple[str, ...]] = {"small": ("small", "little"), "large": ("large", "big")}
GENERIC_NOUNS: tuple[str, ...] = ("shape", "object")
PLURALS: dict[str, str] = {"cross": "crosses", **{n: n + "s" for n in (*SHAPES[:4], *GENERIC_NOUNS)}}
NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six")
NUM_CAPTIONS: int = 5
MARGIN_PX: int = 8
NEXT_TO_GAP_PX: int = 8
REGION_MARGIN_PX: int = 2
EXTREME_MARGIN_PX: int = 4
RELATION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("to the left of", "left of"), "right": ("to the right of", "right of"),
    "above": ("above",), "below": ("below", "under", "beneath"),
    "next": ("next to", "beside", "close to"),
}
EXTREMES: dict[str, tuple[str, int]] = {  # word -> (coordinate, sign: +1 smallest wins)
    "leftmost": ("x", 1), "rightmost": ("x", -1), "topmost": ("y", 1), "lowest": ("y", -1)}
CORNERS: dict[tuple[int, int], str] = {(0, 0): "top left", (2, 0): "top right",
                                       (0, 2): "bottom left", (2, 2): "bottom right"}


class SceneObject(TypedDict):
    """One object: shape, colour, size name and integer centre (x right, y down)."""

    shape: str
    colour: str
    size: str
    x: int
    y: int


Attrs = tuple[str | None, str | None, str | None]  # (size, colour, shape); None: unspecified


def matches(obj: SceneObject, attrs: Attrs) -> bool:
    """Whether ``obj`` fits a description; None fields match anything."""
    return all(want is None or obj[key] == want for key, want in zip(("size", "colour", "shape"), attrs))


def describe(rng: random.Random, obj: SceneObject, objects: list[SceneObject], unique: bool,
             detailed: bool = False) -> str:
    """A noun phrase for ``obj`` (no article); with ``unique`` it names no other object,
    ``detailed`` always gives colour and shape."""
    options: list[Attrs] = [(None, obj["colour"], obj["shape"]), (obj["size"], obj["colour"], obj["shape"])]
    if not detailed:
        options += [(obj["size"], None, obj["shape"]), (None, obj["colour"], None)]
    if unique:
        options = [a for a in options if sum(matches(o, a) for o in objects) == 1]
    size, colour, shape = rng.choice(options)
    words = [rng.choice(SIZE_WORDS[size]) if size else "", colour or "", shape or rng.choice(GENERIC_NOUNS)]
    return " ".join(w for w in words if w)


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _counted(count: int, noun: str, words: str = "") -> str:
    """"two red circles", "one star"."""
    return " ".join(w for w in (NUMBER_WORDS[count], words, noun if count == 1 else PLURALS[noun]) if w)


def relations(a: SceneObject, b: SceneObject) -> list[str]:
    """Relation names (keys of ``RELATION_WORDS``) that clearly hold for "a REL b"."""
    dx, dy = b["x"] - a["x"], b["y"] - a["y"]
    found = []
    if abs(dx) >= MARGIN_PX and abs(dx) >= abs(dy) / 2:
        found.append("left" if dx > 0 else "right")
    if abs(dy) >= MARGIN_PX and abs(dy) >= abs(dx) / 2:
        found.append("above" if dy > 0 else "below")
    if math.hypot(dx, dy) - RADIUS_PX[a["size"]] - RADIUS_PX[b["size"]] <= NEXT_TO_GAP_PX:
        found.append("next")
    return found


def _third(value: int) -> int | None:
    """0/1/2 for the third holding ``value``; None within ``REGION_MARGIN_PX`` of a third line."""
    for line in (IMAGE_SIZE / 3, 2 * IMAGE_SIZE / 3):
        if abs(value - line) <= REGION_MARGIN_PX:
            return None
    return int(value // (IMAGE_SIZE / 3))


def region_phrases(obj: SceneObject) -> list[str]:
    """Region phrases that hold for ``obj``'s centre."""
    col, row = _third(obj["x"]), _third(obj["y"])
    phrases = [f"in the {CORNERS[col, row]} corner"] if (col, row) in CORNERS else []
    phrases += {0: ["on the left"], 2: ["on the right"]}.get(col, [])
    phrases += {0: ["at the top"], 2: ["at the bottom"]}.get(row, [])
    return phrases + (["in the centre", "in the middle"] if (col, row) == (1, 1) else [])


def _count_caption(rng: random.Random, objects: list[SceneObject]) -> str:
    n, noun = NUMBER_WORDS[len(objects)], rng.choice(("shapes", "objects"))
    return rng.choice((f"there are {n} {noun} on a white background", f"{n} {noun} on a white background",
                       f"an image of {n} {noun}", f"there are {n} {noun}"))


def _list_caption(rng: random.Random, objects: list[SceneObject]) -> str:
    ordered = sorted(objects, key=lambda o: o["x"])
    gaps = [b["x"] - a["x"] for a, b in zip(ordered, ordered[1:])]
    in_order = min(gaps) >= EXTREME_MARGIN_PX and rng.random() < 0.5
    if not in_order:
        ordered = rng.sample(objects, len(objects))
    listing = _join([_a(describe(rng, o, objects, unique=False, detailed=True)) for o in ordered])
    prefixes = ("from left to right, ",) if in_order else ("", "the image shows ", "a picture of ")
    return rng.choice(prefixes) + listing


def _tally_caption(rng: random.Random, objects: list[SceneObject]) -> str:
    key = rng.choice(("shape", "colour"))
    tally = sorted(collections.Counter(o[key] for o in objects).items(), key=lambda kv: (-kv[1], kv[0]))
    if key == "shape":
        parts = [_counted(count, shape) for shape, count in tally]
    else:
        noun = rng.choice(GENERIC_NOUNS)
        parts = [_counted(count, noun, colour) for colour, count in tally]
    prefixes = ("", "the image contains ", "the scene has ") + (("there are ",) if tally[0][1] > 1 else ())
    return rng.choice(prefixes) + _join(parts)


def _attribute_caption(rng: random.Random, objects: list[SceneObject]) -> str:
    key = rng.choice(("colour", "size"))
    value = rng.choice(sorted({o[key] for o in objects}))
    count = sum(o[key] == value for o in objects)
    word = rng.choice(SIZE_WORDS[value]) if key == "size" else value
    noun = rng.choice(GENERIC_NOUNS)
    if rng.random() < 0.5:
        return f"there {'is' if count == 1 else 'are'} {_counted(count, noun, word)}"
    if count == len(objects):
        return f"all of the {PLURALS[noun]} are {word}"
    return f"{NUMBER_WORDS[count]} of the {PLURALS[noun]} {'is' if count == 1 else 'are'} {word}"


def _relation_caption(rng: random.Random, objects: list[SceneObject]) -> str | None:
    pairs = [(a, b) for a in objects for b in objects if a is not b and relations(a, b)]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    relation = rng.choice(relations(a, b))
    first, second = describe(rng, a, objects, unique=True), describe(rng, b, objects, unique=True)
    if relation == "next" and rng.random() < 0.3:
        return f"the {first} and the {second} are next to each other"
    verb = rng.choice(("is", "sits", "lies"))
    return f"the {first} {verb} {rng.choice(RELATION_WORDS[relation])} the {second}"


def _region_caption(rng: random.Random, objects: list[SceneObject]) -> str | None:
    placed = [o for o in objects if region_phrases(o)]
    if not placed:
        return None
    obj = rng.choice(placed)
    region = rng.choice(region_phrases(obj))
    form = rng.randrange(4)
    if form == 0:
        return f"the {describe(rng, obj, objects, unique=True)} is {region}"
    phrase = _a(describe(rng, obj, objects, unique=False))
    return (f"there is {phrase} {region}", f"{region}, there is {phrase}", f"{phrase} sits {region}")[form - 1]


def _size_caption(rng: random.Random, objects: list[SceneObject]) -> str | None:
    large = [o for o in objects if o["size"] == "large"]
    small = [o for o in objects if o["size"] == "small"]
    if not large or not small:
        return None
    big = describe(rng, rng.choice(large), objects, unique=True)
    little = describe(rng, rng.choice(small), objects, unique=True)
    return rng.choice((f"the {big} is larger than the {little}", f"the {big} is bigger than the {little}",
                       f"the {little} is smaller than the {big}"))


def _extreme_caption(rng: random.Random, objects: list[SceneObject]) -> str | None:
    winners = []
    for word, (key, sign) in EXTREMES.items():
        ranked = sorted(objects, key=lambda o: sign * o[key])
        if sign * (ranked[1][key] - ranked[0][key]) >= EXTREME_MARGIN_PX:
            winners.append((word, ranked[0]))
    if not winners:
        return None
    word, obj = rng.choice(winners)
    noun = rng.choice(GENERIC_NOUNS)
    if rng.random() < 0.5:
        return f"the {word} {noun} is {_a(describe(rng, obj, objects, unique=False))}"
    return f"the {describe(rng, obj, objects, unique=True)} is the {word} {noun}"


Writer = Callable[[random.Random, list[SceneObject]], "str | None"]
OPENERS: tuple[Writer, ...] = (_count_caption, _list_caption)
WRITERS: tuple[Writer, ...] = (_count_caption, _list_caption, _tally_caption, _attribute_caption,
                               _relation_caption, _region_caption, _size_caption, _extreme_caption)


def write_captions(rng: random.Random, objects: list[SceneObject]) -> list[str]:
    """``NUM_CAPTIONS`` distinct captions: a count or a listing first, then other kinds in random order."""
    opener = rng.choice(OPENERS)
    others = [w for w in WRITERS if w is not opener]
    rng.shuffle(others)
    captions: list[str] = []
    for writer in (opener, *others):
        text = writer(rng, objects)
        if text and text not in captions:
            captions.append(text)
        if len(captions) == NUM_CAPTIONS:
            break
    assert len(captions) == NUM_CAPTIONS, "count, listing, tally, attribute and relation always apply"
    return [text[0].upper() + text[1:] + "." for text in captions]

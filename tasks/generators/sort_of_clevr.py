"""Sort-of-CLEVR (Santoro et al. 2017, Supplementary D), the 2017/paper version with 11-dim questions.

Written from ``docs/sort-of-clevr.md``, a description of the reference generator
(kimhc6028/relational-networks, ``sort_of_clevr_generator.py``); no reference code is used.

Image: 75×75 white canvas with 6 objects, one per colour, in the fixed colour order
red, green, blue, orange, gray, yellow. Each is a filled 11×11 rectangle or a filled circle of
radius 5 (probability 0.5 each), centred at integer (x, y) in [5, 69] with every pair of centres
at least 10 px apart (a centre is redrawn until it is). x grows rightwards, y downwards.
The reference draws with OpenCV and so stores **BGR**; rows here store **RGB** (``COLOURS_RGB`` is
the reference's BGR tuples reversed) as ``uint8`` (H, W, 3); divide by 255 for the reference's floats.
A circle is the pixels with dx² + dy² ≤ 5.5² (the midpoint-circle disc, 11 px across; OpenCV's
rasteriser may differ by a few edge pixels); its bounding-box corners stay white.

Questions: 10 non-relational then 10 relational per image; colour and subtype uniform.
Encoding (11 bits): 0–5 one-hot colour, 6 non-relational / 7 relational, 8–10 one-hot subtype.

* non-relational: 0 shape (rectangle/circle); 1 "on the left?" (yes iff x < 37.5);
  2 "on the top?" (yes iff y < 37.5).
* relational: 0 shape of the closest other object; 1 shape of the furthest object;
  2 how many objects share the queried object's shape, itself included (answers "1".."6").

All draws come from one ``random.Random(seed)`` in the reference's order (per image: centres and
shapes, then question colours and subtypes); the reference seeds Python's and numpy's global RNGs
instead, so the same seed gives different scenes from it, with the same distributions.

Distances are squared Euclidean between centres; ties go to the object listed first (colour
order in generated scenes), as the reference's ``list.index`` does. Answers are computed from the
object list alone (``answer_question``), independently of the drawing.
"""

from __future__ import annotations

import random
from typing import TypedDict

import numpy as np

GENERATOR_VERSION: str = "1"
IMAGE_SIZE: int = 75
HALF_SIZE: int = 5  # rectangle 11×11, circle radius 5
CENTRE_MIN, CENTRE_MAX = 5, 69  # inclusive, i.e. numpy randint(5, 70)
MIN_CENTRE_DISTANCE_SQ: int = (2 * HALF_SIZE) ** 2
HALF_WAY: float = IMAGE_SIZE / 2  # 37.5
COLOURS: tuple[str, ...] = ("red", "green", "blue", "orange", "gray", "yellow")
COLOURS_BGR: tuple[tuple[int, int, int], ...] = (
    (0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 156, 255), (128, 128, 128), (0, 255, 255))
COLOURS_RGB: tuple[tuple[int, int, int], ...] = tuple(
    (r, g, b) for b, g, r in COLOURS_BGR)
SHAPES: tuple[str, ...] = ("rectangle", "circle")
ANSWERS: tuple[str, ...] = ("yes", "no", "rectangle", "circle", "1", "2", "3", "4", "5", "6")
NON_RELATIONAL: tuple[str, ...] = ("shape", "horizontal", "vertical")
RELATIONAL: tuple[str, ...] = ("closest", "furthest", "count")
QUESTION_LENGTH: int = 11
QUESTIONS_PER_KIND: int = 10
TEMPLATES: dict[str, str] = {
    "shape": "What is the shape of the {} object?",
    "horizontal": "Is the {} object on the left?",
    "vertical": "Is the {} object on the top?",
    "closest": "What is the shape of the object closest to the {} object?",
    "furthest": "What is the shape of the object furthest from the {} object?",
    "count": "How many objects have the same shape as the {} object?",
}
_DISC: np.ndarray = (np.add.outer(np.arange(-HALF_SIZE, HALF_SIZE + 1) ** 2,
                                  np.arange(-HALF_SIZE, HALF_SIZE + 1) ** 2) <= (HALF_SIZE + 0.5) ** 2)


class SceneObject(TypedDict):
    """One object of a scene: colour name, shape name and integer centre (x right, y down)."""

    colour: str
    shape: str
    x: int
    y: int


def sample_objects(rng: random.Random) -> list[SceneObject]:
    """Six objects in colour order, centres ≥ 10 px apart (rejection), shapes 50/50."""
    objects: list[SceneObject] = []
    for colour in COLOURS:
        while True:
            x, y = rng.randint(CENTRE_MIN, CENTRE_MAX), rng.randint(CENTRE_MIN, CENTRE_MAX)
            if all((x - o["x"]) ** 2 + (y - o["y"]) ** 2 >= MIN_CENTRE_DISTANCE_SQ for o in objects):
                break
        shape = "rectangle" if rng.random() < 0.5 else "circle"
        objects.append(SceneObject(colour=colour, shape=shape, x=x, y=y))
    return objects


def draw_scene(objects: list[SceneObject]) -> np.ndarray:
    """Draw ``objects`` in list order on a white canvas; (H, W, 3) uint8 RGB."""
    image = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 255, dtype=np.uint8)
    for obj in objects:
        rgb = np.array(COLOURS_RGB[COLOURS.index(obj["colour"])], dtype=np.uint8)
        x, y, h = obj["x"], obj["y"], HALF_SIZE
        patch = image[y - h:y + h + 1, x - h:x + h + 1]  # (11, 11, 3) view
        if obj["shape"] == "rectangle":
            patch[...] = rgb
        else:
            patch[_DISC] = rgb
    return image


def encode_question(colour: str, subtype: str) -> list[int]:
    """The 11-dim 0/1 question vector of the 2017 reference for ``colour`` and ``subtype``."""
    relational = subtype in RELATIONAL
    kinds = RELATIONAL if relational else NON_RELATIONAL
    vector = [0] * QUESTION_LENGTH
    vector[COLOURS.index(colour)] = 1
    vector[7 if relational else 6] = 1
    vector[8 + kinds.index(subtype)] = 1
    return vector


def _find(objects: list[SceneObject], colour: str) -> int:
    """Index of the object of ``colour``; ``ValueError`` if the scene has none."""
    for index, obj in enumerate(objects):
        if obj["colour"] == colour:
            return index
    raise ValueError(f"no {colour} object in the scene")


def answer_question(objects: list[SceneObject], colour: str, subtype: str) -> str:
    """The answer (a word of ``ANSWERS``) to ``subtype`` about the ``colour`` object."""
    me = objects[_find(objects, colour)]
    if subtype == "shape":
        return me["shape"]
    if subtype == "horizontal":
        return "yes" if me["x"] < HALF_WAY else "no"
    if subtype == "vertical":
        return "yes" if me["y"] < HALF_WAY else "no"
    if subtype == "count":
        return str(sum(obj["shape"] == me["shape"] for obj in objects))
    if subtype not in ("closest", "furthest"):
        raise ValueError(f"unknown question subtype {subtype!r}")
    others = [obj for obj in objects if obj is not me]
    distances = [(obj["x"] - me["x"]) ** 2 + (obj["y"] - me["y"]) ** 2 for obj in others]
    target = min(distances) if subtype == "closest" else max(distances)
    return others[distances.index(target)]["shape"]


def make_question(objects: list[SceneObject], colour: str, subtype: str) -> dict:
    """A question row: text, 11-dim encoding, answer word and index, relational flag, subtype."""
    answer = answer_question(objects, colour, subtype)
    return {
        "question": TEMPLATES[subtype].format(colour),
        "encoding": encode_question(colour, subtype),
        "answer": answer,
        "answer_index": ANSWERS.index(answer),
        "relational": subtype in RELATIONAL,
        "subtype": subtype,
    }


def _questions(rng: random.Random, objects: list[SceneObject]) -> list[dict]:
    """10 non-relational then 10 relational questions, colour and subtype drawn uniformly."""
    questions = []
    for kinds in (NON_RELATIONAL, RELATIONAL):
        for _ in range(QUESTIONS_PER_KIND):
            colour = COLOURS[rng.randint(0, len(COLOURS) - 1)]
            subtype = kinds[rng.randint(0, len(kinds) - 1)]
            questions.append(make_question(objects, colour, subtype))
    return questions


def generate(num_images: int, seed: int) -> list[dict]:
    """``num_images`` rows ``{image, objects, questions}`` from one ``random.Random(seed)``."""
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    rng = random.Random(seed)
    rows = []
    for _ in range(num_images):
        objects = sample_objects(rng)
        rows.append({"image": draw_scene(objects), "objects": objects,
                     "questions": _questions(rng, objects)})
    return rows


def split_sizes() -> dict[str, int]:
    """Images per split, as in the reference and the paper (200 withheld)."""
    return {"train": 9800, "test": 200}


def generate_split(seed: int) -> dict[str, list]:
    """The splits of one run: the first ``test`` images built are the test set, the rest train."""
    sizes = split_sizes()
    rows = generate(sizes["test"] + sizes["train"], seed)
    return {"train": rows[sizes["test"]:], "test": rows[:sizes["test"]]}

"""Tests for tasks.generators.sort_of_clevr: spec constants, answers from hand-built layouts,
an independent answer oracle, the drawing, determinism and the split order."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from tasks.generators import sort_of_clevr as soc

RGB = dict(zip(soc.COLOURS, soc.COLOURS_RGB))


def scene(*items: tuple[str, str, int, int]) -> list[dict]:
    """Objects from (colour, shape, x, y) tuples."""
    return [{"colour": c, "shape": s, "x": x, "y": y} for c, s, x, y in items]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return soc.generate(150, seed=7)


# A hand-built layout: red at the top left; green just right of red; blue far bottom right;
# orange below red; gray in the centre; yellow at the bottom left.
LAYOUT = scene(("red", "rectangle", 10, 10), ("green", "circle", 22, 10), ("blue", "circle", 65, 65),
               ("orange", "rectangle", 10, 30), ("gray", "circle", 40, 40), ("yellow", "rectangle", 8, 66))


@pytest.mark.parametrize("colour, subtype, expected", [
    ("red", "shape", "rectangle"), ("green", "shape", "circle"),
    ("red", "horizontal", "yes"), ("blue", "horizontal", "no"), ("gray", "horizontal", "no"),
    ("red", "vertical", "yes"), ("yellow", "vertical", "no"), ("gray", "vertical", "no"),
    ("red", "closest", "circle"),       # green at 12 px beats orange at 20 px
    ("orange", "closest", "rectangle"),  # red at 20 px beats green at 23.3 px
    ("blue", "closest", "circle"),       # gray
    ("red", "furthest", "circle"),       # blue
    ("blue", "furthest", "rectangle"),   # red (55² + 55²) beats green (43² + 55²)
    ("yellow", "furthest", "circle"),    # green (14² + 56² = 3332) beats blue (57² + 1² = 3250)
    ("red", "count", "3"), ("gray", "count", "3"),
])
def test_answers_on_hand_built_layout(colour: str, subtype: str, expected: str) -> None:
    assert soc.answer_question(LAYOUT, colour, subtype) == expected


def test_count_covers_one_to_six_and_maps_to_answer_index() -> None:
    lone = scene(("red", "circle", 10, 10), *[(c, "rectangle", 10 + 12 * i, 40) for i, c in
                                               enumerate(soc.COLOURS[1:], 1)])
    assert soc.answer_question(lone, "red", "count") == "1"
    assert soc.answer_question(lone, "green", "count") == "5"
    same = scene(*[(c, "circle", 10 + 12 * i, 40) for i, c in enumerate(soc.COLOURS)])
    question = soc.make_question(same, "gray", "count")
    assert question["answer"] == "6" and question["answer_index"] == 6 + 3


def test_ties_go_to_the_first_listed_object() -> None:
    tied = scene(("red", "rectangle", 30, 30), ("green", "circle", 40, 30), ("blue", "rectangle", 20, 30))
    assert soc.answer_question(tied, "red", "closest") == "circle"
    assert soc.answer_question(tied, "red", "furthest") == "circle"


def test_half_way_is_37_5() -> None:
    edge = scene(("red", "circle", 37, 38), ("green", "circle", 38, 37))
    assert [soc.answer_question(edge, "red", s) for s in ("horizontal", "vertical")] == ["yes", "no"]
    assert [soc.answer_question(edge, "green", s) for s in ("horizontal", "vertical")] == ["no", "yes"]


def test_encoding_bits_follow_the_2017_layout() -> None:
    assert soc.encode_question("orange", "vertical") == [0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1]
    assert soc.encode_question("red", "closest") == [1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]
    assert soc.encode_question("yellow", "count") == [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1]
    assert soc.ANSWERS == ("yes", "no", "rectangle", "circle", "1", "2", "3", "4", "5", "6")


def test_colours_are_the_reference_bgr_tuples_reversed() -> None:
    assert RGB["red"] == (255, 0, 0) and RGB["blue"] == (0, 0, 255)
    assert RGB["orange"] == (255, 156, 0) and RGB["yellow"] == (255, 255, 0)
    assert soc.COLOURS_BGR[soc.COLOURS.index("orange")] == (0, 156, 255)


def oracle(objects: list[dict], encoding: list[int]) -> str:
    """An independent decoder + answerer working from the 11 bits and numpy arrays."""
    bits = np.array(encoding)
    me, relational, subtype = int(np.argmax(bits[:6])), bool(bits[7]), int(np.argmax(bits[8:]))
    xy = np.array([[o["x"], o["y"]] for o in objects], dtype=float)
    shapes = np.array([o["shape"] for o in objects])
    if not relational:
        return [str(shapes[me]), "yes" if xy[me, 0] < 37.5 else "no", "yes" if xy[me, 1] < 37.5 else "no"][subtype]
    dist = ((xy - xy[me]) ** 2).sum(axis=1)
    if subtype == 2:
        return str(int((shapes == shapes[me]).sum()))
    dist[me] = np.inf if subtype == 0 else -np.inf
    return str(shapes[np.argmin(dist) if subtype == 0 else np.argmax(dist)])


def test_generated_questions_match_oracle_text_and_encoding(rows: list[dict]) -> None:
    for row in rows:
        questions = row["questions"]
        assert len(questions) == 20
        assert [q["relational"] for q in questions] == [False] * 10 + [True] * 10
        for q in questions:
            colour = soc.COLOURS[q["encoding"].index(1)]
            assert colour in q["question"] and q["question"] == soc.TEMPLATES[q["subtype"]].format(colour)
            assert q["encoding"] == soc.encode_question(colour, q["subtype"])
            assert q["answer"] == oracle(row["objects"], q["encoding"])
            assert soc.ANSWERS[q["answer_index"]] == q["answer"]


def test_scene_constraints(rows: list[dict]) -> None:
    for row in rows:
        objects = row["objects"]
        assert [o["colour"] for o in objects] == list(soc.COLOURS)
        xy = np.array([[o["x"], o["y"]] for o in objects])
        assert xy.min() >= 5 and xy.max() <= 69
        assert all(type(o["x"]) is int and type(o["y"]) is int for o in objects)
        d2 = ((xy[:, None] - xy[None]) ** 2).sum(-1) + np.eye(6, dtype=int) * 1000
        assert d2.min() >= 100


def test_question_and_answer_distribution(rows: list[dict]) -> None:
    questions = [q for row in rows for q in row["questions"]]
    subtypes = collections.Counter(q["subtype"] for q in questions)
    assert all(400 <= subtypes[s] <= 600 for s in (*soc.NON_RELATIONAL, *soc.RELATIONAL))
    shapes = collections.Counter(o["shape"] for row in rows for o in row["objects"])
    assert 0.4 < shapes["circle"] / sum(shapes.values()) < 0.6
    colours = collections.Counter(q["encoding"].index(1) for q in questions)
    assert min(colours.values()) > 0.12 * len(questions)


def test_drawing_colours_background_and_corners() -> None:
    image = soc.draw_scene(LAYOUT)
    assert image.shape == (75, 75, 3) and image.dtype == np.uint8
    for obj in LAYOUT:
        x, y = obj["x"], obj["y"]
        assert tuple(image[y, x]) == RGB[obj["colour"]]
        corners = [tuple(image[y + dy, x + dx]) for dy in (-5, 5) for dx in (-5, 5)]
        expected = RGB[obj["colour"]] if obj["shape"] == "rectangle" else (255, 255, 255)
        assert corners == [expected] * 4, obj
        if obj["shape"] == "circle":  # the disc reaches 5 px out along the axes
            assert tuple(image[y, x + 5]) == tuple(image[y - 5, x]) == RGB[obj["colour"]]
    covered = np.zeros((75, 75), dtype=bool)
    for obj in LAYOUT:
        covered[obj["y"] - 5:obj["y"] + 6, obj["x"] - 5:obj["x"] + 6] = True
    assert (image[~covered] == 255).all()
    colours = {tuple(p) for p in image.reshape(-1, 3)}
    assert colours == {*RGB.values(), (255, 255, 255)}


def test_generated_images_show_each_object_at_its_centre(rows: list[dict]) -> None:
    for row in rows[:50]:
        image, objects = row["image"], row["objects"]
        for obj in objects:
            assert tuple(image[obj["y"], obj["x"]]) == RGB[obj["colour"]]
        assert (image == 255).all(axis=-1).mean() > 0.75  # mostly white canvas
        assert np.array_equal(image, soc.draw_scene(objects))


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first, again, other = soc.generate(4, 11), soc.generate(4, 11), soc.generate(4, 12)
    for a, b in zip(first, again):
        assert np.array_equal(a["image"], b["image"])
        assert a["objects"] == b["objects"] and a["questions"] == b["questions"]
    assert [r["objects"] for r in first] != [r["objects"] for r in other]


def test_split_takes_test_images_first(monkeypatch: pytest.MonkeyPatch) -> None:
    assert soc.split_sizes() == {"train": 9800, "test": 200}
    monkeypatch.setattr(soc, "split_sizes", lambda: {"train": 5, "test": 3})
    splits, rows = soc.generate_split(3), soc.generate(8, 3)
    assert [r["objects"] for r in splits["test"]] == [r["objects"] for r in rows[:3]]
    assert [r["objects"] for r in splits["train"]] == [r["objects"] for r in rows[3:]]


def test_bad_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="num_images"):
        soc.generate(-1, 0)
    with pytest.raises(ValueError, match="subtype"):
        soc.answer_question(LAYOUT, "red", "between")
    with pytest.raises(ValueError, match="purple"):
        soc.answer_question(LAYOUT, "purple", "shape")

"""Write a captioning folder in the README's layout from the shapes-captions generator: a stand-in for your data.

    python scripts/write_captions_folder.py my_captions --images 3200 --new new_images

``my_captions/captions.jsonl`` holds one line per image, ``{"image": "images/00017.png", "captions": [...],
"split": "train"}``, with an official split as public sets have one (80% train, 10% ``valid``, 10% test), and rows
in "class" order (by how many objects a scene holds), as files sorted by category often are: the first rows of such
a file are no fair sample of it. ``--new DIR`` also writes that many unseen images to predict on (``--new-count``).
Images are upscaled to ``--size`` pixels so that they are not smaller than what the model reads.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image

from tasks.generators import shapes_captions


def _save(image: object, path: Path, size: int) -> None:
    Image.fromarray(image).resize((size, size), Image.Resampling.NEAREST).save(path)


def write_folder(out: Path, images: int, seed: int, size: int) -> dict[str, int]:
    """The captions folder at ``out``; returns the number of rows per split."""
    rows = shapes_captions.generate(images, seed)
    order = sorted(range(len(rows)), key=lambda i: (len(rows[i]["objects"]), i))  # "class" order
    splits = ["train"] * len(rows)
    shuffled = list(range(len(rows)))
    random.Random(seed).shuffle(shuffled)
    tenth = len(rows) // 10
    for i in shuffled[:tenth]:
        splits[i] = "valid"
    for i in shuffled[tenth:2 * tenth]:
        splits[i] = "test"
    (out / "images").mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with open(out / "captions.jsonl", "w", encoding="utf-8") as handle:
        for i in order:
            name = f"images/{i:05d}.png"
            _save(rows[i]["image"], out / name, size)
            handle.write(json.dumps({"image": name, "captions": rows[i]["captions"], "split": splits[i]}) + "\n")
            counts[splits[i]] = counts.get(splits[i], 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write (captions.jsonl and images/)")
    parser.add_argument("--images", type=int, default=3200, help="images with captions (default 3200)")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    parser.add_argument("--size", type=int, default=160, help="image side in pixels (default 160)")
    parser.add_argument("--new", type=Path, default=None, help="also write unseen images to this folder")
    parser.add_argument("--new-count", type=int, default=20, help="how many unseen images (default 20)")
    args = parser.parse_args()
    counts = write_folder(args.out, args.images, args.seed, args.size)
    print(f"wrote {sum(counts.values())} images to {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if args.new is not None:
        args.new.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(shapes_captions.generate(args.new_count, args.seed + 1)):
            _save(row["image"], args.new / f"new{i:03d}.png", args.size)
        print(f"wrote {args.new_count} unseen images to {args.new}")


if __name__ == "__main__":
    main()

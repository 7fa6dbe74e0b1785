"""Deterministic, offline dataset generators for the zoo's built-in benchmarks.

Every generator carries a ``GENERATOR_VERSION``, needs no network and draws only from RNGs it seeds
itself. The image generators below are numpy/PIL only (no torch) and offer
``generate(num_images, seed) -> list[dict]``; every row holds an ``image`` as a ``uint8`` array
(H, W, 3) in RGB plus the module's own fields.

* ``sort_of_clevr``   – Santoro et al. 2017 VQA scenes (docs/sort-of-clevr.md), 20 questions per image.
* ``shapes_captions`` – scenes of 2–6 shapes with several reference captions each.
* ``chest_phantom``   – drawn frontal chest radiographs with known findings, a report and an indication.
"""

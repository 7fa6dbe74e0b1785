"""Uncertainty of single-seed leaderboard rows: a bootstrap interval over test examples.

A row of several seeds shows mean ± std over seeds. A row of one seed has no spread over
seeds, so it gets a percentile bootstrap interval instead: the run's per-example `score`s
(from its predictions file) are resampled with replacement RESAMPLES times with a fixed RNG
seed (rendering is deterministic), and the 2.5% and 97.5% quantiles of the resampled means
are the 95% interval of the mean per-example score. For accuracy-type metrics that mean *is*
the metric (score 1.0 when correct); rows whose primary metric is not the mean of the scores
(corpus-level BLEU, WER, macro-F1) get no interval. Standard library only.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from leaderboard.predictions import predictions_file, read_predictions
from leaderboard.schema import Record
from leaderboard.summary import row_key, table_key

RESAMPLES = 1000
RNG_SEED = 0
MEAN_TOLERANCE = 1e-6  # |mean score - primary metric| below this: the metric is the mean of the scores
INTERVAL_NOTE = (
    "95% CI: for single-seed rows, a percentile bootstrap interval of the mean per-example test score "
    f"({RESAMPLES} resamples of the test examples, RNG seed {RNG_SEED}); the mean score is the primary "
    "metric itself for accuracy-type metrics (score 1 when correct); — where the primary metric is not "
    "that mean, the row has several seeds, or the record has no predictions file."
)


def bootstrap_interval(scores: Sequence[float], resamples: int = RESAMPLES,
                       seed: int = RNG_SEED) -> tuple[float, float]:
    """Percentile bootstrap 95% interval (2.5%, 97.5% quantiles) of the mean of `scores`."""
    if not scores:
        raise ValueError("bootstrap_interval needs at least one score")
    rng = random.Random(seed)
    n = len(scores)
    means = [math.fsum(rng.choices(scores, k=n)) / n for _ in range(resamples)]
    cuts = statistics.quantiles(means, n=40, method="inclusive")  # cut points at 1/40 ... 39/40
    return cuts[0], cuts[-1]


def single_seed_intervals(records: list[Record], directory: Path) -> dict[str, tuple[float, float]]:
    """Record id -> bootstrap interval of its primary metric, for each record that is alone in its row.

    Reads the predictions files those records reference; a missing or corrupt file raises
    (FileNotFoundError, RecordError) naming it, like a corrupt records line.
    """
    rows = Counter((table_key(record), row_key(record)) for record in records)
    intervals: dict[str, tuple[float, float]] = {}
    for record in records:
        path = predictions_file(record, directory)
        if path is None or rows[(table_key(record), row_key(record))] != 1:
            continue
        scores = [float(row["score"]) for row in read_predictions(path)]
        primary = record["metrics"][record["primary_metric"]]
        if scores and abs(math.fsum(scores) / len(scores) - primary) <= MEAN_TOLERANCE:
            intervals[record["id"]] = bootstrap_interval(scores)
    return intervals

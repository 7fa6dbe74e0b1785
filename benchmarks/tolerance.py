"""How far a reproduced metric may be from the recorded one (the rule `zoo reproduce` applies).

* **exact** (0.0): the rerun had the record's package versions, device kind and name (for a
  CPU the name includes the thread count) and precision; a deterministic run must then give
  bit-identical metrics.
* **spread**: otherwise, SPREAD_FACTOR × the sample std (ddof=1) of each metric over the seeds
  recorded for the same configuration (task, benchmark, recipe, model, config hash), when
  there are at least 2 seeds, but never less than the default below: a std from 3 seeds can be
  smaller than what a change of thread count alone moves (docs/recipes/captioning.md gives a case).
* **default**: otherwise, DEFAULT_FRACTION absolute for metrics that are fractions
  (accuracy, F1, WER, BLEU, ...: the ones the leaderboard shows as percent) and
  DEFAULT_RELATIVE × |recorded value| for the others (loss, perplexity, ...).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from leaderboard.formatting import is_percent_metric
from leaderboard.schema import Record

SPREAD_FACTOR = 2.0
DEFAULT_FRACTION = 0.02
DEFAULT_RELATIVE = 0.05
GROUP_FIELDS = ("task", "benchmark", "recipe", "model", "config_hash")
DEFAULT_RULE = f"{DEFAULT_FRACTION:g} absolute for fraction metrics, {DEFAULT_RELATIVE:.0%} relative otherwise"


@dataclass(frozen=True)
class Tolerance:
    """Per-metric tolerances and the one line that says which rule gave them."""

    rule: str  # "exact", "spread" or "default"
    explanation: str
    per_metric: Mapping[str, float]


def group_of(record: Record, records: list[Record]) -> list[Record]:
    """The records of the same configuration as `record` (any seed), in the order given."""
    return [other for other in records if all(other[f] == record[f] for f in GROUP_FIELDS)]


def differences(recorded: Record, rerun: Record) -> list[str]:
    """What differs between where the record ran and where the rerun ran: versions, device, precision."""
    found = []
    old, new = recorded["versions"], rerun["versions"]
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            found.append(f"{name} {old.get(name, 'absent')} → {new.get(name, 'absent')}")
    for key in ("kind", "name"):
        if recorded["device"][key] != rerun["device"][key]:
            found.append(f"device {key} {recorded['device'][key]!r} → {rerun['device'][key]!r}")
    if recorded["precision"] != rerun["precision"]:
        found.append(f"precision {recorded['precision']} → {rerun['precision']}")
    return found


def _per_seed(group: list[Record], metric: str) -> list[float]:
    """One value of `metric` per recorded seed of the group (the first record of each seed)."""
    values: dict[int, float] = {}
    for record in group:
        if metric in record["metrics"]:
            values.setdefault(record["seed"], record["metrics"][metric])
    return list(values.values())


def default_tolerance(metric: str, recorded: float) -> float:
    """DEFAULT_FRACTION for fraction metrics, DEFAULT_RELATIVE × |recorded| for the others."""
    return DEFAULT_FRACTION if is_percent_metric(metric) else DEFAULT_RELATIVE * abs(recorded)


def tolerance_for(recorded: Record, rerun: Record, group: list[Record]) -> Tolerance:
    """The tolerance of each recorded metric when `rerun` reproduces `recorded` (`group`: its configuration)."""
    metrics = recorded["metrics"]
    changed = differences(recorded, rerun)
    if not changed:
        device = f"{recorded['device']['kind']} {recorded['device']['name']!r}"
        return Tolerance("exact", f"exact (0.0): same package versions, device ({device}) and precision "
                                  f"({recorded['precision']}) as the record", {m: 0.0 for m in metrics})
    why = "; ".join(changed)
    seeds = sorted({record["seed"] for record in group})
    if len(seeds) >= 2:
        per_metric = {}
        for metric, value in metrics.items():
            values = _per_seed(group, metric)
            spread = SPREAD_FACTOR * statistics.stdev(values) if len(values) >= 2 else 0.0
            per_metric[metric] = max(spread, default_tolerance(metric, value))
        return Tolerance("spread", f"{SPREAD_FACTOR:g} × the sample std over the {len(seeds)} recorded seeds "
                                   f"({', '.join(map(str, seeds))}) of this configuration, at least the default "
                                   f"({DEFAULT_RULE}), as the rerun differs: {why}", per_metric)
    return Tolerance("default", f"default ({DEFAULT_RULE}), as only {len(seeds)} seed is "
                                f"recorded for this configuration and the rerun differs: {why}",
                     {m: default_tolerance(m, v) for m, v in metrics.items()})

"""How metric values, counts and table cells are written in the leaderboard."""

from __future__ import annotations

import re

# Metric names shown as percentages (value × 100, one decimal): a name is split into
# tokens at non-alphanumerics and matches if a token is one of these words ...
_PERCENT_WORDS: frozenset[str] = frozenset(
    {"accuracy", "acc", "wer", "cer", "meteor", "spice", "precision", "recall"}
)
# ... or starts with one of these (rougeL, bleu4, ciderD, f1macro).
_PERCENT_PREFIXES: tuple[str, ...] = ("rouge", "bleu", "cider", "f1")


def is_percent_metric(name: str) -> bool:
    """True for accuracy/F1/WER/CER/BLEU/ROUGE/CIDEr-style names, shown as percent."""
    tokens = [token for token in re.split(r"[^a-z0-9]+", name.lower()) if token]
    return any(
        token in _PERCENT_WORDS or token.startswith(_PERCENT_PREFIXES) for token in tokens
    )


def metric_header(name: str) -> str:
    """Column title of a metric: its name, with "(%)" when shown as percent."""
    return f"{name} (%)" if is_percent_metric(name) else name


def format_value(name: str, value: float) -> str:
    """A metric value: percent with one decimal, or 4 significant digits."""
    if is_percent_metric(name):
        return f"{value * 100:.1f}"
    return f"{value:.4g}"


def format_mean_std(name: str, mean: float, std: float | None) -> str:
    """"mean ± std" in the metric's format; "mean ± n/a" when there is no std."""
    spread = "n/a" if std is None else format_value(name, std)
    return f"{format_value(name, mean)} ± {spread}"


def format_interval(name: str, interval: tuple[float, float] | None) -> str:
    """"[low, high]" in the metric's format; "—" when there is no interval."""
    if interval is None:
        return "—"
    return f"[{format_value(name, interval[0])}, {format_value(name, interval[1])}]"


def format_count(count: int) -> str:
    """A parameter count with 3 significant digits and a k/M/B suffix."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:.3g}{suffix}"
    return str(count)


def format_counts(counts: tuple[int, ...]) -> str:
    """One count, or the range "low–high" when a row's records differ."""
    if len(counts) == 1:
        return format_count(counts[0])
    return f"{format_count(counts[0])}–{format_count(counts[-1])}"


def format_seconds(seconds: float) -> str:
    """Wall-clock seconds with one decimal."""
    return f"{seconds:.1f}"


def cell(text: str) -> str:
    """Make text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def direction(higher_is_better: bool) -> str:
    """Words for the direction of a metric."""
    return "higher is better" if higher_is_better else "lower is better"

"""A valid example leaderboard record for the tests."""

from __future__ import annotations

from leaderboard.schema import Record, config_hash


def example_record(**overrides: object) -> Record:
    """Return a new valid sentiment/sst2/dev record; keyword arguments replace fields.

    Only the required fields are set. The result is a fresh dict each call, so it
    can be changed freely; `config_hash` matches the default `config`.
    """
    config = {"model": {"name": "zoo-small", "layers": 2}, "lr": 0.001}
    record = {
        "id": "sentiment-sst2-standard-zoo-s0-20261129T1312Z-ab12cd",
        "task": "sentiment",
        "task_version": "1",
        "model": "zoo-small",
        "benchmark": "sst2",
        "split": "dev",
        "data_fingerprint": "0f3a9c",
        "recipe": "standard",
        "config": config,
        "config_hash": config_hash(config),
        "seed": 0,
        "metrics": {"accuracy": 0.8, "loss": 0.4321},
        "primary_metric": "accuracy",
        "higher_is_better": True,
        "steps": 1000,
        "epochs": 3,
        "wall_seconds": 120.0,
        "train_samples_per_second": 850.5,
        "peak_memory_mb": 512.0,
        "num_parameters": 1_234_567,
        "num_test_examples": 872,
        "device": {"kind": "cpu", "count": 1, "name": "x86_64"},
        "precision": "32-true",
        "versions": {"python": "3.11.7", "torch": "2.14.1"},
        "git_commit": "d9180cd",
        "git_dirty": False,
        "created_at": "2026-11-29T13:12:05Z",
    }
    record.update(overrides)
    return record

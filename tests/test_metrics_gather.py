"""Per-example rows and records across processes: gathering with all_gather_object, ids counted once (the metrics,
the harness's test predictions and ``zoo predict``'s rows all use ``tasks.metrics.gather``), device moves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from benchmarks import run
from benchmarks.lightning_cli import PredictionsWriter
from tasks.metrics import CaptionMetrics
from tasks.metrics.gather import gather_rows
from tasks.vqa.metric import ExactMatchAccuracy


@dataclass
class FakeWorld:
    """A two-process world seen from rank 0: ``all_gather_object`` returns rank 0's list and ``rank1_records``."""

    rank1_records: list[Any]
    calls: list[int] = field(default_factory=list)

    def all_gather_object(self, buckets: list[Any], local: list[Any], group: Any = None) -> None:
        self.calls.append(len(local))
        buckets[0], buckets[1] = list(local), list(self.rank1_records)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(torch.distributed, "is_available", lambda: True)
        monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
        monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
        monkeypatch.setattr(torch.distributed, "all_gather_object", self.all_gather_object)


@dataclass(frozen=True)
class Shards:
    """Five captioned images split over two ranks the way DistributedSampler does (rank 1 repeats image 0)."""

    predictions: tuple[str, ...] = ("a dog on grass", "two cats", "a red car", "a man surfing", "a bowl of fruit")
    references: tuple[tuple[str, ...], ...] = (
        ("a dog on the grass", "a brown dog"),
        ("two cats on a sofa", "a pair of cats"),
        ("a red car parked", "a small red car"),
        ("a man riding a wave", "a surfer on a wave"),
        ("a bowl of apples", "fruit in a bowl"),
    )
    rank_ids: tuple[tuple[int, ...], ...] = ((0, 2, 4), (1, 3, 0))

    def batch(self, rank: int) -> tuple[list[str], list[list[str]], list[int]]:
        ids = list(self.rank_ids[rank])
        return [self.predictions[i] for i in ids], [list(self.references[i]) for i in ids], ids


@pytest.fixture()
def shards() -> Shards:
    return Shards()


def test_gathered_compute_counts_each_example_once(shards: Shards, monkeypatch: pytest.MonkeyPatch) -> None:
    single = CaptionMetrics()
    single.update(list(shards.predictions), [list(r) for r in shards.references])
    expected = single.compute()
    rank1 = CaptionMetrics()
    rank1.update(*shards.batch(1))
    rank0 = CaptionMetrics()
    rank0.update(*shards.batch(0))
    world = FakeWorld(rank1.records)
    world.install(monkeypatch)
    assert rank0.compute() == expected
    assert world.calls == [3]
    assert len(rank0.records) == 3  # after compute the local state is restored, so accumulation can go on


def test_per_example_outside_compute_also_gathers(shards: Shards, monkeypatch: pytest.MonkeyPatch) -> None:
    rank1 = CaptionMetrics()
    rank1.update(*shards.batch(1))
    rank0 = CaptionMetrics()
    rank0.update(*shards.batch(0))
    FakeWorld(rank1.records).install(monkeypatch)
    assert len(rank0.per_example()) == 5  # 3 + 3 records, the repeated image 0 dropped


def test_without_ids_nothing_is_dropped(shards: Shards) -> None:
    metric = ExactMatchAccuracy()
    metric.update(["yes", "no"], ["yes", "yes"])
    metric.update(["yes"], ["yes"])
    assert metric.compute()["accuracy"].item() == pytest.approx(2 / 3)


def test_repeated_ids_in_one_process_count_once() -> None:
    metric = ExactMatchAccuracy()
    metric.update(["yes", "no"], ["yes", "yes"], ids=["q1", "q2"])
    metric.update(["no"], ["yes"], ids=["q1"])  # a padded repeat of q1: the first record stays
    assert metric.compute()["accuracy"].item() == pytest.approx(1 / 2)


def test_records_survive_device_and_dtype_moves_and_reset_clears_them(shards: Shards) -> None:
    metric = CaptionMetrics()
    metric.update(*shards.batch(0))
    before = metric.per_example()
    metric.to("cpu")
    metric.to(torch.float64)
    metric.set_dtype(torch.float32)
    assert metric.per_example() == before
    metric.reset()
    assert metric.records == []


def test_forward_returns_the_batch_value_and_accumulates(shards: Shards) -> None:
    metric = ExactMatchAccuracy()
    assert metric(["yes", "no"], ["yes", "yes"])["accuracy"].item() == pytest.approx(0.5)
    assert metric(["yes"], ["yes"])["accuracy"].item() == pytest.approx(1.0)
    assert metric.compute()["accuracy"].item() == pytest.approx(2 / 3)


@pytest.mark.parametrize("ids,message", [(["q1"], "ids must be"), ([["not", "hashable"], "q2"], r"ids\[0\]")])
def test_malformed_ids_name_the_field(ids: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExactMatchAccuracy().update(["yes", "no"], ["yes", "no"], ids=ids)


@pytest.fixture()
def rank_rows() -> tuple[list[dict], list[dict]]:
    """Prediction rows of two ranks; rank 1 repeats example a (padding) with another prediction."""
    rank0 = [{"id": "a", "prediction": "yes", "score": 1}, {"id": "c", "prediction": "no", "score": 0}]
    rank1 = [{"id": "b", "prediction": "no", "score": 1}, {"id": "a", "prediction": "no", "score": 0}]
    return rank0, rank1


def test_gather_rows_keeps_the_first_row_of_each_id_in_rank_order(rank_rows: tuple[list[dict], list[dict]],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rank0, rank1 = rank_rows
    assert gather_rows(rank0 + rank1) == rank0 + rank1[:1]  # not distributed: this process's rows, de-duplicated
    assert gather_rows([{"key": 1, "n": 0}, {"key": 1, "n": 1}], key="key") == [{"key": 1, "n": 0}]
    world = FakeWorld(rank1)
    world.install(monkeypatch)
    assert gather_rows(rank0) == [rank0[0], rank0[1], rank1[0]]
    assert world.calls == [2]


def test_harness_and_predict_writer_gather_as_gather_rows(rank_rows: tuple[list[dict], list[dict]], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rank0, rank1 = rank_rows
    FakeWorld(rank1).install(monkeypatch)
    expected = gather_rows(rank0)
    assert run._prediction_rows(rank0) == [{**row, "score": float(row["score"])} for row in expected]
    writer = PredictionsWriter(tmp_path / "predictions.jsonl")
    writer.rows = list(rank0)
    writer.on_predict_epoch_end(SimpleNamespace(world_size=2, is_global_zero=True), None)
    written = [json.loads(line) for line in writer.path.read_text().splitlines()]
    assert written == expected

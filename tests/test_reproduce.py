"""``zoo reproduce``: an exact rerun passes, a changed number fails by name, an impossible rerun exits 2
before training; the tolerance rules; ``zoo score`` recomputes a run's metrics from its predictions."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from benchmarks import reproduce as reproduce_module
from benchmarks.cli import main
from benchmarks.tolerance import DEFAULT_FRACTION, DEFAULT_RELATIVE, tolerance_for
from leaderboard.schema import config_hash
from leaderboard.store import read_records
from tasks import sentiment
from tests.records import example_record
from tests.runs import two_step_run


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A records dir with two-step smoke records of seeds 0 and 1 (one configuration)."""
    root = tmp_path_factory.mktemp("made")
    for seed in (0, 1):
        two_step_run("sentiment", root / "records", root / "runs", seed=seed)
    return root / "records"


def _copy(made: Path, tmp_path: Path, **changes: object) -> tuple[Path, dict]:
    """A copy of `made` whose seed-0 record has `changes` applied; returns (dir, that record)."""
    target = tmp_path / "copy"
    shutil.copytree(made, target)
    records = read_records(target)
    first = {**records[0], **changes}
    lines = [json.dumps(first)] + [json.dumps(r) for r in records[1:]]
    (target / "sentiment.jsonl").write_text("\n".join(lines) + "\n")
    return target, first


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_exact_rerun_reproduces_and_touches_no_record(made: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(made)
    record = read_records(made)[0]
    assert main(["reproduce", record["id"], "--records-dir", str(made)]) == 0
    out = capsys.readouterr().out
    assert "tolerance: exact (0.0)" in out
    assert out.rstrip().splitlines()[-1].startswith("verdict: reproduced")
    assert f"{record['num_test_examples']} of {record['num_test_examples']} recorded test predictions identical" in out
    assert _snapshot(made) == before


def test_changed_metric_fails_and_is_named(made: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = read_records(made)[0]
    metrics = {**record["metrics"], "macro_f1": record["metrics"]["macro_f1"] + 0.1}
    copy, changed = _copy(made, tmp_path, metrics=metrics)
    assert main(["reproduce", changed["id"], "--records-dir", str(copy)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "verdict: NOT reproduced: macro_f1 outside tolerance"
    assert next(line for line in lines if line.strip().startswith("macro_f1")).rstrip().endswith("FAIL")
    assert next(line for line in lines if line.strip().startswith("accuracy")).rstrip().endswith("ok")


def test_seeds_reproduce_the_configuration(made: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = read_records(made)
    assert main(["reproduce", first["id"], "--seeds", "1", "0", "--records-dir", str(made)]) == 0
    out = capsys.readouterr().out
    assert out.index(f"record {second['id']}") < out.index(f"record {first['id']}")
    assert "every metric of 2 record(s) within tolerance" in out


def _refuse_training(*args: object, **kwargs: object) -> None:
    raise AssertionError("reproduce trained although it cannot reproduce")


@pytest.mark.parametrize("case,expected", [
    ("task version", "task version differs: the record was made with sentiment v1, this code is v2"),
    ("fingerprint", "data fingerprint differs: the record saw 0123abcd"),
    ("config", "config does not fit this code's sentiment Config: unknown config field(s) for Config: colour"),
    ("seed", "has seed 7 (recorded seeds: 0, 1)"),
    ("data dir", "benchmark reviews is generated; --data-dir is only for real benchmarks"),
])
def test_cannot_reproduce_exits_2_before_training(case: str, expected: str, made: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(reproduce_module, "run_benchmark", _refuse_training)
    record = read_records(made)[0]
    directory, argv = made, ["reproduce", record["id"]]
    if case == "task version":
        monkeypatch.setattr(sentiment, "SPEC", dataclasses.replace(sentiment.SPEC, version="2"))
    elif case == "fingerprint":
        directory, _ = _copy(made, tmp_path, data_fingerprint="0123abcd")
    elif case == "config":
        directory, _ = _copy(made, tmp_path, config={**record["config"], "colour": "blue"})
    elif case == "seed":
        argv += ["--seeds", "0", "7"]
    else:
        argv += ["--data-dir", str(tmp_path)]
    assert main([*argv, "--records-dir", str(directory)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and expected in err and len(err.splitlines()) == 1


@pytest.fixture()
def glue_record(tmp_path: Path) -> tuple[Path, dict]:
    """A two-step sst2 record made from a small GLUE folder (tmp_path/sst2)."""
    folder = tmp_path / "sst2"
    folder.mkdir()
    rows = [f"good film number {i} \t1" for i in range(20)] + [f"bad film number {i} \t0" for i in range(20)]
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\na good film \t1\na bad film \t0\n")
    record = two_step_run("sentiment", tmp_path / "records", tmp_path / "runs", benchmark="sst2",
                          data_dir=str(folder), overrides={"val_size": 8})
    return tmp_path / "records", record


def test_real_benchmark_needs_its_data_and_the_same_data(glue_record: tuple[Path, dict], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ZOO_DATA", raising=False)
    records, record = glue_record
    moved = tmp_path / "moved-sst2"
    shutil.move(tmp_path / "sst2", moved)
    argv = ["reproduce", record["id"], "--records-dir", str(records)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the data of benchmark sst2 (recorded as sst2) is not found (no data root" in err
    assert "give --data-dir PATH, or set ZOO_DATA or --data-root" in err and len(err.splitlines()) == 1
    assert main([*argv, "--data-dir", str(moved)]) == 0
    assert "verdict: reproduced" in capsys.readouterr().out
    with open(moved / "dev.tsv", "a") as handle:
        handle.write("one more film \t1\n")
    assert main([*argv, "--data-dir", str(moved)]) == 2
    assert "data fingerprint differs" in capsys.readouterr().err


def test_a_record_names_its_data_portably_and_one_hash_for_any_folder(glue_record: tuple[Path, dict],
                                                                       tmp_path: Path) -> None:
    _, record = glue_record
    assert record["config"]["data_dir"] == "sst2"  # not the machine path tmp_path/sst2
    assert str(tmp_path) not in json.dumps(record)
    moved = {**record["config"], "data_dir": "/elsewhere/sst2"}
    assert config_hash(moved) == config_hash(record["config"]) == record["config_hash"]
    assert config_hash({**record["config"], "max_length": 65}) != record["config_hash"]


def test_reproduce_from_another_folder_finds_the_data_under_zoo_data(glue_record: tuple[Path, dict], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    records, record = glue_record
    root = tmp_path / "my-datasets"
    root.mkdir()
    shutil.move(tmp_path / "sst2", root / "sst2")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("ZOO_DATA", str(root))
    assert main(["reproduce", record["id"], "--records-dir", str(records)]) == 0
    out = capsys.readouterr().out
    assert "verdict: reproduced" in out and f"config {record['config_hash']}: identical" in out
    monkeypatch.delenv("ZOO_DATA")
    assert main(["reproduce", record["id"], "--records-dir", str(records), "--data-root", str(root)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "empty-root"))
    assert main(["reproduce", record["id"], "--records-dir", str(records)]) == 2
    assert f"is not found (not under {tmp_path / 'empty-root'})" in capsys.readouterr().err


# ---------------------------------------------------------------- tolerance rules


@pytest.fixture()
def seeds_records() -> list[dict]:
    """Three recorded seeds of one configuration: accuracy 0.80 / 0.82 / 0.84 (std 0.02)."""
    return [example_record(id=f"s{seed}", seed=seed, metrics={"accuracy": 0.80 + 0.02 * seed, "loss": 0.5})
            for seed in range(3)]


def test_same_environment_means_exact(seeds_records: list[dict]) -> None:
    tolerance = tolerance_for(seeds_records[0], dict(seeds_records[0]), seeds_records)
    assert tolerance.rule == "exact" and dict(tolerance.per_metric) == {"accuracy": 0.0, "loss": 0.0}


def test_other_versions_use_twice_the_seed_spread(seeds_records: list[dict]) -> None:
    rerun = {**seeds_records[0], "versions": {**seeds_records[0]["versions"], "torch": "9.9"}}
    tolerance = tolerance_for(seeds_records[0], rerun, seeds_records)
    assert tolerance.rule == "spread" and "torch 2.14.1 → 9.9" in tolerance.explanation
    assert tolerance.per_metric["accuracy"] == pytest.approx(2 * 0.02)
    assert tolerance.per_metric["loss"] == DEFAULT_RELATIVE * 0.5  # no spread over seeds: never below the default


def test_a_small_seed_spread_is_raised_to_the_default(seeds_records: list[dict]) -> None:
    close = [{**r, "metrics": {"accuracy": 0.800 + 0.001 * r["seed"], "loss": 0.5 + 0.1 * r["seed"]}}
             for r in seeds_records]
    rerun = {**close[0], "versions": {**close[0]["versions"], "torch": "9.9"}}
    tolerance = tolerance_for(close[0], rerun, close)
    assert tolerance.rule == "spread" and "at least the default" in tolerance.explanation
    assert tolerance.per_metric["accuracy"] == DEFAULT_FRACTION  # 2 × 0.001 is below it
    assert tolerance.per_metric["loss"] == pytest.approx(2 * 0.1)  # above 5% of 0.5


def test_one_seed_uses_the_documented_default(seeds_records: list[dict]) -> None:
    rerun = {**seeds_records[0], "device": {"kind": "cpu", "count": 1, "name": "another cpu"}}
    tolerance = tolerance_for(seeds_records[0], rerun, seeds_records[:1])
    assert tolerance.rule == "default" and "device name 'x86_64' → 'another cpu'" in tolerance.explanation
    assert dict(tolerance.per_metric) == {"accuracy": DEFAULT_FRACTION, "loss": DEFAULT_RELATIVE * 0.5}


# ---------------------------------------------------------------- zoo score


def test_score_recomputes_the_recorded_metrics_exactly(made: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    record = read_records(made)[0]
    path = made / record["predictions"]
    assert main(["score", str(path)]) == 0
    out = capsys.readouterr().out
    assert repr(record["metrics"]["accuracy"]) in out and "exactly the recorded metrics" in out
    copy, _ = _copy(made, tmp_path)
    rows = [json.loads(line) for line in (copy / record["predictions"]).read_text().splitlines()]
    rows[0]["prediction"] = "negative" if rows[0]["prediction"] == "positive" else "positive"
    (copy / record["predictions"]).write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["score", str(copy / record["predictions"])]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("accuracy")).endswith("NO")
    assert lines[-1].startswith("verdict: the predictions do NOT give the recorded metrics")


def test_score_without_a_record_needs_the_task(made: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    record = read_records(made)[0]
    alone = tmp_path / "elsewhere" / f"{record['id']}.jsonl"
    alone.parent.mkdir()
    shutil.copy(made / record["predictions"], alone)
    empty = str(tmp_path / "no-records")
    assert main(["score", str(alone), "--records-dir", empty]) == 2
    assert "no record with id" in capsys.readouterr().err
    assert main(["score", str(alone), "--records-dir", empty, "--task", "sentiment"]) == 0
    assert repr(record["metrics"]["accuracy"]) in capsys.readouterr().out


def test_config_differences_name_changed_new_and_gone_fields() -> None:
    old = {"data_dir": "a", "optim": {"lr": 0.001, "max_epochs": 3}, "gone": 1}
    new = {"data_dir": "b", "optim": {"lr": 0.001, "max_epochs": 3, "val_every_n_epochs": 1}}
    assert reproduce_module.config_differences(old, new) == ["data_dir", "gone (gone)",
                                                              "optim.val_every_n_epochs (new)"]
    assert reproduce_module.config_differences(new, new) == []

"""``zoo perf`` end to end at tiny sizes, KV-cache equivalence, device-chosen loaders and ``--compile``.

No timing is asserted: only that every number is there and positive, and that the fast paths compute the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
from benchmarks.cli import main
from benchmarks.compiling import compile_model, compile_unavailable_reason
from tasks import TASKS
from tasks.core.contract import TaskDataModule, loader_settings

MODEL_KEYS = {"asr_vs_whisper": ("ours_seconds", "whisper_seconds", "ratio"),
              "image_vs_timm": ("ours_seconds", "timm_seconds", "ratio")}
GENERATION_KEYS = ("cached_tokens_per_second", "uncached_tokens_per_second", "speedup")
TASK_KEYS = ("pipeline_samples_per_second", "model_samples_per_second", "ratio")


@pytest.mark.slow  # about 40 s on 2 cores with a fresh cache (it generates every task's smoke data); in the default run
def test_perf_writes_every_number(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "perf.json"
    assert main(["perf", "--quick", "--preset", "tiny", "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for section, keys in MODEL_KEYS.items():
        for key in keys:
            assert result[section][key] > 0, (section, key)
    for mode in ("greedy", "beam4"):
        assert all(result["generation"][mode][key] > 0 for key in GENERATION_KEYS)
        assert result["generation"][mode]["identical_tokens"] is True
    assert set(result["tasks"]) == set(TASKS)
    for name, numbers in result["tasks"].items():
        assert all(numbers[key] > 0 for key in TASK_KEYS), name
    assert result["memory"]["peak_rss_mb"] > 0 and result["memory"]["cuda_peak_allocated_mb"] is None
    assert result["mfu"] is None and result["wall_seconds"] > 0
    checks = {row["name"]: row for row in result["checks"]}
    assert checks["train step ours/whisper"]["target"] == 1.0 and checks["image fwd+bwd ours/timm"]["target"] == 1.05
    assert len(checks) == 4 + len(TASKS)
    assert "train step ours/whisper" in capsys.readouterr().out


def test_perf_rejects_unknown_task() -> None:
    assert main(["perf", "--quick", "--tasks", "nope"]) == 2


def _decoder_model(seed: int = 0) -> zoo.MultimodalModel:
    torch.manual_seed(seed)
    cfg = zoo.preset("tiny", vocab_size=40, num_mel_bins=80, num_decoder_layers=2, max_audio_frames=60,
                     max_text_positions=32)
    return zoo.MultimodalModel(cfg).eval()


@pytest.mark.parametrize("num_beams", [1, 4])
def test_cached_and_uncached_generation_choose_the_same_tokens(num_beams: int) -> None:
    net = _decoder_model()
    mask = torch.ones(3, 60, dtype=torch.bool)
    mask[1, 41:] = False  # a padded utterance keeps the memory mask in use
    inputs = {"audio": torch.randn(3, 80, 60), "audio_mask": mask}
    kwargs = {"bos_id": 1, "eos_id": 2, "pad_id": 0, "max_new_tokens": 20, "num_beams": num_beams}
    cached = net.generate(inputs, use_cache=True, **kwargs)
    uncached = net.generate(inputs, use_cache=False, **kwargs)
    assert cached.shape[0] == 3 and torch.equal(cached, uncached)


def test_loader_settings_follow_the_device() -> None:
    assert loader_settings(cuda=False, cpus=2) == (0, False)
    assert loader_settings(cuda=False, cpus=16)[0] > 0
    workers, pin = loader_settings(cuda=True, cpus=16)
    assert workers > 0 and pin
    auto = TaskDataModule(8, num_workers=None)
    assert (auto.num_workers, auto.pin_memory) == loader_settings()
    assert TaskDataModule(8).loader_kwargs()["num_workers"] == 0


@pytest.mark.slow  # about 25 s: inductor compiles three blocks; still in the default run
@pytest.mark.skipif(compile_unavailable_reason("cpu") is not None,
                    reason=f"torch.compile unavailable: {compile_unavailable_reason('cpu')}")
def test_compiled_model_matches_eager() -> None:
    eager, compiled = _decoder_model(), _decoder_model()
    assert compile_model(compiled) == 3  # one encoder block, two decoder blocks
    assert set(compiled.state_dict()) == set(eager.state_dict())  # checkpoints stay interchangeable
    inputs = {"audio": torch.randn(2, 80, 60), "audio_mask": torch.ones(2, 60, dtype=torch.bool)}
    target = torch.randint(3, 40, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(compiled.decoder_logits(inputs, target), eager.decoder_logits(inputs, target),
                                   rtol=1e-4, atol=1e-4)
    kwargs = {"bos_id": 1, "eos_id": 2, "pad_id": 0, "max_new_tokens": 4}
    assert torch.equal(compiled.generate(inputs, **kwargs), eager.generate(inputs, **kwargs))

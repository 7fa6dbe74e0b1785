"""Packed sequences: segment masks in the backbone, the conv image stem, and vqa's scene batches (one image, all of
its questions in one sequence) giving the same answers as one sequence per question; the majority reference row."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch.testing import assert_close

from benchmarks.run import RunOptions, run_benchmark
from leaderboard.predictions import read_predictions
from tasks import TASKS, vqa
from tasks.vqa import scenes as vqa_scenes
from zoo import MultimodalModel, preset
from zoo.embedders import conv_stem_grid
from zoo.model import segment_positions

VOCAB = 40


def model(stem: str = "patch") -> MultimodalModel:
    config = preset("tiny", vocab_size=VOCAB, image_size=32, patch_size=8, image_stem=stem, num_classes=3,
                    num_decoder_layers=0, dropout=0.0)
    return MultimodalModel(config).eval()


def test_segment_positions_restart_per_segment() -> None:
    segments = torch.tensor([[1, 1, 1, 2, 2, 3, 0, 0]])
    assert segment_positions(segments).tolist() == [[0, 1, 2, 0, 1, 0, 0, 0]]


@pytest.mark.parametrize("stem", ["patch", "conv", "coordconv"])
def test_packed_question_equals_its_own_sequence(stem: str) -> None:
    """A question packed as segment k sees the image and itself only: its fused tokens equal a one-segment sequence."""
    torch.manual_seed(0)
    net = model(stem)
    image = torch.rand(1, 3, 32, 32)
    first, second = torch.randint(1, VOCAB, (1, 4)), torch.randint(1, VOCAB, (1, 3))
    packed = torch.cat([first, second, torch.zeros(1, 2, dtype=torch.long)], dim=1)
    segments = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 0, 0]])
    fused, _ = net.encode({"image": image, "text": packed, "text_mask": segments > 0, "text_segments": segments})
    alone, _ = net.encode({"image": image, "text": second, "text_segments": torch.ones(1, 3, dtype=torch.long)})
    shared = fused.shape[1] - packed.shape[1]
    assert_close(fused[:, shared + 4:shared + 7], alone[:, shared:], rtol=1e-5, atol=1e-5)
    assert_close(fused[:, :shared], alone[:, :shared], rtol=1e-5, atol=1e-5)  # the image never sees a question


def test_conv_stem_grid_and_shapes() -> None:
    assert conv_stem_grid(75) == 5 and conv_stem_grid(224) == 14 and conv_stem_grid(32) == 2
    tokens, mask = model("conv").image(torch.rand(2, 3, 32, 32))
    assert tokens.shape == (2, 4, 32) and mask.all()
    with pytest.raises(ValueError, match="image_stem"):
        preset("tiny", image_size=32, patch_size=8, image_stem="resnet")


def test_coordconv_stem_input_carries_pixel_coordinates() -> None:
    """``image_stem="coordconv"``: the first conv sees the image's channels plus x (left -1 to right 1) and y (top -1
    to bottom 1) of each pixel; the kept calibration inputs stay the plain images."""
    embedder = model("coordconv").image.train()
    assert embedder.stem[0].in_channels == 5 and model("conv").image.stem[0].in_channels == 3
    images = torch.rand(2, 3, 32, 32)
    stem_input = embedder._stem_input(images)
    assert stem_input.shape == (2, 5, 32, 32) and torch.equal(stem_input[:, :3], images)
    x, y = stem_input[0, 3], stem_input[0, 4]
    assert x[0, 0] == -1 and x[0, -1] == 1 and y[0, 0] == -1 and y[-1, 0] == 1
    assert torch.equal(x, x[:1].expand(32, -1)) and torch.equal(y, y[:, :1].expand(-1, 32))
    tokens, _ = embedder(images)
    assert tokens.shape == (2, 4, 32) and embedder.recent[-1].shape == (2, 3, 32, 32)


@pytest.mark.parametrize("stem", ["conv", "coordconv"])
def test_conv_stem_recalibrates_batchnorm_from_its_last_training_inputs(stem: str) -> None:
    """``recalibrate`` sets each BatchNorm's running mean / variance to the plain average over the kept training
    batches with the current weights; inputs seen without gradients or in eval mode are not kept."""
    torch.manual_seed(0)
    embedder = model(stem).image.train()
    assert embedder.recalibrate() == []  # nothing kept yet
    batches = [torch.rand(4, 3, 32, 32) * (i + 1) for i in range(3)]
    for images in batches:
        embedder(images)
    with torch.no_grad():
        embedder(torch.rand(4, 3, 32, 32))
    embedder.eval()
    embedder(torch.rand(4, 3, 32, 32))
    conv, norm = embedder.stem[0], embedder.stem[1]
    with torch.no_grad():
        features = [conv(embedder._stem_input(images)) for images in batches]
    buffers = embedder.recalibrate()
    assert len(buffers) == 8 and not embedder.training and norm.momentum == 0.1
    assert_close(norm.running_mean, torch.stack([f.mean(dim=(0, 2, 3)) for f in features]).mean(0))
    assert_close(norm.running_var, torch.stack([f.transpose(0, 1).flatten(1).var(1) for f in features]).mean(0))
    embedder.train()
    for _ in range(embedder.calibration_batches + 5):
        embedder(torch.rand(2, 3, 32, 32))
    assert len(embedder.recent) == embedder.calibration_batches


def test_fit_leaves_recalibrated_batchnorm_statistics() -> None:
    """The task module recalibrates at the last training step (here ``max_steps``, mid-epoch), so evaluation after
    fit uses statistics of the final weights: recalibrating again changes nothing."""
    config = dataclasses.replace(vqa.tiny(), model={"num_encoder_layers": 1, "image_stem": "conv"})
    data = vqa.DataModule(config)
    data.setup()
    module = vqa.Module(config, data.tokenizer.to_dict(), data.answers)
    trainer = pl.Trainer(max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, datamodule=data)
    norms = [m for m in module.net.image.stem if isinstance(m, torch.nn.BatchNorm2d)]
    after_fit = [b.clone() for norm in norms for b in (norm.running_mean, norm.running_var)]
    assert len(module.net.image.recent) == 3 and len(after_fit) == 8
    for saved, again in zip(after_fit, module.net.recalibrate(), strict=True):
        assert torch.equal(saved, again)


def test_recalibrated_statistics_are_averaged_over_processes() -> None:
    """Under DDP each process recomputes from its own inputs, then every buffer is the mean over processes
    (``strategy.reduce``, stubbed here: it reports the op and returns a marker)."""
    config = dataclasses.replace(vqa.tiny(), model={"num_encoder_layers": 1, "image_stem": "conv"})
    data = vqa.DataModule(config)
    data.setup()
    module = vqa.Module(config, data.tokenizer.to_dict(), data.answers).train()
    calls: list[str] = []

    def reduce(tensor: torch.Tensor, reduce_op: str) -> torch.Tensor:
        calls.append(reduce_op)
        return torch.full_like(tensor, 7.0)

    module._trainer = SimpleNamespace(world_size=2, strategy=SimpleNamespace(reduce=reduce))
    module.recalibrate_norms()
    assert calls == []  # nothing kept yet: no collective call
    module.net.embed("image", torch.rand(2, 3, config.image_size, config.image_size))
    module.recalibrate_norms()
    norms = [m for m in module.net.image.stem if isinstance(m, torch.nn.BatchNorm2d)]
    assert calls == ["mean"] * 8
    assert all(bool((b == 7.0).all()) for norm in norms for b in (norm.running_mean, norm.running_var))


def test_scene_sampler_warms_up_then_shuffles_every_epoch() -> None:
    """The first ``round(warmup_epochs × len)`` scenes of the run are warm-up scenes; an epoch replays after
    ``set_epoch`` (a resumed run) and a plain second pass is the next epoch."""
    sampler = vqa_scenes.SceneSampler(size=6, warmup_epochs=1.5, seed=3)
    first, second = list(sampler), list(sampler)
    assert [warm for _, warm in first + second] == [True] * 9 + [False] * 3
    assert sorted(i for i, _ in first) == sorted(i for i, _ in second) == list(range(6)) and first != second
    sampler.set_epoch(1)
    assert list(sampler) == second == sampler.order(1) and len(sampler) == 6


def test_pool_segments_means_each_question() -> None:
    tokens = torch.arange(12, dtype=torch.float).reshape(1, 6, 2)
    segments = torch.tensor([[1, 1, 2, 2, 2, 0]])
    pooled = vqa_scenes.pool_segments(tokens, segments, questions_per_row=3)
    assert_close(pooled, torch.tensor([[1.0, 2.0], [6.0, 7.0], [0.0, 0.0]]))


@pytest.mark.parametrize("question_tokens", ["words", "summary"])
def test_scene_batch_predicts_like_one_question_per_sequence(question_tokens: str) -> None:
    """The same weights answer every question identically whether scene-packed or one per sequence."""
    config = dataclasses.replace(vqa.tiny(), scene_batch=True, question_tokens=question_tokens,
                                 model={"num_encoder_layers": 2, "dropout": 0.0})
    data = vqa.DataModule(config)
    data.setup()
    module = vqa.Module(config, data.tokenizer.to_dict(), data.answers).eval()
    scenes = next(iter(data.test_dataloader()))
    test = data.splits["test"]
    single = data.collate([test[i] for i in range(len(test))])
    single["text_segments"] = single["text_mask"].long()  # one question per sequence, the same mask rule
    single["slot"], single["questions_per_row"] = torch.arange(len(single["id"])), 1
    with torch.no_grad():
        _, packed = module.answer(scenes)
        _, alone = module.answer(single)
    assert scenes["id"] == single["id"] and len(scenes["id"]) == 20 * len(data.splits["test"].images)
    assert packed == alone
    del single["text_segments"], single["slot"], single["questions_per_row"]  # the plain batch (no packing) too
    with torch.no_grad():
        assert module.answer(single)[1] == alone


@pytest.mark.parametrize("kernel", [0, 3])
def test_summary_question_is_one_token_of_its_words(kernel: int) -> None:
    """question_tokens="summary": a question is the mean of its embedded words, so its answer changes with any of
    its words, and with their order only when ``text_conv_kernel`` mixes neighbours (else it is a bag of words)."""
    config = dataclasses.replace(vqa.tiny(), question_tokens="summary",
                                 model={"num_encoder_layers": 1, "text_conv_kernel": kernel})
    data = vqa.DataModule(config)
    data.setup()
    module = vqa.Module(config, data.tokenizer.to_dict(), data.answers).eval()
    batch = data.collate([data.splits["test"][i] for i in range(4)])
    swapped, replaced = dict(batch, text=batch["text"].clone()), dict(batch, text=batch["text"].clone())
    swapped["text"][:, [1, 2]] = batch["text"][:, [2, 1]]
    replaced["text"][:, 2] = batch["text"][:, 1]
    with torch.no_grad():
        logits, moved, other = (module.summary_logits(b) for b in (batch, swapped, replaced))
    assert logits.shape == (4, len(data.answers))
    assert not torch.allclose(logits, other)
    assert torch.allclose(logits, moved, atol=1e-6) == (kernel == 0)
    with pytest.raises(ValueError, match="question_tokens"):
        vqa.Config(question_tokens="summary", answer_mode="generate")


@pytest.mark.parametrize("task", ["captioning", "med_report", "vqa"])
def test_majority_reference_row_is_made_by_the_harness(task: str, records_dir: Path, tmp_path: Path) -> None:
    record = run_benchmark(RunOptions(task=task, model="majority", recipe="smoke", records_dir=records_dir,
                                      runs_dir=tmp_path / "runs", progress_bar=False))
    rows = read_predictions(records_dir / record["predictions"])
    assert record["model"] == "majority" and record["num_parameters"] == 0 and record["steps"] == 0
    assert len({r["prediction"] for r in rows}) == 1 or task == "vqa"  # vqa: one answer per question text
    assert TASKS[task].score_predictions(rows) == record["metrics"]


def test_majority_is_refused_where_a_task_has_none(records_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="majority"):
        run_benchmark(RunOptions(task="sentiment", model="majority", recipe="smoke", records_dir=records_dir,
                                 runs_dir=tmp_path / "runs", progress_bar=False))
    assert not list(records_dir.glob("*.jsonl"))

"""Fine-tuning from local tower checkpoints: the image patch embedding from a timm ViT file, the audio stem and
encoder from a whisper file (both frozen here, so the fine-tuned checkpoint still holds exactly their tensors)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from whisper.model import ModelDimensions, Whisper

from benchmarks.cli import main
from tasks.core.checkpoints import load_checkpoint
from tests.finetune_data import write_captions, write_speech

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false", "--trainer.max_steps", "2"]


def test_image_tower_from_a_timm_checkpoint(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    timm_state = {"patch_embed.proj.weight": torch.randn(64, 3, 8, 8, generator=generator),
                  "patch_embed.proj.bias": torch.randn(64, generator=generator),
                  "pos_embed": torch.randn(1, 1 + 16, 64, generator=generator),  # with the class-token position
                  "cls_token": torch.zeros(1, 1, 64)}
    torch.save(timm_state, tmp_path / "vit.pth")
    run = tmp_path / "run"
    data = write_captions(tmp_path / "d")
    assert main(["fit", "--config", str(CONFIGS / "captioning.yaml"), "--data.path", str(data),
                 "--model.backbone", "{width: 64}", "--model.options", "{image_size: 32, patch_size: 8}",
                 "--model.image_checkpoint", str(tmp_path / "vit.pth"), "--model.freeze", "[image]",
                 "--trainer.default_root_dir", str(run), *QUIET]) == 0
    state = load_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]
    torch.testing.assert_close(state["net.image.patch_embed.proj.weight"], timm_state["patch_embed.proj.weight"])
    torch.testing.assert_close(state["net.image.pos_embed"], timm_state["pos_embed"][:, 1:])


def test_audio_side_from_a_whisper_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dims = ModelDimensions(n_mels=80, n_audio_ctx=250, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
                           n_vocab=300, n_text_ctx=24, n_text_state=32, n_text_head=2, n_text_layer=1)
    torch.manual_seed(0)
    whisper = Whisper(dims)
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": whisper.state_dict()}, tmp_path / "w.pt")
    options = {"feature_norm": "none", "max_target_tokens": 24, "decoding": {"num_beams": 1, "max_new_tokens": 8}}
    run = tmp_path / "run"
    assert main(["fit", "--config", str(CONFIGS / "asr.yaml"), "--data.path", str(write_speech(tmp_path / "d")),
                 "--model.audio_checkpoint", str(tmp_path / "w.pt"), "--model.options", json.dumps(options),
                 "--model.freeze", "[audio]", "--trainer.default_root_dir", str(run), *QUIET]) == 0
    assert "initialised" in capsys.readouterr().out
    state = load_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]
    torch.testing.assert_close(state["net.audio.conv1.weight"], whisper.encoder.conv1.weight.detach())
    torch.testing.assert_close(state["net.audio.conv2.bias"], whisper.encoder.conv2.bias.detach())

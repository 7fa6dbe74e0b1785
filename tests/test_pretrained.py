"""``--model.init_from`` with pretrained weights: tiny whisper and timm files in their official formats, built here
(no network), loaded through the task ``Model`` classes; names offline give a one-line error."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer
from whisper.model import ModelDimensions, Whisper

import zoo
from tasks import captioning
from tasks.asr.finetune import Model as ASRModel
from tasks.captioning.finetune import Model as CaptioningModel
from tasks.core import pretrained
from tasks.sentiment.finetune import Model as SentimentModel
from zoo.embedders import POS_EMBED_MODE

CHAR = zoo.ByteTokenizer().to_dict()
ASR_OPTIONS = {"decoding": {"num_beams": 1, "max_new_tokens": 8}}


def caption_info() -> str:
    tokenizer = captioning.build_tokenizer("word", ["a red square", "one blue shape"]).to_dict()
    return json.dumps({"task": "captioning", "tokenizer": tokenizer})


def asr_info(stats: bool = True) -> str:
    """As the training data gives it: feature statistics with the preset's feature_norm train."""
    return json.dumps({"task": "asr", "tokenizer": CHAR,
                       "feature_stats": {"mean": [0.0] * 80, "std": [1.0] * 80} if stats else None})


def vit(embed_dim: int = 32, depth: int = 2, img_size: int = 32, patch_size: int = 8, heads: int = 2,
        **kwargs: object) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = VisionTransformer(img_size=img_size, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                              num_heads=heads, num_classes=10, **kwargs)
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def whisper_file(path: Path, dims: ModelDimensions, bare: bool = False) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = Whisper(dims)
    for name, param in model.named_parameters():  # whisper leaves some tensors empty: fill every one
        param.data = torch.randn_like(param) * 0.1
    state = model.state_dict()
    torch.save(state if bare else {"dims": dataclasses.asdict(dims), "model_state_dict": state}, path)
    return state


def asr_dims(model: ASRModel, **changes: int) -> ModelDimensions:
    from tasks.asr.whisper_reference import dimensions

    return dataclasses.replace(dimensions(model.model_config), **changes)


# ------------------------------------------------------------------ timm
def test_timm_safetensors_loads_the_image_tower_and_the_encoder(tmp_path: Path) -> None:
    state = vit(depth=2)  # the smoke model: width 32, 2 heads, 1 encoder block, 32-px images in 8-px patches
    save_file(state, str(tmp_path / "vit.safetensors"))
    model = CaptioningModel(init_from=str(tmp_path / "vit.safetensors"), data_info=caption_info())
    ours, report = model.state_dict(), model.init_report
    assert report["kind"] == "timm"
    for key in ("patch_embed.proj.weight", "patch_embed.proj.bias"):
        assert torch.equal(ours[f"net.image.{key}"], state[key])
    assert torch.equal(ours["net.image.pos_embed"], state["pos_embed"][:, 1:])  # class-token position dropped
    pairs = {"norm1": "attn_norm", "attn.qkv": "attn.qkv", "attn.proj": "attn.proj", "norm2": "mlp_norm",
             "mlp.fc1": "mlp.fc", "mlp.fc2": "mlp.proj"}
    for theirs, mine in pairs.items():
        for p in ("weight", "bias"):
            assert torch.equal(ours[f"net.encoder.blocks.0.{mine}.{p}"], state[f"blocks.0.{theirs}.{p}"])
            assert report["loaded"][f"net.encoder.blocks.0.{mine}.{p}"] == f"blocks.0.{theirs}.{p}"
    assert torch.equal(ours["net.encoder.norm.weight"], state["norm.weight"])
    assert not ours["net.encoder.type_embedding.weight"][0].any()  # image type embedding zeroed
    assert report["not_used"]["blocks.1.attn.qkv.weight"].startswith("no counterpart (this encoder has 1 blocks)")
    assert report["not_used"]["cls_token"] == "no counterpart"
    assert report["not_used"]["head.weight"] == "no counterpart"


def test_timm_pth_with_another_grid_resizes_positions_and_reports_misfits(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = vit(img_size=16, depth=1, mlp_ratio=2.0)  # a 2x2 grid, a narrower MLP
    torch.save({"model": state}, tmp_path / "vit.pth")
    caplog.set_level(logging.INFO)
    model = CaptioningModel(init_from=str(tmp_path / "vit.pth"), data_info=caption_info())
    grid = state["pos_embed"][:, 1:].reshape(1, 2, 2, 32).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(4, 4), **POS_EMBED_MODE).permute(0, 2, 3, 1).reshape(1, 16, 32)
    torch.testing.assert_close(model.net.image.pos_embed.detach(), expected, rtol=0, atol=0)
    report = model.init_report
    assert "resized to 4x4" in report["loaded"]["net.image.pos_embed"]
    assert report["not_used"]["blocks.0.mlp.fc1.weight"].startswith("shape (64, 32), ours encoder.blocks.0.mlp.fc")
    assert "net.encoder.blocks.0.attn.qkv.weight" in report["loaded"]
    assert "not used blocks.0.mlp.fc1.weight: shape (64, 32)" in caplog.text
    assert "net.image.pos_embed <- pos_embed" in caplog.text


def test_timm_layer_scale_is_folded_and_a_missing_qkv_bias_zeroed(tmp_path: Path) -> None:
    state = vit(depth=1, init_values=0.5, qkv_bias=False)
    state["blocks.0.ls1.gamma"] = torch.rand(32)
    save_file(state, str(tmp_path / "vit.safetensors"))
    ours = CaptioningModel(init_from=str(tmp_path / "vit.safetensors"), data_info=caption_info()).state_dict()
    torch.testing.assert_close(ours["net.encoder.blocks.0.attn.proj.weight"],
                               state["blocks.0.attn.proj.weight"] * state["blocks.0.ls1.gamma"][:, None])
    assert not ours["net.encoder.blocks.0.attn.qkv.bias"].any()


def test_timm_weights_need_a_vit_image_embedder(tmp_path: Path) -> None:
    save_file(vit(depth=1), str(tmp_path / "vit.safetensors"))
    info = json.dumps({"task": "sentiment", "tokenizer": CHAR, "labels": ["neg", "pos"]})
    with pytest.raises(ValueError, match="has no ViT image embedder"):
        SentimentModel(init_from=str(tmp_path / "vit.safetensors"), data_info=info)
    with pytest.raises(ValueError, match="no tensor fits this model"):
        save_file(vit(embed_dim=48, depth=1), str(tmp_path / "wide.safetensors"))
        CaptioningModel(init_from=str(tmp_path / "wide.safetensors"), data_info=caption_info())


def test_image_checkpoint_loads_the_image_tower_only(tmp_path: Path) -> None:
    state = vit(depth=1)
    torch.save(state, tmp_path / "vit.pth")
    model = CaptioningModel(image_checkpoint=str(tmp_path / "vit.pth"), data_info=caption_info())
    report = model.init_report["image_checkpoint"]
    assert set(report["loaded"]) == {"net.image.patch_embed.proj.weight", "net.image.patch_embed.proj.bias",
                                     "net.image.pos_embed"}
    assert report["not_used"]["blocks.0.attn.qkv.weight"] == "image tower only (model.image_checkpoint)"


# ------------------------------------------------------------------ whisper
def test_whisper_arch_loads_every_tensor(tmp_path: Path) -> None:
    options = {**ASR_OPTIONS, "arch": "whisper"}
    plain = ASRModel(options={**options, "feature_norm": "none"}, data_info=asr_info(False))
    state = whisper_file(tmp_path / "w.pt", asr_dims(plain))
    model = ASRModel(options=options, init_from=str(tmp_path / "w.pt"), data_info=asr_info())
    assert model.config.feature_norm == "none"
    for key, value in model.net.whisper.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert model.init_report["not_used"] == {} and len(model.init_report["loaded"]) == len(state)
    assert model.hparams["options"]["feature_norm"] == "none"
    assert json.loads(model.hparams["data_info"])["feature_stats"] is None


def test_whisper_arch_is_built_at_the_files_dimensions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    options = {**ASR_OPTIONS, "arch": "whisper", "feature_norm": "none"}
    plain = ASRModel(options=options, data_info=asr_info(False))
    dims = asr_dims(plain, n_audio_state=48, n_text_state=48, n_audio_head=3, n_text_head=3, n_audio_layer=2,
                    n_text_layer=2, n_text_ctx=64, n_audio_ctx=plain.net.num_frames // 2 + 10)
    state = whisper_file(tmp_path / "w.pt", dims, bare=False)
    caplog.set_level(logging.INFO)
    model = ASRModel(options=options, init_from=str(tmp_path / "w.pt"), data_info=asr_info())
    assert "built at the dimensions of" in caplog.text and "configured: width 32" in caplog.text
    assert model.model_config.width == 48 and model.hparams["backbone"]["num_encoder_layers"] == 2
    ours = model.net.whisper.state_dict()
    for key, value in state.items():  # positional tables cut to our lengths
        assert torch.equal(ours[key], value[: ours[key].shape[0]] if "positional" in key else value), key
    assert model.init_report["loaded"]["net.whisper.decoder.positional_embedding"].endswith("(first 24 positions)")


def test_whisper_into_the_zoo_backbone_loads_the_audio_side(tmp_path: Path) -> None:
    plain = ASRModel(options={**ASR_OPTIONS, "feature_norm": "none"}, data_info=asr_info(False))
    state = whisper_file(tmp_path / "w.pt", asr_dims(plain, n_audio_layer=2))
    model = ASRModel(options=ASR_OPTIONS, init_from=str(tmp_path / "w.pt"), data_info=asr_info())
    ours, report = model.state_dict(), model.init_report
    assert torch.equal(ours["net.audio.conv1.weight"], state["encoder.conv1.weight"])
    assert torch.equal(ours["net.encoder.blocks.0.mlp.fc.weight"], state["encoder.blocks.0.mlp.0.weight"])
    qkv = torch.cat([state[f"encoder.blocks.0.attn.{n}.weight"] for n in ("query", "key", "value")])
    assert torch.equal(ours["net.encoder.blocks.0.attn.qkv.weight"], qkv)
    assert report["not_used"]["encoder.blocks.1.mlp.0.weight"].startswith("no counterpart (this encoder has 1")
    assert report["not_used"]["decoder.token_embedding.weight"].startswith("the zoo decoder is not whisper's")
    with pytest.raises(ValueError, match="whisper has 4 audio heads .* the zoo model 2"):
        whisper_file(tmp_path / "h.pt", asr_dims(plain, n_audio_head=4))
        ASRModel(options=ASR_OPTIONS, init_from=str(tmp_path / "h.pt"), data_info=asr_info())


def test_whisper_with_feature_norm_train_is_a_one_line_error(tmp_path: Path) -> None:
    plain = ASRModel(options={**ASR_OPTIONS, "feature_norm": "none"}, data_info=asr_info(False))
    whisper_file(tmp_path / "w.pt", asr_dims(plain), bare=True)  # a bare state dict is recognised too
    with pytest.raises(ValueError, match="drop options feature_norm: train"):
        ASRModel(options={**ASR_OPTIONS, "feature_norm": "train"}, init_from=str(tmp_path / "w.pt"),
                 data_info=asr_info())
    with pytest.raises(ValueError, match="whisper weights fit the asr task, not captioning"):
        CaptioningModel(init_from=str(tmp_path / "w.pt"), data_info=caption_info())


# ------------------------------------------------------------------ names offline, dispatch
def test_names_offline_are_one_line_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import urllib.error

    import whisper

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(whisper, "_download", no_network)
    monkeypatch.setattr(timm, "create_model", no_network)
    for name, hint in (("whisper:tiny.en", "tiny.en.pt"), ("timm:vit_tiny_patch16_224", "model.safetensors")):
        with pytest.raises(ValueError) as error:
            CaptioningModel(init_from=name, data_info=caption_info())
        message = str(error.value)
        assert "\n" not in message and message.startswith(f"{name}: cannot download (offline") and hint in message
        assert "--model.init_from" in message
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # whisper is not tried at all then
    monkeypatch.setattr(whisper, "_download", lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(ValueError, match=r"whisper:tiny.en: cannot download \(offline: HF_HUB_OFFLINE=1"):
        pretrained.resolve("whisper:tiny.en")


def test_a_cached_whisper_name_loads_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import whisper

    plain = ASRModel(options={**ASR_OPTIONS, "feature_norm": "none"}, data_info=asr_info(False))
    (tmp_path / "whisper").mkdir()
    state = whisper_file(tmp_path / "whisper" / "tiny.en.pt", asr_dims(plain))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(whisper, "_download", lambda url, root, in_memory: str(Path(root) / Path(url).name))
    model = ASRModel(options=ASR_OPTIONS, init_from="whisper:tiny.en", data_info=asr_info())
    assert torch.equal(model.state_dict()["net.audio.conv2.weight"], state["encoder.conv2.weight"])


def test_dispatch_by_content_and_bad_files(tmp_path: Path) -> None:
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not a zoo checkpoint, a whisper checkpoint"):
        pretrained.resolve(str(tmp_path / "other.pt"))
    with pytest.raises(ValueError, match="missing.pt: file not found"):
        pretrained.resolve(str(tmp_path / "missing.pt"))
    save_file({"w": torch.zeros(1)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match="without timm ViT keys"):
        pretrained.resolve(str(tmp_path / "x.safetensors"))


def test_pos_embed_resize_matches_interpolate() -> None:
    grid = torch.randn(1, 9, 8)
    image = grid.reshape(1, 3, 3, 8).permute(0, 3, 1, 2)
    expected = F.interpolate(image, size=(5, 5), mode="bicubic", align_corners=False, antialias=True)
    from zoo.embedders import resize_pos_embed

    assert torch.equal(resize_pos_embed(grid, 3, 5), expected.permute(0, 2, 3, 1).reshape(1, 25, 8))
    assert math.isqrt(25) == 5


def test_fit_from_a_local_timm_file(tmp_path: Path) -> None:
    from benchmarks.lightning_cli import main
    from tasks.core.checkpoints import load_checkpoint
    from tests.finetune_data import write_captions

    state = vit(depth=1, img_size=16)  # the smoke preset: width 32, 2 heads, 4x4 patches (resized from 2x2)
    save_file(state, str(tmp_path / "vit.safetensors"))
    run = tmp_path / "run"
    data = write_captions(tmp_path / "d")
    assert main(["fit", "--task", "captioning", "--data.path", str(data),
                 "--model.init_from", str(tmp_path / "vit.safetensors"), "--model.freeze", "[image]",
                 "--model.options", "{image_size: 32, patch_size: 8}", "--trainer.max_steps", "1",
                 "--trainer.enable_progress_bar", "false", "--trainer.logger", "false",
                 "--trainer.default_root_dir", str(run)]) == 0
    saved = load_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]
    assert torch.equal(saved["net.image.patch_embed.proj.weight"], state["patch_embed.proj.weight"])

"""Behaviour tests of the shared backbone `zoo` (tiny sizes, CPU, a few seconds)."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from zoo import (PRESETS, ByteTokenizer, ModelConfig, MultimodalModel, WhisperBPETokenizer,
                 WordTokenizer, config_from_dict, config_to_dict, count_parameters, preset,
                 tokenizer_from_dict)
from zoo.embedders import ImageEmbedder, log_mel
from zoo.generation import beam_search, greedy_search
from zoo.layers import attention_mask

VOCAB, BOS, EOS, PAD = 50, 1, 2, 0
ALL = ("image", "audio", "text")


def tiny_config(**overrides) -> ModelConfig:
    return preset("tiny", vocab_size=VOCAB, image_size=16, patch_size=8, num_mel_bins=8,
                  num_classes=3, max_audio_frames=64, max_text_positions=32, **overrides)


def make_batch(modalities=ALL, batch: int = 2, frames: int = 13, text_len: int = 6) -> dict:
    g = torch.Generator().manual_seed(1)
    out = {}
    if "image" in modalities:
        out["image"] = torch.randn(batch, 3, 16, 16, generator=g)
    if "audio" in modalities:
        out["audio"] = torch.randn(batch, 8, frames, generator=g)
        out["audio_mask"] = torch.ones(batch, frames, dtype=torch.bool)
    if "text" in modalities:
        out["text"] = torch.randint(3, VOCAB, (batch, text_len), generator=g)
        out["text_mask"] = torch.ones(batch, text_len, dtype=torch.bool)
    return out


@pytest.fixture
def model() -> MultimodalModel:
    torch.manual_seed(0)
    return MultimodalModel(tiny_config()).eval()


@pytest.fixture
def sharp_model(model) -> MultimodalModel:
    """Larger weights than the 0.02 init, so that generation is not degenerate."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.3)
    return model


@pytest.fixture
def batch() -> dict:
    return make_batch()


def append_padding(b: dict, modality: str, extra: int) -> dict:
    """Append `extra` random (non-zero) text tokens or audio frames marked as padding."""
    out, data, mask = dict(b), b[modality], b[f"{modality}_mask"]
    if modality == "text":
        noise = torch.randint(3, VOCAB, (data.shape[0], extra))  # (B, extra)
    else:
        noise = torch.randn(*data.shape[:2], extra)  # (B, M, extra)
    out[modality] = torch.cat([data, noise], dim=-1)
    padding = torch.zeros(mask.shape[0], extra, dtype=torch.bool)
    out[f"{modality}_mask"] = torch.cat([mask, padding], dim=1)
    return out


# --------------------------------------------------------------------------- model


def test_decoder_is_causal(model, batch):
    target = torch.randint(3, VOCAB, (2, 6))
    changed = target.clone()
    changed[:, 3] = (target[:, 3] + 1) % VOCAB
    before = model.decoder_logits(batch, target)
    after = model.decoder_logits(batch, changed)
    assert_close(after[:, :3], before[:, :3])
    assert not torch.allclose(after[:, 3], before[:, 3])


@pytest.mark.parametrize("modality", ["text", "audio"])
@pytest.mark.parametrize("extra", [1, 4])
def test_padding_changes_no_real_output(model, batch, modality, extra):
    padded = append_padding(batch, modality, extra)
    tokens, mask = model.encode(batch)
    tokens_p, mask_p = model.encode(padded)
    assert mask_p.sum() == mask.sum()
    assert_close(tokens_p[mask_p], tokens[mask])  # every real position, conv edge included
    assert_close(model.classify(padded), model.classify(batch))
    target = torch.randint(3, VOCAB, (2, 5))
    assert_close(model.decoder_logits(padded, target), model.decoder_logits(batch, target))


@pytest.mark.parametrize("kernel", [3, 5])
def test_text_conv_sees_no_padding(batch, kernel):
    torch.manual_seed(0)
    conv_model = MultimodalModel(tiny_config(text_conv_kernel=kernel)).eval()
    padded = append_padding(batch, "text", 3)
    tokens, mask = conv_model.encode(batch)
    tokens_p, mask_p = conv_model.encode(padded)
    assert_close(tokens_p[mask_p], tokens[mask])
    changed = dict(batch, text=batch["text"].clone())
    changed["text"][:, 2] = (batch["text"][:, 2] + 1) % VOCAB  # a neighbour within the kernel
    text_only = {"text": changed["text"], "text_mask": changed["text_mask"]}
    base = conv_model.text(batch["text"], batch["text_mask"])[0]
    moved = conv_model.text(text_only["text"], text_only["text_mask"])[0]
    assert not torch.allclose(moved[:, 2 - kernel // 2], base[:, 2 - kernel // 2])  # the conv mixes neighbours


@pytest.mark.parametrize(("stride", "positions"), [(2, 5), (4, 3)])  # ceil(9 / stride) real positions
def test_audio_padding_within_batch_matches_unpadded_row(stride, positions):
    torch.manual_seed(0)
    model = MultimodalModel(tiny_config(audio_stride=stride)).eval()
    full = make_batch(("audio",), frames=16)
    full["audio_mask"][1, 9:] = False
    short = {"audio": full["audio"][1:, :, :9], "audio_mask": full["audio_mask"][1:, :9]}
    tokens, mask = model.encode(full)
    tokens_s, mask_s = model.encode(short)
    assert mask[1].sum() == mask_s.sum() == positions and tokens.shape[1] == -(-16 // stride)
    assert_close(tokens[1][mask[1]], tokens_s[0])


def test_audio_stride_is_validated():
    with pytest.raises(ValueError, match="audio_stride"):
        tiny_config(audio_stride=3)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_cached_generation_equals_uncached(sharp_model, batch, num_beams):
    kwargs = dict(bos_id=BOS, eos_id=EOS, pad_id=PAD, max_new_tokens=8, num_beams=num_beams)
    cached = sharp_model.generate(batch, use_cache=True, **kwargs)
    uncached = sharp_model.generate(batch, use_cache=False, **kwargs)
    assert cached.shape == (2, 8)
    assert torch.equal(cached, uncached)


def test_beam_of_one_equals_greedy_and_stops_at_eos(sharp_model, batch):
    memory, mask = sharp_model.encode(batch)
    free = greedy_search(sharp_model.decoder, memory, mask, BOS, -1, PAD, 8)
    eos = int(free[0, 2])  # make the third token of row 0 the end token
    greedy = greedy_search(sharp_model.decoder, memory, mask, BOS, eos, PAD, 8)
    beam = beam_search(sharp_model.decoder, memory, mask, BOS, eos, PAD, 8, num_beams=1)
    assert torch.equal(beam, greedy)
    stop = int((greedy[0] == eos).nonzero()[0])
    assert stop <= 2 and torch.equal(greedy[0, :stop], free[0, :stop])
    assert (greedy[0, stop + 1:] == PAD).all()


def brute_force_best(decoder, memory, mask, eos: int, length_penalty: float) -> list:
    """Best hypothesis of at most 2 tokens per row (one ending at eos stops there)."""
    prefix = torch.stack([torch.full((VOCAB,), BOS), torch.arange(VOCAB)], dim=1)  # (V, 2)
    best = []
    for row in range(memory.shape[0]):
        logits = decoder(prefix, memory[row:row + 1].expand(VOCAB, -1, -1),
                         mask[row:row + 1].expand(VOCAB, -1))  # (V, 2, V)
        logp = F.log_softmax(logits, dim=-1)
        first = logp[0, 0]  # (V,) log-prob of each first token
        pair = (first[:, None] + logp[:, 1]) / 2 ** length_penalty  # (V first, V second)
        pair[eos] = float("-inf")  # a hypothesis ending at eos does not continue
        top = int(pair.argmax())
        best.append([eos, PAD] if first[eos] > pair.max() else [top // VOCAB, top % VOCAB])
    return best


def test_full_width_beam_search_is_exact(sharp_model):
    """With num_beams = V and 2 steps nothing is pruned, so beam search must return
    the brute-force best, with finished hypotheses and the length penalty."""
    memory, mask = sharp_model.encode(make_batch(batch=4))
    decoder = sharp_model.decoder
    greedy = greedy_search(decoder, memory, mask, BOS, -1, PAD, 2)
    eos = int(greedy[0, 0])  # a likely first token, so stopping early competes
    answers = {}
    for penalty in (0.0, 1.0):
        beam = beam_search(decoder, memory, mask, BOS, eos, PAD, 2, num_beams=VOCAB,
                           length_penalty=penalty)
        answers[penalty] = brute_force_best(decoder, memory, mask, eos, penalty)
        assert beam.tolist() == answers[penalty]
    # The cases above must exercise the penalty and beat greedy somewhere.
    assert answers[0.0] != answers[1.0]
    assert any(a != g for a, g in zip(answers[1.0], greedy.tolist()))


def test_chunked_decoding_with_cache_equals_full_pass(model, batch):
    memory, mask = model.encode(batch)
    target = torch.randint(3, VOCAB, (2, 7))
    cache = model.decoder.new_cache()
    chunks = [model.decoder(part, memory, mask, cache) for part in target.split([3, 1, 3], 1)]
    assert cache.length == 7
    assert_close(torch.cat(chunks, dim=1), model.decoder(target, memory, mask))


@pytest.mark.parametrize("tie", [False, True])
def test_every_parameter_gets_a_gradient(batch, tie):
    torch.manual_seed(0)
    model = MultimodalModel(tiny_config(tie_text_embeddings=tie)).train()
    assert (model.text.token.weight is model.decoder.token.weight) == tie
    target = torch.randint(3, VOCAB, (2, 6))
    logits = model.decoder_logits(batch, target[:, :-1])
    lm_loss = F.cross_entropy(logits.reshape(-1, VOCAB), target[:, 1:].reshape(-1))
    cls_loss = F.cross_entropy(model.classify(batch), torch.tensor([0, 2]))
    (lm_loss + cls_loss).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


@pytest.mark.parametrize("modalities", [("image",), ("audio",), ("text",), ALL])
def test_modalities_alone_and_together(model, modalities):
    b = make_batch(modalities, batch=3, frames=13, text_len=5)
    expected = {"image": 4, "audio": 7, "text": 5}  # 2x2 patches, ceil(13/2), T
    tokens, mask = model.encode(b)
    length = sum(expected[m] for m in modalities)
    assert tokens.shape == (3, length, 32) and mask.shape == (3, length)
    assert model.classify(b).shape == (3, 3)
    out = model.generate(b, BOS, EOS, PAD, max_new_tokens=4, num_beams=2)
    assert out.shape[0] == 3 and 1 <= out.shape[1] <= 4 and out.dtype == torch.long


def test_only_configured_parts_are_built():
    text_only = MultimodalModel(preset("tiny", vocab_size=VOCAB))
    with pytest.raises(ValueError, match="image_size"):
        text_only.encode(make_batch(("image",)))
    with pytest.raises(ValueError, match="at least one"):
        text_only.encode({"label": torch.zeros(2)})
    image_only = MultimodalModel(preset("tiny", image_size=16))  # decoder layers, no vocab
    assert image_only.text is None and image_only.decoder is None and image_only.head is None
    with pytest.raises(ValueError, match="decoder"):
        image_only.generate(make_batch(("image",)), BOS, EOS, PAD)


@pytest.mark.parametrize("others", [("image",), ("audio",), ()])
def test_fully_padded_text_row_gives_no_nan(model, others):
    b = make_batch(others + ("text",))
    b["text_mask"][0] = False
    tokens, _ = model.encode(b)
    target = torch.randint(3, VOCAB, (2, 4))
    assert torch.isfinite(tokens).all()
    assert torch.isfinite(model.classify(b)).all()
    assert torch.isfinite(model.decoder_logits(b, target)).all()
    assert model.generate(b, BOS, EOS, PAD, max_new_tokens=3).shape[0] == 2


def test_attention_mask_never_hides_every_key():
    key_mask = torch.tensor([[False, False, False], [True, True, False]])
    mask = attention_mask(key_mask, causal=False, num_queries=2, num_keys=3,
                          device=torch.device("cpu"))  # (B, 1, 1, Tk) broadcast
    assert mask.any(dim=-1).all()  # a fully padded row may see all keys (no NaN)
    assert mask[1, 0, 0].tolist() == [True, True, False]  # real rows stay masked


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("field, value", [
    ("width", 30), ("num_heads", 0), ("num_encoder_layers", 0), ("dropout", 1.5),
    ("vocab_size", -1), ("image_size", 20), ("pool", "max"), ("mlp_ratio", 0.0),
    ("text_conv_kernel", 4), ("init", "kaiming"),
])
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        preset("small", **{field: value})


@pytest.mark.parametrize("init", ["normal", "xavier"])
def test_init_sets_linear_weights_and_keeps_embeddings_small(init):
    """``init`` chooses the Linear weights' distribution: N(0, 0.02) or Xavier-uniform (bound sqrt(6/(in+out)));
    embeddings stay N(0, 0.02) and biases zero either way."""
    torch.manual_seed(0)
    net = MultimodalModel(preset("small", width=128, vocab_size=500, num_classes=4, init=init))
    qkv = net.encoder.blocks[0].attn.qkv
    fan_out, fan_in = qkv.weight.shape
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    if init == "xavier":
        assert qkv.weight.abs().max() <= bound
        assert qkv.weight.std().item() == pytest.approx(bound / math.sqrt(3.0), rel=0.02)
    else:
        assert qkv.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert net.text.token.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert not qkv.bias.any()


def test_unknown_preset_and_fields_raise():
    with pytest.raises(ValueError, match="tiny"):
        preset("huge")
    with pytest.raises(ValueError, match="widht"):
        preset("tiny", widht=8)
    with pytest.raises(ValueError, match="colour"):
        config_from_dict({"colour": 1})


def test_config_dict_round_trip_through_json():
    cfg = tiny_config(pool="first")
    assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg
    assert all(p.vocab_size == p.image_size == p.num_classes == 0 for p in PRESETS.values())


def test_checkpoint_round_trip_gives_identical_outputs(model, batch):
    buffer = io.BytesIO()
    torch.save(model.checkpoint(), buffer)
    buffer.seek(0)
    torch.manual_seed(123)  # a different init, overwritten by the checkpoint
    restored = MultimodalModel.from_checkpoint(torch.load(buffer, weights_only=True)).eval()
    target = torch.randint(3, VOCAB, (2, 5))
    assert_close(restored.classify(batch), model.classify(batch), rtol=0, atol=0)
    assert_close(restored.decoder_logits(batch, target), model.decoder_logits(batch, target))


@pytest.mark.parametrize("tie", [False, True])
def test_count_parameters_matches_built_model(tie):
    cfg = tiny_config(tie_text_embeddings=tie)
    assert count_parameters(cfg) == MultimodalModel(cfg).num_parameters()
    shared = cfg.vocab_size * cfg.width
    assert count_parameters(tiny_config()) - count_parameters(cfg) == shared * tie


# --------------------------------------------------------------------------- tokenizers

TOKENIZERS = {
    "byte": ByteTokenizer,
    "word": lambda: WordTokenizer.train(["the cat sat", "the dog didn't sit!"]),
    "whisper_bpe": WhisperBPETokenizer,
}


def test_byte_tokenizer_round_trip():
    tok = ByteTokenizer()
    text = "Grüße, 世界! ✓"
    ids = tok.encode(text)
    assert tok.vocab_size == 260 and min(ids) >= 4 and len(ids) == len(text.encode())
    assert tok.decode([tok.bos_id] + ids + [tok.eos_id, 99, tok.pad_id]) == text


def test_word_tokenizer_vocabulary_and_round_trip():
    tok = WordTokenizer.train(["The cat sat.", "the dog didn't sit!", "a cat"], min_freq=1)
    assert tok.vocab[4:7] == ["cat", "the", "!"]  # by frequency, then alphabetically
    assert tok.decode(tok.encode("The dog didn't sit!")) == "the dog didn't sit !"
    assert tok.encode("zebra")[0] == tok.unk_id
    assert WordTokenizer.train(["a a b"], min_freq=2).vocab[4:] == ["a"]


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
def test_tokenizer_dict_round_trip(kind):
    tok = TOKENIZERS[kind]()
    rebuilt = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert type(rebuilt) is type(tok) and tok.to_dict()["kind"] == kind
    assert (rebuilt.pad_id, rebuilt.bos_id, rebuilt.eos_id, rebuilt.vocab_size) == (
        tok.pad_id, tok.bos_id, tok.eos_id, tok.vocab_size)
    assert rebuilt.encode("the cat didn't sit") == tok.encode("the cat didn't sit")


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
def test_batch_encode_pads_and_keeps_eos(kind):
    tok = TOKENIZERS[kind]()
    texts = ["the cat sat the dog sat the cat", "the", ""]
    ids, mask = tok.batch_encode(texts, max_length=5, add_bos=True, add_eos=True)
    lengths = [min(len(tok.encode(t)) + 2, 5) for t in texts]
    assert ids.shape == mask.shape == (3, max(lengths)) and ids.dtype == torch.long
    assert mask.sum(dim=1).tolist() == lengths
    assert (ids[~mask] == tok.pad_id).all() and (ids[:, 0] == tok.bos_id).all()
    assert [int(ids[i, n - 1]) for i, n in enumerate(lengths)] == [tok.eos_id] * 3
    plain, plain_mask = tok.batch_encode(["the"], max_length=5)
    assert plain.tolist() == [tok.encode("the")] and plain_mask.all()


# --------------------------------------------------------------------------- embedders


def test_load_timm_checkpoint_maps_patch_embed(tmp_path):
    embedder = ImageEmbedder(16, 8, 3, 32, dropout=0.0)
    state = {"patch_embed.proj.weight": torch.randn(32, 3, 8, 8),
             "patch_embed.proj.bias": torch.randn(32),
             "pos_embed": torch.randn(1, 5, 32), "cls_token": torch.randn(1, 1, 32)}
    torch.save(state, tmp_path / "vit.pth")
    report = embedder.load_timm_checkpoint(tmp_path / "vit.pth")
    assert report == {"loaded": ["patch_embed.proj.bias", "patch_embed.proj.weight",
                                 "pos_embed"], "skipped": ["cls_token"]}
    assert_close(embedder.pos_embed, state["pos_embed"][:, 1:])
    assert_close(embedder.patch_embed.proj.weight, state["patch_embed.proj.weight"])


def test_log_mel_has_100_frames_per_second():
    mel = log_mel(torch.randn(16000) * 0.1, num_mel_bins=80)
    assert mel.shape == (80, 100) and torch.isfinite(mel).all()

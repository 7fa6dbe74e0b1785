"""Repetition controls and sampling of text generation (zoo/generation.py, seq2seq.Decoding); tiny, CPU, seconds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import zoo.generation as generation
from tasks.core import seq2seq
from tasks.core.contract import config_to_dict
from tasks.core.finetune import build_config
from zoo import MultimodalModel, preset
from zoo.generation import beam_search, greedy_search

VOCAB, BOS, EOS, PAD = 50, 1, 2, 0
NEVER = -1  # an eos id no token has: every row runs max_new_tokens
NEUTRAL = {"no_repeat_ngram_size": 0, "repetition_penalty": 1.0, "do_sample": False, "temperature": 1.0,
           "top_p": 1.0, "seed": 0}


class BigramDecoder(nn.Module):
    """A stand-in decoder whose next-token logits are table[last token] + memory[:, 0] (per row), so the search
    over it can be worked out by hand. No cache: use with use_cache=False."""

    def __init__(self, table: Tensor, max_positions: int = 64) -> None:
        super().__init__()
        self.table = table  # (V, V)
        self.max_positions = max_positions

    def forward(self, tokens: Tensor, memory: Tensor, memory_mask: Tensor | None = None,
                cache: object = None) -> Tensor:
        assert cache is None
        return self.table[tokens] + memory[:, :1, :]  # (B, T, V)


def bigram(vocab: int, rows: dict[int, dict[int, float]]) -> BigramDecoder:
    """A BigramDecoder with zero logits except ``rows[token][next] = logit``."""
    table = torch.zeros(vocab, vocab)
    for token, nexts in rows.items():
        for nxt, logit in nexts.items():
            table[token, nxt] = logit
    return BigramDecoder(table)


def flat_memory(batch: int, vocab: int) -> tuple[Tensor, Tensor]:
    return torch.zeros(batch, 1, vocab), torch.ones(batch, 1, dtype=torch.bool)


# A loop 3 -> 4 -> 3 -> ...; second choices 5 (after 3) and eos (after 3, 5); token 5 goes back to 3.
LOOP = {BOS: {3: 5.0}, 3: {4: 5.0, 5: 3.0, EOS: 1.0}, 4: {3: 5.0, 5: 2.0}, 5: {3: 4.0, 4: 3.5, EOS: 1.0}}


@pytest.fixture(scope="module")
def sharp_model() -> MultimodalModel:
    """A tiny random backbone with large weights: its greedy and beam outputs loop."""
    torch.manual_seed(1)
    config = preset("tiny", vocab_size=VOCAB, image_size=16, patch_size=8, num_mel_bins=8, num_classes=0,
                    max_audio_frames=64, max_text_positions=32)
    model = MultimodalModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.3)
    return model


@pytest.fixture(scope="module")
def memory(sharp_model) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    return sharp_model.encode({"image": torch.randn(4, 3, 16, 16, generator=g)})


def ngram_repeats(row: list[int], n: int) -> int:
    """How many n-grams of row occur again later in it."""
    grams = [tuple(row[i:i + n]) for i in range(len(row) - n + 1)]
    return len(grams) - len(set(grams))


def token_repeats(rows: Tensor) -> int:
    return sum(len(row) - len(set(row)) for row in rows.tolist())


# --------------------------------------------------------------------------- neutral = today's search


def legacy_greedy(decoder, memory, memory_mask, bos_id, eos_id, pad_id, max_new_tokens, use_cache=True):
    """greedy_search as it was before the controls."""
    stepper = generation._Stepper(decoder, memory, memory_mask, use_cache)
    prefix = torch.full((memory.shape[0], 1), bos_id, dtype=torch.long)
    finished = torch.zeros(memory.shape[0], dtype=torch.bool)
    for _ in range(max_new_tokens):
        next_ids = stepper.next_logits(prefix).argmax(dim=-1).masked_fill(finished, pad_id)
        prefix = torch.cat([prefix, next_ids[:, None]], dim=1)
        finished |= next_ids == eos_id
        if finished.all():
            break
    return prefix[:, 1:]


def legacy_beam(decoder, memory, memory_mask, bos_id, eos_id, pad_id, max_new_tokens, num_beams,
                length_penalty=1.0, use_cache=True):
    """beam_search as it was before the controls."""
    batch, k = memory.shape[0], num_beams
    stepper = generation._Stepper(decoder, memory.repeat_interleave(k, dim=0),
                                  memory_mask.repeat_interleave(k, dim=0), use_cache)
    prefix = torch.full((batch * k, 1), bos_id, dtype=torch.long)
    sums = torch.full((batch, k), float("-inf"))
    sums[:, 0] = 0.0
    lengths = torch.zeros(batch, k)
    finished = torch.zeros(batch, k, dtype=torch.bool)
    offsets = torch.arange(batch)[:, None] * k
    for _ in range(max_new_tokens):
        log_probs = F.log_softmax(stepper.next_logits(prefix).float(), dim=-1)
        log_probs = generation._freeze_finished(log_probs, finished.view(-1), pad_id)
        beam, next_ids, sums, lengths = generation._select(log_probs, sums, lengths, finished, length_penalty)
        rows = (beam + offsets).view(-1)
        finished = finished.view(-1)[rows].view(batch, k) | (next_ids == eos_id)
        prefix = torch.cat([prefix[rows], next_ids.view(-1, 1)], dim=1)
        stepper.reorder(rows)
        if finished.all():
            break
    best = generation._normalise(sums, lengths, length_penalty).argmax(dim=1) + offsets[:, 0]
    return prefix[best, 1:]


@pytest.mark.parametrize("use_cache", [True, False])
def test_neutral_controls_give_todays_output(sharp_model, memory, use_cache):
    mem, mask = memory
    dec = sharp_model.decoder
    eos = int(greedy_search(dec, mem, mask, BOS, NEVER, PAD, 4)[0, 3])  # row 0 stops early
    common = (dec, mem, mask, BOS, eos, PAD, 12)
    reference = legacy_greedy(*common, use_cache=use_cache)
    assert torch.equal(greedy_search(*common, use_cache=use_cache), reference)
    assert torch.equal(greedy_search(*common, use_cache=use_cache, **NEUTRAL), reference)
    beams = legacy_beam(*common, num_beams=3, length_penalty=0.7, use_cache=use_cache)
    assert torch.equal(beam_search(*common, num_beams=3, length_penalty=0.7, use_cache=use_cache), beams)
    assert torch.equal(beam_search(*common, num_beams=3, length_penalty=0.7, use_cache=use_cache,
                                   no_repeat_ngram_size=0, repetition_penalty=1.0), beams)
    inputs_free = dict(bos_id=BOS, eos_id=eos, pad_id=PAD, max_new_tokens=12, use_cache=use_cache)
    image = {"image": torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))}
    assert torch.equal(sharp_model.generate(image, **inputs_free, **NEUTRAL), reference)
    assert torch.equal(sharp_model.generate(image, **inputs_free, num_beams=3, length_penalty=0.7,
                                            no_repeat_ngram_size=0, repetition_penalty=1.0), beams)


def test_neutral_controls_skip_the_extra_work(sharp_model, memory, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a neutral control did work")

    monkeypatch.setattr(generation, "penalise_repeats", forbidden)
    monkeypatch.setattr(generation, "_sample", forbidden)
    mem, mask = memory
    greedy_search(sharp_model.decoder, mem, mask, BOS, NEVER, PAD, 6, **NEUTRAL)
    beam_search(sharp_model.decoder, mem, mask, BOS, NEVER, PAD, 6, num_beams=2, no_repeat_ngram_size=0,
                repetition_penalty=1.0)


def test_hand_computed_loop_and_its_controls():
    decoder = bigram(6, LOOP)
    mem, mask = flat_memory(1, 6)
    run = dict(use_cache=False)
    assert greedy_search(decoder, mem, mask, BOS, EOS, PAD, 8, **run).tolist() == [[3, 4, 3, 4, 3, 4, 3, 4]]
    # 3 4 3, then 4 would repeat "3 4": 5; 3; then 4 and 5 would both repeat a bigram after 3: eos.
    assert greedy_search(decoder, mem, mask, BOS, EOS, PAD, 8, no_repeat_ngram_size=2, **run).tolist() == \
        [[3, 4, 3, 5, 3, EOS]]
    # n = 1: no token twice. 3 4, then row 4 has only 5 left; row 5 only eos.
    assert greedy_search(decoder, mem, mask, BOS, EOS, PAD, 8, no_repeat_ngram_size=1, **run).tolist() == \
        [[3, 4, 5, EOS]]
    # penalty 2 halves the logits of seen tokens: 3 4 3 (2.5 > 2), then 5 (3 > 2.5), 3 (2 > 1.75), 4 (2.5 > 1.5), 3 ...
    assert greedy_search(decoder, mem, mask, BOS, EOS, PAD, 8, repetition_penalty=2.0, **run).tolist() == \
        [[3, 4, 3, 5, 3, 4, 3, 4]]
    for n in (1, 2):  # a beam of one is greedy search, controls included
        assert torch.equal(beam_search(decoder, mem, mask, BOS, EOS, PAD, 8, num_beams=1, no_repeat_ngram_size=n,
                                       **run),
                           greedy_search(decoder, mem, mask, BOS, EOS, PAD, 8, no_repeat_ngram_size=n, **run))


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -2.0, 1.0, -1.0]])
    out = generation.penalise_repeats(logits, torch.tensor([[0, 1, 1]]), 0, 4.0)
    assert out.tolist() == [[0.5, -8.0, 1.0, -1.0]]


def reference_greedy(table: Tensor, bias: Tensor, steps: int, n: int, penalty: float) -> list[list[int]]:
    """Greedy search over a bigram table written out token by token, HF semantics, bos not in the prefix."""
    out = []
    for row_bias in bias:
        generated: list[int] = []
        for _ in range(steps):
            logits = (table[generated[-1] if generated else BOS] + row_bias).tolist()
            for token in set(generated):
                logits[token] = logits[token] / penalty if logits[token] > 0 else logits[token] * penalty
            if n and len(generated) >= n:
                tail = generated[len(generated) - n + 1:]
                for i in range(len(generated) - n + 1):
                    if generated[i:i + n - 1] == tail:
                        logits[generated[i + n - 1]] = float("-inf")
            generated.append(max(range(len(logits)), key=logits.__getitem__))
        out.append(generated)
    return out


@pytest.mark.parametrize(("n", "penalty"), [(2, 1.0), (3, 1.0), (0, 1.5), (2, 1.3)])
def test_greedy_controls_match_a_reference_written_out(n, penalty):
    vocab = 12
    g = torch.Generator().manual_seed(3)
    decoder = BigramDecoder(torch.randn(vocab, vocab, generator=g) * 3)
    bias = torch.randn(3, vocab, generator=g)
    mem, mask = bias[:, None, :], torch.ones(3, 1, dtype=torch.bool)
    got = greedy_search(decoder, mem, mask, BOS, NEVER, PAD, 20, use_cache=False, no_repeat_ngram_size=n,
                        repetition_penalty=penalty)
    assert got.tolist() == reference_greedy(decoder.table, bias, 20, n, penalty)


# --------------------------------------------------------------------------- repetition controls on a backbone


@pytest.mark.parametrize("num_beams", [1, 3])
@pytest.mark.parametrize("n", [2, 3])
def test_no_repeat_ngram_removes_every_repeated_ngram(sharp_model, memory, num_beams, n):
    mem, mask = memory
    search = greedy_search if num_beams == 1 else beam_search
    kwargs = {} if num_beams == 1 else {"num_beams": num_beams}
    free = search(sharp_model.decoder, mem, mask, BOS, NEVER, PAD, 24, **kwargs)
    assert sum(ngram_repeats(row, n) for row in free.tolist()) > 0  # the model loops without the control
    outputs = [search(sharp_model.decoder, mem, mask, BOS, NEVER, PAD, 24, no_repeat_ngram_size=n,
                      use_cache=use_cache, **kwargs) for use_cache in (True, False)]
    assert torch.equal(outputs[0], outputs[1])
    assert outputs[0].shape == (4, 24)
    assert all(ngram_repeats(row, n) == 0 for row in outputs[0].tolist())


@pytest.mark.parametrize("num_beams", [1, 3])
def test_repetition_penalty_lowers_repeats(sharp_model, memory, num_beams):
    mem, mask = memory
    search = greedy_search if num_beams == 1 else beam_search
    kwargs = {} if num_beams == 1 else {"num_beams": num_beams}
    free = search(sharp_model.decoder, mem, mask, BOS, NEVER, PAD, 24, **kwargs)
    penalised = search(sharp_model.decoder, mem, mask, BOS, NEVER, PAD, 24, repetition_penalty=3.0, **kwargs)
    assert token_repeats(penalised) < token_repeats(free)


def test_beam_controls_reach_each_beam_and_stop_at_eos():
    decoder = bigram(6, LOOP)
    mem, mask = flat_memory(2, 6)
    out = beam_search(decoder, mem, mask, BOS, EOS, PAD, 10, num_beams=3, no_repeat_ngram_size=2, use_cache=False)
    for row in out.tolist():
        ended = row[:row.index(EOS)] if EOS in row else row
        assert ngram_repeats(ended, 2) == 0
        assert all(token == PAD for token in row[len(ended) + 1:])


# --------------------------------------------------------------------------- sampling


def test_seeded_sampling_is_reproducible_and_seed_dependent():
    decoder = BigramDecoder(torch.zeros(VOCAB, VOCAB))  # a flat distribution
    mem, mask = flat_memory(4, VOCAB)

    def sample(seed: int) -> Tensor:
        return greedy_search(decoder, mem, mask, BOS, NEVER, PAD, 12, use_cache=False, do_sample=True, seed=seed)

    first = sample(0)
    assert torch.equal(sample(0), first)
    assert not torch.equal(sample(1), first)
    assert len(set(first.reshape(-1).tolist())) > 10  # not arg-max: many different tokens
    greedy = greedy_search(decoder, mem, mask, BOS, NEVER, PAD, 12, use_cache=False)
    assert not torch.equal(first, greedy)


def test_model_sampling_is_reproducible(sharp_model):
    image = {"image": torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))}
    kwargs = dict(bos_id=BOS, eos_id=NEVER, pad_id=PAD, max_new_tokens=10, do_sample=True, temperature=2.0)
    assert torch.equal(sharp_model.generate(image, seed=5, **kwargs), sharp_model.generate(image, seed=5, **kwargs))
    assert not torch.equal(sharp_model.generate(image, seed=5, **kwargs), sharp_model.generate(image, seed=6, **kwargs))


@pytest.mark.parametrize("settings", [{"top_p": 1e-6}, {"temperature": 1e-4}, {"top_p": 1e-6, "temperature": 3.0}])
def test_sampling_that_keeps_one_token_is_greedy(sharp_model, memory, settings):
    mem, mask = memory
    greedy = greedy_search(sharp_model.decoder, mem, mask, BOS, NEVER, PAD, 20)
    for seed in (0, 1):
        sampled = greedy_search(sharp_model.decoder, mem, mask, BOS, NEVER, PAD, 20, do_sample=True, seed=seed,
                                **settings)
        assert torch.equal(sampled, greedy)


@pytest.mark.parametrize(("top_p", "kept"), [(0.45, {3}), (0.6, {3, 4}), (0.9, {3, 4, 5}), (1.0, {3, 4, 5})])
def test_top_p_keeps_the_smallest_set_reaching_the_mass(top_p, kept):
    table = torch.full((6, 6), float("-inf"))
    table[BOS, 3:] = torch.tensor([0.5, 0.3, 0.2]).log()
    decoder = BigramDecoder(table)
    mem, mask = flat_memory(400, 6)
    first = greedy_search(decoder, mem, mask, BOS, NEVER, PAD, 1, use_cache=False, do_sample=True, top_p=top_p)
    assert set(first[:, 0].tolist()) == kept


def test_sampling_needs_a_single_beam(sharp_model):
    image = {"image": torch.zeros(1, 3, 16, 16)}
    with pytest.raises(ValueError, match="do_sample"):
        sharp_model.generate(image, bos_id=BOS, eos_id=EOS, pad_id=PAD, num_beams=2, do_sample=True)
    with pytest.raises(ValueError, match="decoding.do_sample"):
        seq2seq.Decoding(num_beams=3, do_sample=True)


@pytest.mark.parametrize(("kwargs", "name"), [({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
                                              ({"repetition_penalty": 0.0}, "repetition_penalty"),
                                              ({"temperature": 0.0}, "temperature"),
                                              ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p")])
def test_generation_rejects_bad_controls(memory, sharp_model, kwargs, name):
    mem, mask = memory
    sampling = {"do_sample": True} if name in ("temperature", "top_p") else {}
    with pytest.raises(ValueError, match=name):
        greedy_search(sharp_model.decoder, mem, mask, BOS, EOS, PAD, 4, **sampling, **kwargs)
    if not sampling:
        with pytest.raises(ValueError, match=name):
            beam_search(sharp_model.decoder, mem, mask, BOS, EOS, PAD, 4, num_beams=2, **kwargs)


# --------------------------------------------------------------------------- Decoding and the task configs


def test_default_decoding_records_no_new_keys():
    assert config_to_dict(seq2seq.Decoding()) == {"num_beams": 3, "max_new_tokens": 48, "length_penalty": 1.0}
    assert config_to_dict(seq2seq.Decoding(num_beams=1, **NEUTRAL)) == \
        {"num_beams": 1, "max_new_tokens": 48, "length_penalty": 1.0}
    assert config_to_dict(seq2seq.Decoding(no_repeat_ngram_size=3)) == \
        {"num_beams": 3, "max_new_tokens": 48, "length_penalty": 1.0, "no_repeat_ngram_size": 3}
    sampled = seq2seq.Decoding(num_beams=1, do_sample=True, top_p=0.9, seed=7)
    assert config_to_dict(sampled) == {"num_beams": 1, "max_new_tokens": 48, "length_penalty": 1.0,
                                       "do_sample": True, "top_p": 0.9, "seed": 7}
    assert seq2seq.Decoding(**config_to_dict(sampled)) == sampled
    assert seq2seq.Decoding().controls() == {}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"no_repeat_ngram_size": -1}, "decoding.no_repeat_ngram_size"),
    ({"repetition_penalty": 0}, "decoding.repetition_penalty"),
    ({"num_beams": 1, "do_sample": True, "temperature": -1.0}, "decoding.temperature"),
    ({"num_beams": 1, "do_sample": True, "top_p": 0}, r"decoding.top_p must be in \(0, 1\], got 0"),
    ({"num_beams": 1, "do_sample": True, "top_p": 1.01}, "decoding.top_p"),
    ({"num_beams": 1, "top_p": 0.9}, "decoding.top_p applies only with decoding.do_sample"),
    ({"num_beams": 1, "seed": 3}, "decoding.seed applies only with decoding.do_sample"),
    ({"num_beams": 1, "do_sample": "yes"}, "decoding.do_sample"),
])
def test_decoding_rejects_bad_values_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        seq2seq.Decoding(**kwargs)
    assert "\n" not in str(error.value)


class SpyNet:
    """Records the keyword arguments generate_texts passes."""

    def __init__(self) -> None:
        self.kwargs: dict = {}

    def generate(self, inputs, **kwargs):
        self.kwargs = kwargs
        return torch.zeros(1, 1, dtype=torch.long)


class OneTokenizer:
    bos_id, eos_id, pad_id = BOS, EOS, PAD

    def decode(self, ids):
        return "x"


def test_generate_texts_passes_only_the_controls_that_are_set():
    net = SpyNet()
    seq2seq.generate_texts(net, {}, OneTokenizer(), seq2seq.Decoding())
    assert set(net.kwargs) == {"bos_id", "eos_id", "pad_id", "max_new_tokens", "num_beams", "length_penalty"}
    seq2seq.generate_texts(net, {}, OneTokenizer(), seq2seq.Decoding(no_repeat_ngram_size=3, repetition_penalty=1.2))
    assert net.kwargs["no_repeat_ngram_size"] == 3 and net.kwargs["repetition_penalty"] == 1.2


@pytest.mark.parametrize("task", ["captioning", "med_report", "asr"])
def test_fit_options_reach_the_config(task):
    options = {"decoding": {"no_repeat_ngram_size": 2, "repetition_penalty": 1.2, "max_new_tokens": 8}}
    config = build_config(task, "smoke", None, options, None, None)
    assert isinstance(config.decoding, seq2seq.Decoding)
    assert config.decoding.no_repeat_ngram_size == 2 and config.decoding.repetition_penalty == 1.2
    assert config_to_dict(config)["decoding"]["no_repeat_ngram_size"] == 2
    with pytest.raises(ValueError, match="decoding.top_p"):
        build_config(task, "smoke", None, {"decoding": {"num_beams": 1, "do_sample": True, "top_p": 0,
                                                        "max_new_tokens": 8}}, None, None)


def test_captioning_fit_options_as_in_the_brief():
    config = build_config("captioning", "smoke", None, {"decoding": {"no_repeat_ngram_size": 2}}, None, None)
    assert config.decoding.no_repeat_ngram_size == 2


def test_asr_ctc_decoding_rejects_decoder_controls():
    from tasks import asr

    with pytest.raises(ValueError, match="decoding.no_repeat_ngram_size applies to the decoder's search: "
                                         "ctc_decoding attention or joint"):
        asr.Config(ctc_weight=0.3, ctc_decoding="ctc", decoding={"no_repeat_ngram_size": 2, "max_new_tokens": 8})
    joint = asr.Config(ctc_weight=0.3, ctc_decoding="joint", decoding={"repetition_penalty": 1.2,
                                                                        "max_new_tokens": 8})
    assert joint.decoding.repetition_penalty == 1.2
    assert asr.Config(ctc_weight=0.3, ctc_decoding="ctc").decoding.controls() == {}


def test_whisper_reference_takes_the_controls():
    from tasks.asr.whisper_reference import WhisperASR, dimensions

    torch.manual_seed(0)
    net = WhisperASR(dimensions(preset("tiny", vocab_size=12, num_mel_bins=80))).eval()
    inputs = {"audio": torch.randn(2, 80, 40), "audio_mask": torch.ones(2, 40, dtype=torch.bool)}
    for beams in (1, 2):
        ids = net.generate(inputs, bos_id=1, eos_id=2, pad_id=0, max_new_tokens=10, num_beams=beams,
                           no_repeat_ngram_size=1)
        for row in ids.tolist():
            tokens = [t for t in row if t not in (0, 2)]
            assert len(tokens) == len(set(tokens)), row

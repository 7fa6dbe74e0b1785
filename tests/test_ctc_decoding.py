"""CTC decoding (tasks/asr/ctc.py) against brute force over every alignment, and the asr task's decoding modes."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch

from tasks import asr
from tasks.asr import ctc
from tests.test_asr import _batch

BLANK = 0


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    merged = [label for i, label in enumerate(path) if i == 0 or label != path[i - 1]]
    return tuple(label for label in merged if label != BLANK)


def exact_labellings(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """log p of every labelling: the sum over all V^T frame paths that collapse to it."""
    frames, labels = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(labels), repeat=frames):
        p = math.exp(sum(log_probs[t, label].item() for t, label in enumerate(path)))
        totals[collapse(path)] = totals.get(collapse(path), 0.0) + p
    return {key: math.log(value) for key, value in totals.items()}


def random_log_probs(frames: int, labels: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (2.0 * torch.randn(frames, labels, generator=generator)).log_softmax(-1).double()


def test_best_path_merges_repeats_then_drops_blanks() -> None:
    path = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0], [2, 0, 2, 2, 1, 1, 1, 1]])
    log_probs = torch.nn.functional.one_hot(path, 3).float().log_softmax(-1)
    assert ctc.best_path(log_probs, torch.tensor([8, 4]), BLANK) == [[1, 1, 2], [2, 2]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prefix_beam_search_is_exact_when_nothing_is_pruned(seed: int) -> None:
    log_probs = random_log_probs(5, 3, seed)
    exact = exact_labellings(log_probs)
    found = ctc.prefix_beam_search(log_probs, BLANK, beam=10_000, top_k=3)
    assert {tuple(ids) for ids, _ in found} == set(exact)
    for ids, score in found:
        assert score == pytest.approx(exact[tuple(ids)], abs=1e-9)
    assert [score for _, score in found] == sorted((score for _, score in found), reverse=True)
    best = max(exact, key=exact.get)
    assert tuple(ctc.prefix_beam_search(log_probs, BLANK, beam=4)[0][0]) == best


@pytest.mark.parametrize("seed", [0, 3])
def test_sequence_log_likelihood_is_the_sum_over_alignments(seed: int) -> None:
    log_probs = random_log_probs(5, 3, seed)
    exact = exact_labellings(log_probs)
    sequences = [[1, 2], [1, 1], [], [2, 2, 2]]
    scores = ctc.sequence_log_likelihood(log_probs.expand(4, -1, -1), torch.tensor([5, 5, 5, 5]), BLANK, sequences)
    for sequence, score in zip(sequences, scores.tolist(), strict=True):
        assert score == pytest.approx(exact.get(tuple(sequence), -math.inf), abs=1e-6)
    too_long = ctc.sequence_log_likelihood(log_probs[None], torch.tensor([2]), BLANK, [[1, 1]])
    assert too_long.item() == -math.inf  # "1 1" needs three frames (a blank between)


def test_asr_decoding_modes_need_the_ctc_head_and_decode() -> None:
    with pytest.raises(ValueError, match="ctc_decoding"):
        asr.Config(ctc_decoding="ctc")
    with pytest.raises(ValueError, match="ctc_decoding"):
        asr.Config(ctc_decoding="beam", ctc_weight=0.5)
    with pytest.raises(ValueError, match="ctc_decoding_weight"):
        asr.Config(ctc_decoding="joint", ctc_weight=0.5, ctc_decoding_weight=1.5)
    config = dataclasses.replace(asr.tiny(), ctc_weight=0.5)
    datamodule, batch = _batch(config)
    torch.manual_seed(0)
    module = asr.Module(config, datamodule.tokenizer.to_dict(), **datamodule.module_kwargs()).eval()
    inputs, greedy = module.inputs(batch), dataclasses.replace(config.decoding, num_beams=1)
    with torch.no_grad():
        memory, mask = module.net.encode(inputs)
        log_probs = module.ctc_head(memory).log_softmax(-1)
        texts = {}
        for mode in asr.CTC_DECODINGS:
            module.config = dataclasses.replace(config, ctc_decoding=mode)
            texts[mode] = (module.transcribe(inputs, greedy), module.transcribe(inputs, config.decoding))
    tokenizer = module.tokenizer
    assert texts["attention"][0] == asr.seq2seq.generate_texts(module.net, inputs, tokenizer, greedy)
    assert texts["ctc"][0] == [tokenizer.decode(ids) for ids in ctc.best_path(log_probs, mask.sum(1), tokenizer.pad_id)]
    assert all(len(modes) == len(batch["id"]) for pair in texts.values() for modes in pair)


def test_joint_rescoring_picks_by_the_weighted_scores() -> None:
    config = dataclasses.replace(asr.tiny(), ctc_weight=0.5, ctc_decoding="joint")
    datamodule, batch = _batch(config)
    torch.manual_seed(0)
    module = asr.Module(config, datamodule.tokenizer.to_dict(), **datamodule.module_kwargs()).eval()
    with torch.no_grad():
        memory, mask = module.net.encode(module.inputs(batch))
        log_probs = module.ctc_head(memory).float().log_softmax(-1)
        one, two = module.tokenizer.encode("1"), module.tokenizer.encode("2 2")
        one = [t for t in one if t not in (module.tokenizer.bos_id, module.tokenizer.eos_id)]
        two = [t for t in two if t not in (module.tokenizer.bos_id, module.tokenizer.eos_id)]
        nbest = [[one, two]] * len(batch["id"])
        own = [two] * len(batch["id"])
        chosen = {}
        for weight in (0.0, 1.0):
            module.config = dataclasses.replace(config, ctc_decoding_weight=weight)
            chosen[weight] = module.joint_best(memory, mask, log_probs, nbest, own)
        pad = module.tokenizer.pad_id
        n = len(batch["id"])
        ctc_one = ctc.sequence_log_likelihood(log_probs, mask.sum(1), pad, [one] * n)
        ctc_two = ctc.sequence_log_likelihood(log_probs, mask.sum(1), pad, [two] * n)
        decoder = {}
        for name, ids in (("one", one), ("two", two)):
            target = torch.tensor([[module.tokenizer.bos_id, *ids, module.tokenizer.eos_id]] * n)
            logits = module.net.decoder(target[:, :-1], memory, mask).log_softmax(-1)
            decoder[name] = logits.gather(-1, target[:, 1:, None]).squeeze(-1).sum(1)
    for b in range(n):
        assert chosen[1.0][b] == (one if ctc_one[b] > ctc_two[b] else two)
        assert chosen[0.0][b] == (one if decoder["one"][b] > decoder["two"][b] else two)

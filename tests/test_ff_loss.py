"""The seed design's auxiliary L_FF term (``seq2seq.ff_loss``) and its ``ff_weight`` on the generation tasks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from tasks import asr, captioning, med_report
from tasks.core import finetune, seq2seq, seq2seq_task
from tasks.core.contract import config_to_dict

GENERATION_TASKS = {"captioning": captioning, "med_report": med_report, "asr": asr}


class FixedLogits:
    """A stand-in decoder: ``decoder_logits`` returns the same (B, T-1, V) logits whatever it is given."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def decoder_logits(self, inputs: Mapping[str, torch.Tensor], target_in: torch.Tensor) -> torch.Tensor:
        assert target_in.shape == self.logits.shape[:2]
        return self.logits


def _example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (2, 3, 4) and targets (2, 4) with bos, the second row padded after its first real token."""
    logits = torch.tensor([[[2.0, 0.5, -1.0, 0.0], [0.0, 3.0, 1.0, -2.0], [1.0, 1.0, 1.0, 1.0]],
                           [[-1.0, 0.0, 2.5, 0.5], [9.0, -9.0, 4.0, 0.0], [0.3, -0.7, 0.0, 5.0]]])
    target = torch.tensor([[1, 0, 1, 3], [1, 2, 0, 0]])  # column 0: bos; row 1 pads with id 0
    target_mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    return logits, target, target_mask


def _hand_ff(logits: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor) -> float:
    """(1/N) Σ log(1 + exp(-‖p - y‖²)) written out with scalars."""
    total, count = 0.0, 0
    for b in range(logits.shape[0]):
        for t in range(logits.shape[1]):
            if not mask[b, t]:
                continue
            row = [float(v) for v in logits[b, t]]
            exps = [math.exp(v - max(row)) for v in row]
            probs = [e / sum(exps) for e in exps]
            onehot = [1.0 if v == int(gold[b, t]) else 0.0 for v in range(len(row))]
            distance = sum((p - y) ** 2 for p, y in zip(probs, onehot))
            total += math.log(1 + math.exp(-distance))
            count += 1
    return total / count


def test_ff_loss_matches_a_hand_computation() -> None:
    logits, target, target_mask = _example()
    gold, mask = target[:, 1:], target_mask[:, 1:]
    value = seq2seq.ff_loss(logits, gold, mask)
    assert value.shape == () and value.dtype == torch.float32
    assert value.item() == pytest.approx(_hand_ff(logits, gold, mask), abs=1e-6)
    # padded positions count for nothing, whatever their logits and ids
    noisy = logits.clone()
    noisy[1, 1:] = torch.randn(2, 4) * 10
    torch.testing.assert_close(seq2seq.ff_loss(noisy, gold.masked_fill(~mask, -100), mask), value)


def test_ff_loss_falls_as_the_prediction_moves_away_from_the_truth() -> None:
    """The term's direction: log(1 + e^-d) decreases in d = ‖p - y‖², so minimising it pushes p away from y
    (the opposite of cross-entropy)."""
    gold, mask = torch.tensor([[0]]), torch.tensor([[True]])
    ff, ce = [], []
    for gold_logit in (6.0, 3.0, 1.0, 0.0, -1.0, -3.0, -6.0):  # p_gold falls step by step
        logits = torch.tensor([[[gold_logit, 0.0, 0.0, 0.0]]])
        ff.append(seq2seq.ff_loss(logits, gold, mask).item())
        ce.append(F.cross_entropy(logits[0], gold[0]).item())
    assert all(a > b for a, b in zip(ff, ff[1:])), ff
    assert all(a < b for a, b in zip(ce, ce[1:])), ce
    # at p = y (d = 0) it is log 2; at the farthest one-hot p (d = 2) log(1 + e^-2)
    exact = seq2seq.ff_loss(torch.tensor([[[60.0, 0.0, 0.0]]]), gold, mask).item()
    wrong = seq2seq.ff_loss(torch.tensor([[[0.0, 60.0, 0.0]]]), gold, mask).item()
    assert exact == pytest.approx(math.log(2), abs=1e-6)
    assert wrong == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)
    # a gradient-descent step on it lowers the true token's logit
    logits = torch.tensor([[[1.0, 0.5, -0.5]]], requires_grad=True)
    seq2seq.ff_loss(logits, gold, mask).backward()
    assert logits.grad[0, 0, 0] > 0


def test_ff_weight_zero_is_todays_lm_loss_and_a_weight_adds_the_term() -> None:
    logits, target, target_mask = _example()
    net = FixedLogits(logits)
    gold = target[:, 1:].masked_fill(~target_mask[:, 1:], -100)
    today = F.cross_entropy(logits.reshape(-1, 4), gold.reshape(-1), ignore_index=-100)
    assert torch.equal(seq2seq.lm_loss(net, {}, target, target_mask, ff_weight=0.0), today)
    assert torch.equal(seq2seq.lm_loss(net, {}, target, target_mask), today)
    weighted = seq2seq.lm_loss(net, {}, target, target_mask, ff_weight=0.5)
    torch.testing.assert_close(weighted, today + 0.5 * seq2seq.ff_loss(logits, target[:, 1:], target_mask[:, 1:]))


@pytest.mark.parametrize("task", sorted(GENERATION_TASKS))
def test_ff_weight_is_an_optional_config_field(task: str) -> None:
    module = GENERATION_TASKS[task]
    config = module.tiny()
    assert config.ff_weight == 0.0 and "ff_weight" not in config_to_dict(config)
    weighted = dataclasses.replace(config, ff_weight=0.25)
    assert config_to_dict(weighted)["ff_weight"] == 0.25
    with pytest.raises(ValueError, match="ff_weight"):
        dataclasses.replace(config, ff_weight=-0.1)


@pytest.mark.parametrize("task", sorted(GENERATION_TASKS))
def test_fit_options_reach_the_config(task: str) -> None:
    assert finetune.build_config(task, "smoke", None, {"ff_weight": 0.5}, None, None).ff_weight == 0.5
    with pytest.raises(ValueError, match="ff_weight"):
        finetune.build_config(task, "smoke", None, {"ff_weight": -1.0}, None, None)


@pytest.mark.parametrize("ff_weight", [0.0, 0.5])
def test_the_image_to_text_step_uses_the_config_weight(ff_weight: float) -> None:
    logits, target, target_mask = _example()
    net = FixedLogits(logits)
    config = dataclasses.replace(captioning.tiny(), ff_weight=ff_weight)
    module = SimpleNamespace(net=net, config=config, INPUTS=("image",))
    batch = {"image": torch.zeros(2, 3, 8, 8), "target": target, "target_mask": target_mask}
    loss = seq2seq_task.Module.step(module, batch, "train")
    assert torch.equal(loss, seq2seq.lm_loss(net, {}, target, target_mask, ff_weight))


@pytest.mark.parametrize("ff_weight", [0.0, 0.5])
def test_the_asr_decoder_loss_uses_the_config_weight(ff_weight: float) -> None:
    logits, target, target_mask = _example()
    net = FixedLogits(logits)
    config = dataclasses.replace(asr.tiny(), ff_weight=ff_weight)
    module = SimpleNamespace(net=net, config=config, ctc_head=None)
    loss = asr.Module.loss(module, {}, target, target_mask)
    assert torch.equal(loss, seq2seq.lm_loss(net, {}, target, target_mask, ff_weight))

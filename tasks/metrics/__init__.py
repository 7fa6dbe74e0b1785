"""Evaluation metrics of the zoo, in pure Python and torch (no Java, no pycocoevalcap at run time).

* ``text``     – ``coco_tokenize``: coco-caption's PTBTokenizer step without Java;
* ``caption``  – ``CiderD``, ``Bleu``, ``RougeL``, ``CaptionMetrics`` (scores in ``caption_scores``), equal to
  pycocoevalcap 1.2 on the same tokens;
* ``vqa``      – ``vqa_accuracy`` / ``VQAAccuracy`` (official VQA score and normalisation, in ``vqa_normalize``)
  and ``ExactMatchAccuracy`` with per-group accuracy;
* ``clinical`` – ``label_report`` (a small CheXpert-style findings labeler, vocabulary in ``clinical_rules``)
  and ``ClinicalEfficacy`` (R2Gen-style CE precision/recall/F1);
* ``gather``   – ``RecordMetric``: per-example Python records gathered across processes, each id counted once.

Every metric is a torchmetrics ``Metric``: ``update`` per batch, ``compute`` over the gathered corpus.
"""

from __future__ import annotations

from tasks.metrics.caption import Bleu, CaptionMetrics, CiderD, RougeL
from tasks.metrics.clinical import ClinicalEfficacy, label_report, report_attributes
from tasks.metrics.gather import RecordMetric
from tasks.metrics.text import coco_tokenize
from tasks.metrics.vqa import ExactMatchAccuracy, VQAAccuracy, vqa_accuracy
from tasks.metrics.vqa_normalize import normalize_exact, normalize_vqa_answer

__all__ = [
    "Bleu",
    "CaptionMetrics",
    "CiderD",
    "ClinicalEfficacy",
    "ExactMatchAccuracy",
    "RecordMetric",
    "RougeL",
    "VQAAccuracy",
    "coco_tokenize",
    "label_report",
    "normalize_exact",
    "normalize_vqa_answer",
    "report_attributes",
    "vqa_accuracy",
]

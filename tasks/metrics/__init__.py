"""Metrics that more than one task uses, in pure Python and torch (no Java, no pycocoevalcap at run time).

* ``text``           – ``coco_tokenize``: coco-caption's PTBTokenizer step without Java;
* ``caption``        – ``CiderD``, ``Bleu``, ``RougeL``, ``CaptionMetrics`` (scores in ``caption_scores``), equal to
  pycocoevalcap 1.2 on the same tokens (captioning and med_report);
* ``classification`` – ``ClassificationScores``: accuracy and macro-F1 over examples counted once by id;
* ``gather``         – ``RecordMetric``: per-example Python records gathered across processes, each id counted once.

A metric only one task uses lives in that task's folder (``tasks/vqa/metric.py``, ``tasks/asr/metric.py``,
``tasks/med_report/clinical.py``). Every metric is a torchmetrics ``Metric``: ``update`` per batch, ``compute`` over
the gathered corpus.
"""

from __future__ import annotations

from tasks.metrics.caption import Bleu, CaptionMetrics, CiderD, RougeL
from tasks.metrics.gather import RecordMetric
from tasks.metrics.text import coco_tokenize

__all__ = ["Bleu", "CaptionMetrics", "CiderD", "RecordMetric", "RougeL", "coco_tokenize"]

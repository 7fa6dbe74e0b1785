"""Answer options read from a question, for ``answer_options="question"`` (vqa, classify).

A closed question names its own answer set: "Is this an MRI or a CT scan?" is answered "mri" or "ct", and "Is
there a pneumothorax?" "yes" or "no". A classifier over the whole train answer vocabulary must learn that from
examples, and with VQA-RAD's 1,797 train questions it does not (docs/recipes/vqa.md, "Answer options").

``OptionIndex.allowed(question)`` gives the vocabulary answers the question allows:

* a question with "or" allows the vocabulary answers that end just before it or begin just after it ("Is the
  lesion on the left or right side?" allows "left", "on the left", "right", "right side"; "X, Y, or Z" lists
  count), even when only one of its options is in the vocabulary (the other cannot be predicted anyway);
* otherwise a question whose first word is an auxiliary verb ("is", "are", "does", "can", ...) allows "yes"
  and "no";
* any other question is not restricted.

The prediction is the best-scoring allowed answer. The rules read the question only, never the answer or its type;
how often they hold on VQA-RAD is in docs/recipes/vqa.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from tasks.vqa.normalize import normalize_exact

AUXILIARIES = frozenset({"is", "are", "am", "was", "were", "does", "do", "did", "can", "could", "has", "have",
                         "had", "will", "would", "should", "shall", "may", "might", "must"})
ARTICLES = frozenset({"a", "an", "the"})
YES_NO = ("yes", "no")


class OptionIndex:
    """Finds, for a question, the answers of a fixed vocabulary that it allows (module docstring)."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.size = len(answers)
        self.index = {answer: i for i, answer in enumerate(answers)}
        self.yes_no = [self.index[a] for a in YES_NO if a in self.index]
        self.longest = max((len(a.split()) for a in answers), default=0)

    def allowed(self, question: str) -> list[int] | None:
        """Vocabulary indices the question allows (sorted), or None when it restricts nothing."""
        tokens = re.findall(r"[^\s,;:?!.\"()]+|,", normalize_exact(question))
        options = self._choices(tokens)
        if options:
            return sorted(options)
        if tokens and tokens[0] in AUXILIARIES and len(self.yes_no) == 2:
            return list(self.yes_no)
        return None

    def _choices(self, tokens: list[str]) -> set[int]:
        """Vocabulary answers that end just before an "or" (or before each comma of an "X, Y, or Z" list) or
        begin just after one (after its article): "left", "the left" and "right", "right side" in "on the left or
        right side"; "mri" and "ct", "ct scan" in "an MRI or a CT scan"."""
        ends, starts = set(), set()
        for k, token in enumerate(tokens):
            if token != "or":
                continue
            starts.add(k + 1 + (k + 2 < len(tokens) and tokens[k + 1] in ARTICLES))
            listed = k > 0 and tokens[k - 1] == ","  # "X, Y, or Z": the ends of X and Y too
            end = k - 1 - listed
            while end >= 0:
                ends.add(end)
                comma = next((j for j in range(end - 1, max(end - 5, -1), -1) if tokens[j] == ","), None)
                if not listed or comma is None:
                    break
                end = comma - 1
        spans = {(start, stop) for start in starts for stop in range(start + 1, start + self.longest + 1)}
        spans |= {(start, end + 1) for end in ends for start in range(max(0, end + 1 - self.longest), end + 1)}
        found = {self.index.get(" ".join(tokens[start:stop])) for start, stop in spans if stop <= len(tokens)}
        return {i for i in found if i is not None and i not in self.yes_no}

    def mask(self, questions: Sequence[str]) -> torch.Tensor:
        """(N, K) bool: row n is True at the answers question n allows (everywhere when it restricts nothing)."""
        out = torch.ones(len(questions), self.size, dtype=torch.bool)
        for row, question in enumerate(questions):
            allowed = self.allowed(question)
            if allowed is not None:
                out[row] = False
                out[row, allowed] = True
        return out

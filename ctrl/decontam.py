"""Statement n-gram decontamination: drop training problems that overlap an evaluation set.

A problem's score against an evaluation problem is the fraction of its statement's word n-grams
(lowercased alphanumeric tokens, ``n`` words) that also occur in the evaluation statement; its
score is the maximum over the evaluation set. Problems scoring above the threshold are dropped
and recorded (which evaluation problem, the score) in the `quarantine` table with kind
``contaminated``. Statements shorter than ``n`` words are compared whole: identical token
sequences score 1.0, anything else 0.0.

Used by ``ctrl ingest ... --decontaminate-against humaneval,mbpp:test --ngram 10
--overlap-threshold 0.5``.
"""

from __future__ import annotations

import collections
import re
from typing import Iterable

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lowercased alphanumeric word tokens."""
    return _TOKEN.findall((text or "").lower())


def ngrams(toks: list[str], n: int) -> set[tuple[str, ...]]:
    """The set of ``n``-word windows of ``toks`` (empty when shorter than ``n``)."""
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


class NgramIndex:
    """An inverted index from n-gram to the evaluation problems containing it."""

    def __init__(self, docs: Iterable[tuple[str, str]], n: int) -> None:
        """Args: docs: (problem_id, statement) of the evaluation set; n: words per n-gram."""
        if n < 1:
            raise ValueError(f"ngram size must be >= 1, got {n}")
        self.n = n
        self.postings: dict[tuple[str, ...], list[str]] = collections.defaultdict(list)
        self.whole: dict[tuple[str, ...], str] = {}
        self.size = 0
        for pid, text in docs:
            toks = tokens(text)
            self.whole.setdefault(tuple(toks), pid)
            for g in ngrams(toks, n):
                self.postings[g].append(pid)
            self.size += 1

    def best_match(self, text: str) -> tuple[str | None, float]:
        """(evaluation problem_id, overlap score) of the closest evaluation problem."""
        toks = tokens(text)
        grams = ngrams(toks, self.n)
        if not grams:
            pid = self.whole.get(tuple(toks)) if toks else None
            return (pid, 1.0) if pid else (None, 0.0)
        hits: collections.Counter[str] = collections.Counter()
        for g in grams:
            for pid in self.postings.get(g, ()):
                hits[pid] += 1
        if not hits:
            return None, 0.0
        pid, count = max(hits.items(), key=lambda kv: (kv[1], kv[0]))
        return pid, count / len(grams)


def decontaminate(
    rows: list[dict], index: NgramIndex, threshold: float
) -> tuple[list[dict], list[tuple[dict, str, float]]]:
    """Split ``rows`` (problems) into kept and dropped (row, matched eval problem_id, score).

    A row is dropped when its best score is strictly above ``threshold``; a row whose own
    problem_id is the match (ingesting an evaluation set against itself) is still dropped.
    """
    kept: list[dict] = []
    dropped: list[tuple[dict, str, float]] = []
    for row in rows:
        pid, score = index.best_match(row["statement"])
        if pid is not None and score > threshold:
            dropped.append((row, pid, score))
        else:
            kept.append(row)
    return kept, dropped

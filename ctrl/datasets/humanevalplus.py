"""HumanEval+ (EvalPlus v0.1.10, 164 problems): source ``humaneval+``; see
:mod:`ctrl.datasets.evalplus` for how rows are normalized.

Run: ``ctrl ingest --source humaneval+``.
"""

from __future__ import annotations

from ctrl.datasets import evalplus
from ctrl.datasets.common import BadRow, Options
from ctrl.datasets.loading import RawSource

DATASET = evalplus.HUMANEVAL_PLUS
SOURCE = DATASET.source
VERSION = evalplus.VERSION
ID_FIELDS = evalplus.ID_FIELDS
native_id = evalplus.native_id
summarize = evalplus.summarize


def load(split: str | None) -> RawSource:
    return evalplus.load(DATASET, split)


def statements(rows: list[tuple[str, int, dict]]) -> list[tuple[str, str]]:
    return evalplus.statements(DATASET, rows)


def normalize_all(rows: list[tuple[str, int, dict]],
                  opts: Options) -> list[tuple[int, dict | BadRow]]:
    return evalplus.normalize_all(DATASET, rows, opts)

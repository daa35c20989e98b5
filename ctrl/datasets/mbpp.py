"""MBPP (974 problems), shipped in ``ctrl/assets/data/mbpp/mbpp.jsonl`` (CC-BY-4.0, see
ATTRIBUTION.md there).

Rows: ``task_id, text, code, test_setup_code, test_list (3 asserts), challenge_test_list``.
Official splits by task_id: 1-10 ``prompt``, 11-510 ``test``, 511-600 ``validation``,
601-974 ``train``. Normalized as

- statement: ``text`` plus the first test as the usage example, as MBPP prompts customarily show
  one ("Your code should pass this test: ..."); that shown test is the public test;
- private tests: every ``test_list`` assert plus ``challenge_test_list`` (the standard MBPP check
  and then some), ``assert`` kind with ``test_setup_code`` as setup;
- entry_point: the function the first test calls; canonical_solution: ``code`` with CRLF -> LF.

Run: ``ctrl ingest --source mbpp [--split test]``.
"""

from __future__ import annotations

import ast
import json
import pathlib

from ctrl.datasets.common import (BadRow, Options, normalize_newlines, problem_row,
                                  require_str)
from ctrl.datasets.loading import RawSource, SourceError, path_fingerprint

SOURCE = "mbpp"
SPLITS = (("prompt", 1, 10), ("test", 11, 510), ("validation", 511, 600), ("train", 601, 974))
RULE = ("public: test_list[0], shown in the statement; private: all of test_list + "
        "challenge_test_list")


def data_path() -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parent.parent / "assets/data/mbpp/mbpp.jsonl"


def split_of(task_id: int) -> str:
    for name, lo, hi in SPLITS:
        if lo <= task_id <= hi:
            return name
    raise BadRow(f"task_id {task_id} is outside MBPP's official ranges 1-974")


def load(split: str | None) -> RawSource:
    """All rows by official split (prompt, test, validation, train: task_id order)."""
    names = [s for s, _, _ in SPLITS]
    if split is not None and split not in names:
        raise SourceError(f"MBPP has splits {', '.join(names)}; not {split!r}")
    path = data_path()
    by_split: dict[str, list[dict]] = {name: [] for name in names}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                tid = row.get("task_id")
                by_split[split_of(tid) if isinstance(tid, int) else "train"].append(row)
    parts = [(s, by_split[s]) for s in names if split is None or s == split]
    return RawSource(parts, path_fingerprint(path), str(path))


ID_FIELDS = ("task_id",)


def native_id(row: dict, split: str, index: int) -> str:
    return str(row.get("task_id", index))


def called_name(test: str) -> str:
    """The function an ``assert f(...) == ...`` calls first."""
    try:
        tree = ast.parse(test)
    except SyntaxError as e:
        raise BadRow(f"test {test[:80]!r} is not valid Python: {e.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id not in {"set", "sorted", "list", "tuple", "abs", "round", "math",
                                    "isclose", "len", "str", "int", "float", "frozenset"}:
                return node.func.id
    raise BadRow(f"test {test[:80]!r} calls no function by name")


def _str_list(row: dict, field: str) -> list[str]:
    value = row.get(field) or []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise BadRow(f"field {field!r} should be a list of assert strings")
    return value


def normalize(row: dict, split: str, index: int, opts: Options) -> dict:
    """One MBPP row -> a `problems` row (see module docstring)."""
    text = require_str(row, "text")
    code = require_str(row, "code")
    tests = _str_list(row, "test_list")
    if not tests:
        raise BadRow("field 'test_list' is empty (no tests)")
    challenge = _str_list(row, "challenge_test_list")
    setup = normalize_newlines(row.get("test_setup_code") or "")
    # The entry point is declared: a test calling it by a builtin's name (mbpp/126 `sum`) means the
    # candidate's function (the sandbox gives test code pristine builtins otherwise)
    entry = called_name(tests[0])
    public = {"kind": "assert", "entry_point": entry, "cases": tests[:1], "setup": setup}
    private = {"kind": "assert", "entry_point": entry, "cases": tests + challenge, "setup": setup}
    statement = f"{text.strip()}\nYour code should pass this test:\n\n{tests[0]}"
    return problem_row(
        source=SOURCE, native_id=native_id(row, split, index), split=split, statement=statement,
        public=public, private=private, rule=RULE, opts=opts, entry_point=entry,
        canonical_solution=code, meta={"task_id": row.get("task_id"), "text": text,
                                       "n_challenge": len(challenge)})

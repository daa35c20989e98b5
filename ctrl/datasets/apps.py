"""APPS (codeparrot/apps) and the APPS-style ``input_output`` field shared with TACO.

Native schema (dataset card): ``problem_id, question, solutions (JSON str: list of Python
programs), input_output (JSON str: {"inputs": [...], "outputs": [...], "fn_name"?: str}),
difficulty, url, starter_code``.

Tests follow the official APPS harness (``test_one_solution.py``):

- no ``fn_name`` -> ``stdin`` tests; an input or output given as a list of lines is joined with
  newlines, as the harness does;
- ``fn_name`` -> ``call`` tests; each input is the argument list; an output that is a 1-element
  list is unwrapped (APPS stores return values wrapped, and the harness accepts ``out ==
  outputs[i][0]``). When the starter code defines ``class Solution`` the entry point is
  ``Solution.<fn_name>`` (the sandbox, like the harness, calls ``Solution().fn_name``).
- APPS has one test list: the first ``public_cases`` cases are public, the rest private (see
  :func:`ctrl.datasets.common.split_single_list`), recorded in ``test_split_rule``.

Run: ``ctrl ingest --source codeparrot/apps --format apps`` (hub) or ``--source train.jsonl``.
"""

from __future__ import annotations

import json
from typing import Any

from ctrl.datasets.common import (BadRow, Options, call_tests, cap_private, parse_json_field,
                                  problem_row, require_str, split_single_list, stdin_tests,
                                  stdin_text)

SOURCE = "apps"
HUB_ID = "codeparrot/apps"
# codeparrot/apps ships a loading script that `datasets` >= 4 no longer runs: read its files.
HUB_DATA_FILES = {"train": "train.jsonl", "test": "test.jsonl"}
CALL_RULE = "call outputs: 1-element lists unwrapped as the APPS harness accepts"


def _unwrap(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def io_tests(io: Any, starter_code: str, opts: Options) -> tuple[dict, dict, str, str]:
    """(public, private, rule, entry_point) from a parsed APPS ``input_output`` object."""
    if not isinstance(io, dict):
        raise BadRow(f"input_output should be a JSON object, got {type(io).__name__}")
    inputs, outputs = io.get("inputs"), io.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise BadRow("input_output needs list fields 'inputs' and 'outputs'")
    if len(inputs) != len(outputs):
        raise BadRow(f"input_output has {len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise BadRow("input_output has no test cases")
    fn_name = io.get("fn_name")
    if fn_name is not None and not (isinstance(fn_name, str) and fn_name.isidentifier()):
        raise BadRow(f"fn_name should be an identifier string, got {fn_name!r}")
    if fn_name:
        cases = []
        for i, (args, out) in enumerate(zip(inputs, outputs)):
            if not isinstance(args, list):
                raise BadRow(f"call-based case {i}: input should be an argument list, "
                             f"got {type(args).__name__}")
            cases.append((args, _unwrap(out)))
        entry = f"Solution.{fn_name}" if "class Solution" in (starter_code or "") else fn_name
        pub, priv, rule = split_single_list(cases, opts)
        priv, cap = cap_private(priv, opts)
        return (call_tests(entry, pub), call_tests(entry, priv), f"{rule}{cap}; {CALL_RULE}",
                entry)
    cases = [(stdin_text(i, f"case {n} input"), stdin_text(o, f"case {n} output"))
             for n, (i, o) in enumerate(zip(inputs, outputs))]
    pub, priv, rule = split_single_list(cases, opts)
    priv, cap = cap_private(priv, opts)
    return stdin_tests(pub), stdin_tests(priv), rule + cap, ""


def first_solution(row: dict) -> str | None:
    """The first reference solution from a JSON-string ``solutions`` list (None if absent/bad)."""
    text = row.get("solutions")
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        sols = json.loads(text)
    except json.JSONDecodeError:
        return None
    return sols[0] if isinstance(sols, list) and sols and isinstance(sols[0], str) else None


ID_FIELDS = ("problem_id",)


def native_id(row: dict, split: str, index: int) -> str:
    """``<split>/<problem_id>``: APPS numbers train and test problems from 0 each."""
    pid = row.get("problem_id")
    return f"{split}/{pid if pid is not None else index}"


def normalize(row: dict, split: str, index: int, opts: Options) -> dict:
    """One APPS row -> a `problems` row (see module docstring)."""
    return io_problem(row, source=SOURCE, native_id=native_id(row, split, index), split=split,
                      opts=opts, meta={"problem_id": row.get("problem_id"), "url": row.get("url")})


def io_problem(row: dict, *, source: str, native_id: str, split: str, opts: Options,
               meta: dict, **limits: Any) -> dict:
    """A `problems` row from an APPS-format row (``question``, ``starter_code``,
    ``input_output``, ``solutions``); shared with TACO, which adds ``limits``."""
    question = require_str(row, "question")
    starter = row.get("starter_code") or ""
    if not isinstance(starter, str):
        raise BadRow(f"field 'starter_code' should be a string, got {type(starter).__name__}")
    io = parse_json_field(row, "input_output")
    public, private, rule, entry = io_tests(io, starter, opts)
    return problem_row(
        source=source, native_id=native_id, split=split, statement=question,
        starter_code=starter, entry_point=entry, public=public, private=private, rule=rule,
        opts=opts, difficulty=row.get("difficulty"), canonical_solution=first_solution(row),
        meta=meta, **limits)

"""LiveCodeBench code generation (livecodebench/code_generation_lite).

Native schema (dataset card): ``question_title, question_content, platform, question_id,
contest_id, contest_date, starter_code, difficulty, public_test_cases (JSON str: list of {input,
output, testtype: "stdin"|"functional"}), private_test_cases (same, often compressed), metadata
(JSON str, ``func_name`` for functional problems)``.

- ``private_test_cases`` is either JSON or base64(zlib(pickle(JSON string))), as LiveCodeBench's
  own loader decodes it. We unpickle with an Unpickler whose ``find_class`` refuses every global,
  so only plain str/list/dict/number data can be built and no code runs; decompression is capped
  at 512 MiB. Anything else quarantines the row.
- ``functional`` cases become ``call`` tests: the input holds one JSON value per line (the
  arguments), the output one JSON value; with LeetCode starter code (``class Solution``) the
  entry point is ``Solution.<func_name>`` (the sandbox calls ``Solution().func_name``).
  ``stdin`` cases become ``stdin`` tests.
- public = public_test_cases, private = private_test_cases (capped by ``max_private_cases``).

Run: ``ctrl ingest --source livecodebench/code_generation_lite --format livecodebench``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from typing import Any

from ctrl.datasets.common import (BadRow, Options, call_tests, cap_private, problem_row,
                                  require_str, stdin_tests)

SOURCE = "livecodebench"
HUB_ID = "livecodebench/code_generation_lite"
# The repo's loading script is not run by `datasets` >= 4: read its JSONL releases directly.
HUB_DATA_FILES = {"test": "test*.jsonl"}
MAX_DECOMPRESSED = 512 << 20


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def decode_cases(text: Any, field: str) -> list:
    """A test-case list from JSON, or from LiveCodeBench's base64+zlib+pickle encoding."""
    if not isinstance(text, str) or not text.strip():
        raise BadRow(f"field {field!r} is missing or empty (no tests)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
            d = zlib.decompressobj()
            data = d.decompress(raw, MAX_DECOMPRESSED)
            if d.unconsumed_tail:
                raise BadRow(f"field {field!r} decompresses to more than 512 MiB")
            value = _NoGlobals(io.BytesIO(data)).load()
            if isinstance(value, (str, bytes)):
                value = json.loads(value)
        except (binascii.Error, ValueError, zlib.error, pickle.UnpicklingError, EOFError) as e:
            raise BadRow(f"field {field!r} is neither JSON nor base64+zlib+pickle: "
                         f"{type(e).__name__}: {str(e)[:120]}") from None
    if not isinstance(value, list):
        raise BadRow(f"field {field!r} should decode to a list, got {type(value).__name__}")
    return value


def _case(c: Any, where: str) -> tuple[str, str, str]:
    if not isinstance(c, dict) or not isinstance(c.get("input"), str) \
            or not isinstance(c.get("output"), str):
        raise BadRow(f"{where}: a case should be {{input: str, output: str, testtype}}")
    kind = c.get("testtype", "stdin")
    if kind not in ("stdin", "functional"):
        raise BadRow(f"{where}: unknown testtype {kind!r}")
    return c["input"], c["output"], kind


def build_tests(cases: list, where: str, func_name: str | None, class_name: str | None) -> dict:
    """A sandbox tests object from LiveCodeBench cases (all of one testtype)."""
    parsed = [_case(c, f"{where} case {i}") for i, c in enumerate(cases)]
    kinds = {k for _, _, k in parsed}
    if len(kinds) > 1:
        raise BadRow(f"{where}: mixed testtypes {sorted(kinds)}")
    if kinds == {"functional"}:
        if not func_name:
            raise BadRow("functional tests but metadata has no func_name")
        call_cases = []
        for i, (inp, out, _) in enumerate(parsed):
            try:
                args = [json.loads(line) for line in inp.split("\n") if line.strip()]
                expected = json.loads(out)
            except json.JSONDecodeError as e:
                raise BadRow(f"{where} case {i}: functional input/output is not JSON: {e}") \
                    from None
            call_cases.append((args, expected))
        return call_tests(f"{class_name}.{func_name}" if class_name else func_name, call_cases)
    return stdin_tests([(i, o) for i, o, _ in parsed])


DATE_FIELD = "contest_date"
ID_FIELDS = ("question_id",)


def native_id(row: dict, split: str, index: int) -> str:
    qid = row.get("question_id")
    return str(qid) if qid not in (None, "") else str(index)


def normalize(row: dict, split: str, index: int, opts: Options) -> dict:
    """One LiveCodeBench row -> a `problems` row (see module docstring)."""
    content = require_str(row, "question_content")
    starter = row.get("starter_code") or ""
    if not isinstance(starter, str):
        raise BadRow(f"field 'starter_code' should be a string, got {type(starter).__name__}")
    try:
        meta = json.loads(row.get("metadata") or "{}")
    except json.JSONDecodeError as e:
        raise BadRow(f"field 'metadata' is not valid JSON: {e}") from None
    func = meta.get("func_name") if isinstance(meta, dict) else None
    cls = "Solution" if "class Solution" in starter else None
    public = build_tests(decode_cases(row.get("public_test_cases"), "public_test_cases"),
                         "public_test_cases", func, cls)
    private = build_tests(decode_cases(row.get("private_test_cases"), "private_test_cases"),
                          "private_test_cases", func, cls)
    if public["kind"] != private["kind"]:
        raise BadRow(f"public tests are {public['kind']} but private are {private['kind']}")
    private["cases"], cap = cap_private(private["cases"], opts)
    title = row.get("question_title") or ""
    return problem_row(
        source=SOURCE, native_id=native_id(row, split, index), split=split,
        statement=f"{title}\n\n{content}" if title else content, starter_code=starter,
        entry_point=public.get("entry_point", ""), public=public,
        private=private, rule="public: public_test_cases; private: private_test_cases" + cap,
        opts=opts, difficulty=row.get("difficulty"), canonical_solution=None,
        meta={"platform": row.get("platform"), "contest_id": row.get("contest_id"),
              "contest_date": str(row.get("contest_date") or "") or None,
              "question_title": title, "func_name": func})

"""DeepMind CodeContests (deepmind/code_contests): stdin problems with three test lists.

Native schema (dataset card): ``name, description, public_tests {input: [str], output: [str]},
private_tests, generated_tests, source (enum int), difficulty (enum int), solutions {language:
[int], solution: [str]}, incorrect_solutions, cf_contest_id, cf_index, cf_points, cf_rating,
cf_tags, is_description_translated, untranslated_description, time_limit {seconds, nanos},
memory_limit_bytes, input_file, output_file``; splits train / valid / test.

Normalized as: public = ``public_tests``; private = ``private_tests + generated_tests`` in that
order, capped by ``max_private_cases`` (the CTRL paper evaluates on the first 10 tests); all
``stdin``. Rows missing public or private+generated tests are quarantined, as RLEF drops them.
Difficulty and source enums become their names (``EASY``, ``A``..., ``CODEFORCES``...); the
canonical solution is the first Python 3 solution. Limits come from the row (``time_limit``,
``memory_limit_bytes``), else the config defaults.

Run: ``ctrl ingest --source deepmind/code_contests --format codecontests --split test``.
"""

from __future__ import annotations

from typing import Any

from ctrl.datasets.common import (BadRow, Options, cap_private, problem_row, require_str,
                                  stdin_tests)

SOURCE = "codecontests"
HUB_ID = "deepmind/code_contests"
HUB_DATA_FILES = None
SOURCES = ["UNKNOWN_SOURCE", "CODECHEF", "CODEFORCES", "HACKEREARTH", "CODEJAM", "ATCODER", "AIZU"]
DIFFICULTIES = ["UNKNOWN_DIFFICULTY", "EASY", "MEDIUM", "HARD", "HARDER", "HARDEST", "EXTERNAL"]
PYTHON3 = 3
RULE = "public: public_tests; private: private_tests + generated_tests"


def enum_name(value: Any, names: list[str]) -> str | None:
    """CodeContests enum int -> name (difficulty 7.. are Codeforces letters A, B, ...)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if not isinstance(value, int):
        raise BadRow(f"enum value should be an int, got {type(value).__name__}")
    if 0 <= value < len(names):
        return names[value]
    if names is DIFFICULTIES and 7 <= value < 7 + 26:
        return chr(ord("A") + value - 7)
    return str(value)


def test_pairs(row: dict, field: str) -> list[tuple[str, str]]:
    """(input, output) pairs of a ``{input: [...], output: [...]}`` field."""
    t = row.get(field)
    if t is None:
        return []
    if not isinstance(t, dict):
        raise BadRow(f"field {field!r} should be {{input: [...], output: [...]}}, "
                     f"got {type(t).__name__}")
    ins, outs = t.get("input") or [], t.get("output") or []
    if not isinstance(ins, list) or not isinstance(outs, list):
        raise BadRow(f"field {field!r}: input and output should be lists")
    if len(ins) != len(outs):
        raise BadRow(f"field {field!r} has {len(ins)} inputs but {len(outs)} outputs")
    for i, (a, b) in enumerate(zip(ins, outs)):
        if not isinstance(a, str) or not isinstance(b, str):
            raise BadRow(f"field {field!r} case {i}: input and output should be strings")
    return list(zip(ins, outs))


def python3_solution(row: dict) -> str | None:
    sols = row.get("solutions") or {}
    langs, codes = sols.get("language") or [], sols.get("solution") or []
    for lang, code in zip(langs, codes):
        if lang == PYTHON3 and isinstance(code, str):
            return code
    return None


def time_limit(row: dict) -> float | None:
    t = row.get("time_limit")
    if not isinstance(t, dict):
        return None
    secs = (t.get("seconds") or 0) + (t.get("nanos") or 0) / 1e9
    return float(secs) if secs > 0 else None


ID_FIELDS = ("name",)


def native_id(row: dict, split: str, index: int) -> str:
    name = row.get("name")
    return name if isinstance(name, str) and name.strip() else str(index)


def normalize(row: dict, split: str, index: int, opts: Options) -> dict:
    """One CodeContests row -> a `problems` row (see module docstring)."""
    description = require_str(row, "description")
    public = test_pairs(row, "public_tests")
    private = test_pairs(row, "private_tests") + test_pairs(row, "generated_tests")
    if not public:
        raise BadRow("no public_tests (RLEF drops such problems)")
    if not private:
        raise BadRow("no private_tests or generated_tests (RLEF drops such problems)")
    private, cap = cap_private(private, opts)
    mem = row.get("memory_limit_bytes")
    return problem_row(
        source=SOURCE, native_id=native_id(row, split, index), split=split, statement=description,
        public=stdin_tests(public), private=stdin_tests(private), rule=RULE + cap, opts=opts,
        difficulty=enum_name(row.get("difficulty"), DIFFICULTIES),
        time_limit_s=time_limit(row),
        memory_mb=int(mem) // (1 << 20) if isinstance(mem, int) and mem > 0 else None,
        canonical_solution=python3_solution(row),
        meta={"name": row.get("name"), "source": enum_name(row.get("source"), SOURCES),
              "cf_rating": row.get("cf_rating"), "cf_tags": row.get("cf_tags"),
              "n_generated": len(test_pairs(row, "generated_tests")),
              "input_file": row.get("input_file") or None})

"""Shared pieces of the dataset adapters: the `problems` row, bad-row errors, test builders.

Every adapter turns one native row into one `problems` row (columns in docs/internals.md) with
:func:`problem_row`, or raises :class:`BadRow` with a reason; the ingest stage sends bad rows to the
`quarantine` table instead of stopping. Tests are stored as JSON strings of the sandbox ``tests``
object (``stdin``/``call``/``assert``/``program``), so they can be handed to the sandbox as
they are.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Sequence

import pyarrow as pa

PROBLEMS_SCHEMA = pa.schema(
    [
        ("problem_id", pa.string()),
        ("source", pa.string()),
        ("split", pa.string()),
        ("difficulty", pa.string()),
        ("statement", pa.string()),
        ("starter_code", pa.string()),
        ("entry_point", pa.string()),
        ("test_kind", pa.string()),
        ("public_tests", pa.string()),
        ("private_tests", pa.string()),
        ("n_public", pa.int64()),
        ("n_private", pa.int64()),
        ("test_split_rule", pa.string()),
        ("time_limit_s", pa.float64()),
        ("memory_mb", pa.int64()),
        ("canonical_solution", pa.string()),
        ("meta", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("split", pa.string()),
        ("row_index", pa.int64()),
        ("native_id", pa.string()),
        ("kind", pa.string()),  # "malformed" | "contaminated"
        ("reason", pa.string()),
        ("matched_problem_id", pa.string()),
        ("overlap", pa.float64()),
        ("raw", pa.string()),
    ]
)

RAW_PREVIEW_CHARS = 2000


class BadRow(ValueError):
    """A native row that cannot become a problem; the message is the quarantine reason."""


@dataclasses.dataclass(frozen=True)
class Options:
    """Per-ingest knobs the adapters need (a subset of IngestConfig).

    Attributes:
        public_cases: with a single test list, how many leading cases become public.
        max_private_cases: cap on private cases (None = all), e.g. 10 for the CTRL eval protocol.
        time_limit_s: per-case time limit when the dataset gives none.
        memory_mb: memory limit when the dataset gives none.
    """

    public_cases: int = 1
    max_private_cases: int | None = None
    time_limit_s: float = 10.0
    memory_mb: int = 1024


def dumps(value: Any) -> str:
    """Compact, deterministic JSON (keys sorted) for stored test objects and meta."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def raw_preview(row: Any) -> str:
    """The native row as truncated JSON, for the quarantine table."""
    text = json.dumps(row, ensure_ascii=False, default=str)
    if len(text) > RAW_PREVIEW_CHARS:
        return text[:RAW_PREVIEW_CHARS] + f"... [{len(text) - RAW_PREVIEW_CHARS} chars cut]"
    return text


def require_str(row: dict, field: str, *, allow_empty: bool = False) -> str:
    """``row[field]`` as a string, or BadRow naming the field and what it held."""
    value = row.get(field)
    if not isinstance(value, str):
        raise BadRow(f"field {field!r} should be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise BadRow(f"field {field!r} is empty")
    return value


def parse_json_field(row: dict, field: str) -> Any:
    """Parse a JSON-string field, or BadRow quoting the parser's complaint."""
    text = row.get(field)
    if text is None or (isinstance(text, str) and not text.strip()):
        raise BadRow(f"field {field!r} is missing or empty (no tests)")
    if not isinstance(text, str):
        raise BadRow(f"field {field!r} should be a JSON string, got {type(text).__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRow(f"field {field!r} is not valid JSON: {e}") from None


def normalize_newlines(text: str | None) -> str | None:
    """CRLF/CR line ends to LF (MBPP's reference code has CRLF inside)."""
    if text is None:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def stdin_text(value: Any, what: str) -> str:
    """An APPS-style stdin/stdout value as text: strings as is, lists of lines joined by newlines
    (as the official APPS harness does)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise BadRow(f"{what} should be a string or a list of strings, got {type(value).__name__}")


def stdin_tests(cases: Sequence[tuple[str, str]]) -> dict:
    """A sandbox ``stdin`` tests object."""
    return {"kind": "stdin", "cases": [{"input": i, "output": o} for i, o in cases]}


def call_tests(entry_point: str, cases: Sequence[tuple[list, Any]], **extra: Any) -> dict:
    """A sandbox ``call`` tests object (``entry_point`` may be ``Solution.method``).

    Expected values written as JSON (APPS, TACO, LiveCodeBench) compare as those harnesses do,
    tuples as lists (``compare: "json"``); pass ``compare=`` to choose another sandbox rule."""
    obj = {"kind": "call", "entry_point": entry_point, "compare": "json",
           "cases": [{"args": a, "expected": e} for a, e in cases]}
    obj.update(extra)
    return obj


def split_single_list(cases: list, opts: Options) -> tuple[list, list, str]:
    """Split one test list deterministically into (public, private, rule).

    The first ``min(public_cases, n - 1)`` cases are public, the rest private; a problem with a
    single case uses it as both (there is nothing else to show), and the rule says so.
    """
    n = len(cases)
    if n == 0:
        raise BadRow("no test cases")
    if n == 1:
        return list(cases), list(cases), "single test list with 1 case: used as public and private"
    k = max(1, min(opts.public_cases, n - 1))
    return (list(cases[:k]), list(cases[k:]),
            f"single test list: first {k} of {n} cases public, remaining {n - k} private")


def cap_private(cases: list, opts: Options) -> tuple[list, str]:
    """Apply ``max_private_cases``; returns the cases and a rule suffix ('' when uncapped)."""
    cap = opts.max_private_cases
    if cap is None or len(cases) <= cap:
        return list(cases), ""
    return list(cases[:cap]), f"; private capped to first {cap} of {len(cases)}"


_SIZE = re.compile(r"([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)")


def _amount(value: Any) -> tuple[float, str] | None:
    """(number, lower-case unit) of ``2``, ``'1.5 s'``, ``'256 megabytes'``; None if absent."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), ""
    m = _SIZE.search(value) if isinstance(value, str) else None
    return (float(m.group(1)), m.group(2).lower()) if m else None


def parse_seconds(value: Any) -> float | None:
    """'2 seconds', '1.5 s', '1000 ms', 2 -> seconds; None when absent or unparsable."""
    amount = _amount(value)
    if amount is None:
        return None
    num, unit = amount
    if unit.startswith("ms") or unit.startswith("milli"):
        num /= 1000.0
    return num if num > 0 else None


def parse_megabytes(value: Any) -> int | None:
    """'256 megabytes', '512 MB', '1 GB' -> MB; None when absent or unparsable."""
    amount = _amount(value)
    if amount is None:
        return None
    num, unit = amount
    if unit.startswith("g"):
        num *= 1024
    elif unit.startswith("k"):
        num /= 1024
    return int(num) if num > 0 else None


def problem_row(
    *,
    source: str,
    native_id: str,
    split: str,
    statement: str,
    public: dict,
    private: dict,
    rule: str,
    opts: Options,
    difficulty: Any = None,
    starter_code: str | None = "",
    entry_point: str = "",
    time_limit_s: float | None = None,
    memory_mb: int | None = None,
    canonical_solution: str | None = None,
    meta: dict | None = None,
) -> dict:
    """One `problems` row; fills limits from ``opts`` when the dataset gives none.

    ``test_kind`` is the kind of the private tests (the ones that decide correctness); the public
    tests object carries its own ``kind`` (HumanEval: public ``assert``, private ``program``).
    """
    if not statement or not statement.strip():
        raise BadRow("empty statement")
    n_private = len(private.get("cases", [])) if private["kind"] != "program" else 1
    if n_private == 0:
        raise BadRow("no private test cases")
    return {
        "problem_id": f"{source}/{native_id}",
        "source": source,
        "split": split,
        "difficulty": None if difficulty in (None, "") else str(difficulty),
        "statement": normalize_newlines(statement),
        "starter_code": normalize_newlines(starter_code or ""),
        "entry_point": entry_point or "",
        "test_kind": private["kind"],
        "public_tests": dumps(public),
        "private_tests": dumps(private),
        "n_public": len(public.get("cases", [])) if public["kind"] != "program" else 1,
        "n_private": n_private,
        "test_split_rule": rule,
        "time_limit_s": float(time_limit_s or opts.time_limit_s),
        "memory_mb": int(memory_mb or opts.memory_mb),
        "canonical_solution": normalize_newlines(canonical_solution),
        "meta": dumps(meta or {}),
    }

"""TACO (BAAI/TACO): APPS-style problems with tags, skills and limits.

Native schema (dataset card): ``question, solutions (JSON str), starter_code, input_output (JSON
str, APPS format), difficulty, raw_tags, name, source, tags, skill_types, url, Expected Auxiliary
Space, time_limit (e.g. "1 second"), date, picture_num, Expected Time Complexity, memory_limit
(e.g. "256 megabytes")``. Tests are built exactly as for APPS (:mod:`ctrl.datasets.apps`):
``fn_name`` -> ``call``, else ``stdin``; one test list split by ``public_cases``. TACO has no id
column, so the native id is ``<split>/<row index>``; ``name`` and ``url`` are kept in ``meta``.

Run: ``ctrl ingest --source BAAI/TACO --format taco`` (hub) or ``--source taco-train.parquet``.
"""

from __future__ import annotations

from ctrl.datasets.apps import first_solution, io_tests
from ctrl.datasets.common import (BadRow, Options, parse_json_field, parse_megabytes,
                                  parse_seconds, problem_row, require_str)

SOURCE = "taco"
HUB_ID = "BAAI/TACO"
# BAAI/TACO ships a loading script that `datasets` >= 4 no longer runs: read its Arrow files.
HUB_DATA_FILES = {"train": "train/*.arrow", "test": "test/*.arrow"}
META_FIELDS = ("name", "source", "url", "tags", "skill_types", "raw_tags", "date", "picture_num",
               "Expected Time Complexity", "Expected Auxiliary Space")


DATE_FIELD = "date"
ID_FIELDS: tuple[str, ...] = ()


def native_id(row: dict, split: str, index: int) -> str:
    return f"{split}/{index}"


def normalize(row: dict, split: str, index: int, opts: Options) -> dict:
    """One TACO row -> a `problems` row (see module docstring)."""
    question = require_str(row, "question")
    starter = row.get("starter_code") or ""
    if not isinstance(starter, str):
        raise BadRow(f"field 'starter_code' should be a string, got {type(starter).__name__}")
    io = parse_json_field(row, "input_output")
    public, private, rule, entry = io_tests(io, starter, opts)
    return problem_row(
        source=SOURCE, native_id=native_id(row, split, index), split=split, statement=question,
        starter_code=starter, entry_point=entry, public=public, private=private, rule=rule,
        opts=opts, difficulty=row.get("difficulty"),
        time_limit_s=parse_seconds(row.get("time_limit")),
        memory_mb=parse_megabytes(row.get("memory_limit")),
        canonical_solution=first_solution(row),
        meta={k: row.get(k) for k in META_FIELDS if row.get(k) is not None})

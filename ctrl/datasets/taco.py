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

from ctrl.datasets.apps import io_problem
from ctrl.datasets.common import Options, parse_megabytes, parse_seconds

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
    meta = {k: row.get(k) for k in META_FIELDS if row.get(k) is not None}
    return io_problem(row, source=SOURCE, native_id=native_id(row, split, index), split=split,
                      opts=opts, meta=meta, time_limit_s=parse_seconds(row.get("time_limit")),
                      memory_mb=parse_megabytes(row.get("memory_limit")))

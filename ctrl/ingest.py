"""Stage ``ingest``: normalize a benchmark into the `problems` table (+ `quarantine`).

Reads a built-in source (``humaneval``, ``mbpp``, ``humaneval+``, ``mbpp+``) or a local
file/directory or hub id in one of the formats of :mod:`ctrl.datasets` (``apps``, ``taco``,
``codecontests``, ``livecodebench``). Writes, under one artifact key:

- ``problems``: one row per good problem (columns in docs/internals.md), public and private tests
  kept apart, each stored as the sandbox's ``tests`` JSON;
- ``quarantine``: one row per dropped native row: ``kind`` ``malformed`` (reason, truncated raw
  row) or ``contaminated`` (matched evaluation problem and overlap score).

The key covers the config and a fingerprint of the input data (file sha256 / hub revision), so a
re-run is a cache hit and changed data or parameters give a new key. Run::

    ctrl ingest --source mbpp --split test
    ctrl ingest --source humaneval
    ctrl ingest --source humaneval+
    ctrl ingest --source deepmind/code_contests --format codecontests --split test \\
        --max-private-cases 10
    ctrl ingest --source taco.parquet --format taco --decontaminate-against humaneval,mbpp:test
"""

from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
import re
import sys
import time
from typing import Any

from ctrl.fingerprint import code_version
from ctrl.config import ConfigError, doc, to_dict
from ctrl.errors import UserError
from ctrl.datasets import BUILTIN, FORMATS, BadRow, Options, adapter, normalize_all
from ctrl.datasets.common import PROBLEMS_SCHEMA, QUARANTINE_SCHEMA, raw_preview
from ctrl.datasets.loading import RawSource, load_source
from ctrl.decontam import NgramIndex, decontaminate
from ctrl.stage import Outputs, StageResult, materialize_tables
from storage import Store

STAGE = "ingest"
VERSION = code_version("3", __name__, "ctrl.datasets", "ctrl.decontam")  # 3: MBPP tests declare their entry point (the sandbox binds builtins first otherwise)
SHARD_SIZE = 2000
_KEY_RE = re.compile(r"^[0-9a-f]{16}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATED_FORMATS = ("livecodebench", "taco")


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """How to ingest one dataset into `problems`."""

    source: str = doc("'humaneval', 'mbpp', 'humaneval+', 'mbpp+', a local file/directory, or a "
                      "hub id (owner/name)")
    format: str | None = doc(
        f"native format of a file/hub source: {', '.join(FORMATS)}; not needed for built-ins",
        None)
    split: str | None = doc("only this split (e.g. test); None = every split", None)
    limit: int | None = doc("keep only the first N native rows (split order, then file order)",
                            None)
    date_from: str | None = doc(
        "keep problems dated on/after this ISO date (livecodebench contest_date, taco date); "
        "e.g. 2024-08-01 for the CTRL LiveCodeBench window", None)
    date_to: str | None = doc("keep problems dated on/before this ISO date, e.g. 2024-11-01",
                              None)
    public_cases: int = doc("with one test list (APPS, TACO), how many leading cases are public",
                            1)
    max_private_cases: int | None = doc(
        "cap private cases per problem (CTRL evaluates CodeContests on the first 10); None = all",
        None)
    time_limit_s: float = doc("per-case time limit when the dataset gives none", 10.0)
    memory_mb: int = doc("memory limit in MB when the dataset gives none", 1024)
    decontaminate_against: tuple[str, ...] = doc(
        "evaluation sets NAME[:SPLIT] (humaneval, mbpp, or a problems artifact key) whose "
        "statements training problems must not overlap", ())
    ngram: int = doc("words per n-gram for decontamination", 10)
    overlap_threshold: float = doc(
        "drop a problem when this fraction of its statement n-grams occur in one eval problem",
        0.5)

    def __post_init__(self) -> None:
        if not self.source or not self.source.strip():
            raise ConfigError("source is empty; pass --source humaneval|mbpp|PATH|HUB_ID")
        if self.source in BUILTIN:
            if self.format not in (None, self.source):
                raise ConfigError(f"source {self.source!r} is built in; drop --format")
        elif self.format is None:
            raise ConfigError(f"source {self.source!r} needs --format, one of "
                              f"{', '.join(FORMATS)}")
        elif self.format not in FORMATS:
            raise ConfigError(f"unknown format {self.format!r}; use one of "
                              f"{', '.join(FORMATS)}")
        for name, value, low in (("limit", self.limit, 1), ("public_cases", self.public_cases, 1),
                                 ("max_private_cases", self.max_private_cases, 1),
                                 ("memory_mb", self.memory_mb, 1), ("ngram", self.ngram, 1)):
            if value is not None and (not isinstance(value, int) or value < low):
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if not self.time_limit_s > 0:
            raise ConfigError(f"time_limit_s must be > 0, got {self.time_limit_s!r}")
        if not 0.0 < self.overlap_threshold <= 1.0:
            raise ConfigError(f"overlap_threshold must be in (0, 1], got "
                              f"{self.overlap_threshold!r}")
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and not _DATE_RE.match(value):
                raise ConfigError(f"{name} must be an ISO date YYYY-MM-DD, got {value!r}")
        if (self.date_from or self.date_to) and self.format not in DATED_FORMATS:
            raise ConfigError(f"--date-from/--date-to apply to formats {', '.join(DATED_FORMATS)}"
                              f"; drop them for {self.format or self.source}")
        if isinstance(self.decontaminate_against, str):
            raise ConfigError("decontaminate_against must be a tuple of names, e.g. "
                              "('humaneval', 'mbpp:test')")

    def options(self) -> Options:
        return Options(self.public_cases, self.max_private_cases, self.time_limit_s,
                       self.memory_mb)


class IngestError(UserError, RuntimeError):
    """The ingest cannot run; the message is one line saying what to do."""


def load_raw(config: IngestConfig) -> tuple[Any, RawSource]:
    """The adapter module and the native rows of ``config.source``."""
    if config.source in BUILTIN:
        mod = adapter(config.source)
        try:
            return mod, mod.load(config.split)
        except BadRow as e:
            raise IngestError(str(e)) from None
    mod = adapter(config.format)  # type: ignore[arg-type]
    files = mod.HUB_DATA_FILES if config.source == getattr(mod, "HUB_ID", None) else None
    return mod, load_source(config.source, config.split, data_files=files)


def eval_set(store: Store, spec: str) -> tuple[str, list[tuple[str, str]]]:
    """(fingerprint, [(problem_id, statement)]) of one ``NAME[:SPLIT]`` evaluation set."""
    name, _, split = spec.partition(":")
    split = split or None
    if name in BUILTIN:
        mod = adapter(name)
        raw = mod.load(split)
        if hasattr(mod, "statements"):  # evalplus: no sandbox run just to read statements
            return raw.fingerprint, mod.statements(raw.rows)
        rows = [r for _, r in normalize_all(mod, raw.rows, Options()) if isinstance(r, dict)]
        return raw.fingerprint, [(r["problem_id"], r["statement"]) for r in rows]
    if _KEY_RE.match(name):
        if not store.has_table("problems", name):
            raise IngestError(f"decontamination set {spec!r}: no complete problems artifact "
                              f"{name} in {store.root}; check `ctrl runs`")
        t = store.read_table("problems", name, columns=["problem_id", "split", "statement"])
        rows = [r for r in t.to_pylist() if split is None or r["split"] == split]
        return name, [(r["problem_id"], r["statement"]) for r in rows]
    raise IngestError(f"decontamination set {spec!r}: use humaneval, mbpp (optionally :SPLIT) "
                      "or a 16-hex problems artifact key")


def _quarantine_row(source: str, split: str, index: int, nid: str, kind: str, reason: str,
                    raw: Any, matched: str | None = None, overlap: float | None = None) -> dict:
    return {"source": source, "split": split, "row_index": index, "native_id": nid, "kind": kind,
            "reason": reason, "matched_problem_id": matched, "overlap": overlap,
            "raw": raw_preview(raw)}


def duplicates(mod: Any, raw: RawSource, positions: list[tuple[int, int]]) -> dict:
    """{(split, index): first row's index} for rows repeating an earlier row's native id.

    Reads only the id columns, so it is cheap even on a full CodeContests split."""
    wanted = {(raw.parts[p][0], i) for p, i in positions}
    seen: dict[str, int] = {}
    dupes: dict[tuple[str, int], int] = {}
    for split, i, ids in raw.columns(tuple(mod.ID_FIELDS)):
        if (split, i) not in wanted:
            continue
        nid = mod.native_id(ids, split, i)
        if nid in seen:
            dupes[(split, i)] = seen[nid]
        else:
            seen[nid] = i
    return dupes


def build_rows(mod: Any, rows: list[tuple[str, int, dict]], config: IngestConfig,
               index: NgramIndex | None, dupes: dict) -> tuple[list[dict], list[dict]]:
    """(problems rows, quarantine rows) from one shard of native (split, index, row)."""
    source = mod.SOURCE
    natives = {(s, i): row for s, i, row in rows}
    good, bad = [], []
    for (split, i, native), (_, result) in zip(rows, normalize_all(mod, rows, config.options())):
        nid = mod.native_id(native, split, i) if isinstance(native, dict) else str(i)
        if isinstance(result, BadRow):
            bad.append(_quarantine_row(source, split, i, nid, "malformed", str(result), native))
        elif (split, i) in dupes:
            bad.append(_quarantine_row(source, split, i, nid, "malformed",
                                       f"duplicate of {split} row {dupes[(split, i)]} "
                                       f"(same id {nid})", native))
        else:
            result["_row"] = (split, i, nid)
            good.append(result)
    if index is not None:
        good, dropped = decontaminate(good, index, config.overlap_threshold)
        for row, pid, score in dropped:
            split, i, nid = row["_row"]
            bad.append(_quarantine_row(
                source, split, i, nid, "contaminated",
                f"statement {config.ngram}-gram overlap {score:.2f} with {pid} > "
                f"{config.overlap_threshold}", natives[(split, i)], pid, round(score, 4)))
    for row in good:
        row.pop("_row")
    return good, bad


def in_date_range(mod: Any, raw: RawSource, config: IngestConfig) -> list[tuple[int, int]]:
    """Positions of the rows dated within [date_from, date_to] (all when no range is set).

    Dates compare on their first 10 characters (YYYY-MM-DD); undated rows are left out."""
    positions = raw.positions()
    if not (config.date_from or config.date_to):
        return positions
    field = mod.DATE_FIELD
    lo, hi = config.date_from or "0000-00-00", config.date_to or "9999-99-99"
    dates = {(s, i): str(r.get(field) or "")[:10] for s, i, r in raw.columns((field,))}
    return [(p, i) for p, i in positions if lo <= dates[(raw.parts[p][0], i)] <= hi
            and dates[(raw.parts[p][0], i)]]


def run(store: Store, config: IngestConfig) -> StageResult:
    """Ingest ``config.source`` into `problems` (+ `quarantine`) under one key.

    Shards of native rows are normalized one at a time (bounded memory); each shard's problems
    and quarantine rows are written under the same shard index, so a killed run resumes where it
    stopped. Both tables are committed as a group (``ctrl.stage.materialize_tables``): the
    quarantine manifest first, the problems manifest last; a cache hit needs both.

    Returns:
        The problems StageResult; ``metrics`` has rows_per_split, problems, quarantined,
        contaminated, native_rows, seconds, and the adapter's ``summarize`` totals if it has one.
    """
    t0 = time.monotonic()
    mod, raw = load_raw(config)
    inputs = {"data": raw.fingerprint}
    if hasattr(mod, "VERSION"):  # the adapter's own output version (evalplus: computed outputs)
        inputs["adapter"] = mod.VERSION
    docs: list[tuple[str, str]] = []
    for spec in config.decontaminate_against:
        fp, rows = eval_set(store, spec)
        inputs[f"decontaminate:{spec}"] = fp
        docs.extend(rows)
    cfg = to_dict(config)
    local = pathlib.Path(config.source).expanduser()
    if config.source not in BUILTIN and local.exists():
        cfg["source"] = str(local.resolve())  # same file from another directory: same key
    state: dict[str, Any] = {}

    def items() -> list[int]:  # only on a miss: a cache hit reads no native rows
        positions = in_date_range(mod, raw, config)[: config.limit]
        state["dupes"] = duplicates(mod, raw, positions)
        state["index"] = NgramIndex(docs, config.ngram) if config.decontaminate_against else None
        state["native_rows"] = len(positions)
        return positions

    def process(chunk: list[int]) -> dict[str, list[dict]]:
        good, bad = build_rows(mod, raw.fetch(chunk), config, state["index"], state["dupes"])
        return {"problems": good, "quarantine": bad}

    def extra(out: Outputs) -> dict[str, dict[str, Any]]:
        stats = metrics(out.column("problems", "split"), out.column("quarantine", "kind"),
                        state["native_rows"])
        if hasattr(mod, "summarize"):
            stats.update(mod.summarize([json.loads(m) for m in out.column("problems", "meta")]))
        stats["seconds"] = round(time.monotonic() - t0, 1)  # this run (a resume: its part)
        source = {"source": raw.location}
        return {"problems": {**source, "metrics": stats}, "quarantine": source}

    res = materialize_tables(
        store, stage=STAGE, version=VERSION, config=cfg, inputs=inputs,
        tables={"problems": PROBLEMS_SCHEMA, "quarantine": QUARANTINE_SCHEMA}, items=items,
        process=process, shard_size=SHARD_SIZE, extra=extra, desc=f"ingest {config.source}")
    return res["problems"]


def metrics(splits: list[str], kinds: list[str], native_rows: int) -> dict[str, Any]:
    """Rows per split, quarantined/contaminated counts, native rows read."""
    per_split = collections.Counter(splits)
    return {"rows_per_split": dict(sorted(per_split.items())), "problems": len(splits),
            "quarantined": kinds.count("malformed"), "contaminated": kinds.count("contaminated"),
            "native_rows": native_rows}


def config_from_args(args: Any) -> IngestConfig:
    """The IngestConfig from ``ctrl ingest`` options (typed by the fields' annotations)."""
    from ctrl import cli_args

    return cli_args.build_config(args, IngestConfig)


def print_summary(result: StageResult, config: IngestConfig) -> None:
    m = result.metrics or {}
    status = "cache hit: nothing rewritten" if result.cached else "written"
    print(f"ingest {config.source}: key {result.key} ({status})")
    for split, n in (m.get("rows_per_split") or {}).items():
        print(f"  {split:<12} {n:>7} problems")
    print(f"  quarantined  {m.get('quarantined', 0):>7} malformed rows"
          + (f" (see: ctrl sql \"SELECT * FROM quarantine WHERE artifact='{result.key}'\")"
             if m.get("quarantined") else ""))
    if config.decontaminate_against:
        print(f"  contaminated {m.get('contaminated', 0):>7} dropped (overlap > "
              f"{config.overlap_threshold} with {', '.join(config.decontaminate_against)})")


def main(args: Any) -> int:
    """``ctrl ingest``: 0 on success, 2 on a usage/source error or when every row was bad."""
    config = config_from_args(args)  # ConfigError, SourceError, IngestError: ctrl.cli, exit 2
    result = run(Store(), config)
    print_summary(result, config)
    m = result.metrics or {}
    if m.get("problems", result.rows) == 0 and m.get("native_rows", 0) > 0:
        print(f"ctrl ingest: error: none of the {m.get('native_rows')} rows became a problem; "
              "see the quarantine table for why", file=sys.stderr)
        return 2
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``ctrl ingest``."""
    from ctrl import cli_args

    p = subparsers.add_parser("ingest", help="normalize a dataset into the problems table",
                              description=__doc__.splitlines()[0])
    cli_args.add_config(p, IngestConfig)
    p.set_defaults(func=main)


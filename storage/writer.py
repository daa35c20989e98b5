"""Writing one table artifact shard by shard: ``<root>/tables/<table>/<key>/part-NNNNN.parquet``.

Each shard is written to a temp name and renamed, so a shard present under its final name is
complete and is reused when a crashed stage is resumed. ``commit`` writes ``_manifest.json``
last (atomically); until then the artifact is incomplete and never read as output.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from storage.fsutil import Root, is_temp

log = logging.getLogger("storage")
MANIFEST = "_manifest.json"
SHARD_RE = re.compile(r"^part-(\d{5,})\.parquet$")
CORE_FIELDS = ("key", "table", "stage", "inputs", "config", "code_version", "rows", "schema",
               "shards", "created_at")
COMPRESSION = "zstd"
STALE_TMP_S = 3600  # a temp file this old belongs to a writer that died


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def schema_to_json(schema: pa.Schema) -> list[dict[str, Any]]:
    """A readable schema for the manifest: name, Arrow type string, nullable."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def to_arrow(rows: Any, schema: pa.Schema | None, where: str) -> pa.Table:
    """Rows (list of dicts, Table or RecordBatch) as a Table, conformed to ``schema`` if given."""
    try:
        if isinstance(rows, pa.RecordBatch):
            rows = pa.Table.from_batches([rows])
        if isinstance(rows, pa.Table):
            if schema is None:
                return rows
            missing = [n for n in schema.names if n not in rows.column_names]
            if missing:
                raise ValueError(f"columns {missing} of the schema are missing from the rows")
            return rows.select(schema.names).cast(schema)
        rows = list(rows)
        if not rows and schema is None:
            return pa.table({})
        if schema is not None:
            sample = rows[:: max(1, len(rows) // 64)] + rows[-1:]  # full scan costs ~30%
            dropped = set().union(*(r.keys() for r in sample)) - set(schema.names)
            if dropped:
                log.warning("%s: fields %s are not in the table's schema and are not stored; "
                            "add them to the stage's schema to keep them", where, sorted(dropped))
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError) as e:
        raise ValueError(
            f"{where}: cannot build an Arrow table from the rows ({e}); make every row match "
            "the stage's schema (same column names, consistent types)"
        ) from e


class TableWriter:
    """Writes shards of one artifact and commits its manifest. Made by ``Store.open_writer``."""

    def __init__(self, root: Root, table: str, key: str, *, stage: str, config: dict[str, Any],
                 inputs: dict[str, str], code_version: str,
                 on_commit: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.root, self.table, self.key = root, table, key
        self.stage, self.config, self.inputs = stage, config, dict(inputs or {})
        self.code_version = str(code_version)
        self.dir = root.join("tables", table, key)
        self._on_commit = on_commit
        self._written: dict[int, tuple[int, pa.Schema]] = {}  # shard -> (rows, schema)

    def __repr__(self) -> str:
        return f"TableWriter({self.root.uri(self.dir)})"

    def _shard_files(self) -> dict[int, str]:
        out = {}
        for name in self.root.listdir(self.dir):
            m = SHARD_RE.match(name)
            if m:
                out[int(m.group(1))] = name
        return out

    def done_shards(self) -> set[int]:
        """Indices of shards already complete on disk (from this or an earlier, crashed run)."""
        return set(self._shard_files())

    def read_shard(self, index: int, columns: list[str] | None = None) -> pa.Table:
        """A finished shard (of this run or an earlier, crashed one) as an Arrow table."""
        path = self.root.join("tables", self.table, self.key, shard_name(index))
        return pq.read_table(pa.BufferReader(self.root.read_bytes(path)), columns=columns)

    def drop_shards(self, start: int) -> list[int]:
        """Delete finished shards with index >= ``start`` (steps a resumed trainer redoes).

        Returns:
            The deleted indices.
        """
        gone = sorted(i for i in self._shard_files() if i >= start)
        for i in gone:
            self.root.remove(self.root.join("tables", self.table, self.key, shard_name(i)))
            self._written.pop(i, None)
        return gone

    def write_shard(self, index: int, rows: Any, schema: pa.Schema | None = None) -> int:
        """Write shard ``index`` atomically; returns its row count.

        Args:
            index: shard number (0-based); the file is ``part-{index:05d}.parquet``.
            rows: list of dicts, a pyarrow Table or RecordBatch.
            schema: if given, rows are built/cast to it (needed for all-null or empty shards).
        """
        if not isinstance(index, int) or index < 0:
            raise ValueError(f"{self}: shard index must be an int >= 0, got {index!r}")
        table = to_arrow(rows, schema, f"{self} shard {index}")
        path = self.root.join("tables", self.table, self.key, shard_name(index))
        self.root.write_atomic(
            path, lambda target: pq.write_table(table, target, compression=COMPRESSION)
        )
        self._written[index] = (table.num_rows, table.schema)
        return table.num_rows

    def _clean_stale_temps(self) -> None:
        """Delete temp files left by crashed writers (local roots; young ones may be live)."""
        if not self.root.local:
            return
        for name in self.root.listdir(self.dir):
            path = os.path.join(self.dir, name)
            try:
                if is_temp(name) and time.time() - os.path.getmtime(path) > STALE_TMP_S:
                    os.remove(path)
            except FileNotFoundError:  # its writer renamed or removed it meanwhile
                continue

    def _shard_meta(self, index: int, name: str) -> tuple[int, pa.Schema]:
        if index in self._written:
            return self._written[index]
        path = self.root.join("tables", self.table, self.key, name)
        if self.root.local:
            meta = pq.read_metadata(path)
        else:
            with self.root.fs.open(path, "rb") as f:
                meta = pq.read_metadata(f)
        return meta.num_rows, meta.schema.to_arrow_schema()

    def commit(self, *, schema: pa.Schema | None = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write the manifest (last, atomically) and return it.

        Args:
            schema: the table schema; required to give an empty output its columns.
            extra: extra manifest fields (e.g. ``metrics``); may not override core fields.

        Returns:
            The manifest dict.
        """
        extra = dict(extra or {})
        clash = sorted(set(extra) & set(CORE_FIELDS))
        if clash:
            raise ValueError(f"{self}: extra manifest fields {clash} clash with core fields; "
                             "rename them (e.g. put them under 'metrics')")
        self._clean_stale_temps()
        files = self._shard_files()
        if not files:  # an empty output is still one readable file carrying the schema
            self.write_shard(0, [], schema=schema)
            files = self._shard_files()
        shards, schemas, total = [], [], 0
        for index in sorted(files):
            n, s = self._shard_meta(index, files[index])
            shards.append({"file": files[index], "rows": n})
            schemas.append(s)
            total += n
        if schema is None:
            schema = pa.unify_schemas(schemas, promote_options="permissive")
        manifest = {
            "key": self.key, "table": self.table, "stage": self.stage, "inputs": self.inputs,
            "config": self.config, "code_version": self.code_version, "rows": total,
            "schema": schema_to_json(schema), "shards": shards,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
            **extra,
        }
        self.root.write_json_atomic(self.root.join("tables", self.table, self.key, MANIFEST),
                                    manifest)
        if self._on_commit is not None:
            self._on_commit(manifest)
        return manifest

"""The artifact store: keyed table and model artifacts under one root, and their catalog.

Layout (contract)::

    <root>/tables/<table>/<key>/part-NNNNN.parquet + _manifest.json   (manifest written last)
    <root>/models/<key>/...(Hugging Face files)    + _manifest.json
    <root>/catalog.duckdb                                              (views only)

The root is ``$CTRL_HOME`` (default ``./.ctrl``) or any fsspec URL. Usage::

    store = Store()                      # or Store("memory://x"), Store("s3://bucket/ctrl")
    w = store.open_writer("rollouts", key, stage="rollout", config=cfg, inputs={...},
                          code_version="1")
    w.write_shard(0, rows); w.commit(schema=schema)
    store.sql("SELECT model, count(*) FROM rollouts GROUP BY ALL")
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from storage import catalog
from storage.errors import ArtifactNotFound, IncompleteArtifact, QueryError
from storage.fsutil import Root, is_temp
from storage.keys import check_name as _check
from storage.models import ModelsMixin
from storage.writer import MANIFEST, SHARD_RE, TableWriter

log = logging.getLogger("storage")


def default_root() -> str:
    """``$CTRL_HOME`` or ``./.ctrl``."""
    return os.environ.get("CTRL_HOME") or ".ctrl"


class Store(ModelsMixin):
    """Artifacts under ``root`` (local path or fsspec URL; default ``$CTRL_HOME`` or ./.ctrl).

    Args:
        root: where artifacts live.
        auto_catalog: refresh ``catalog.duckdb`` after every commit (default True).
    """

    def __init__(self, root: str | None = None, *, auto_catalog: bool = True) -> None:
        self._root = Root(root if root is not None else default_root())
        self.root = self._root.url
        self.auto_catalog = auto_catalog

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    # ---- tables -------------------------------------------------------------------------
    def table_dir(self, table: str, key: str) -> str:
        """The artifact's directory (fs path; a URL for remote roots via ``uri``)."""
        _check("table", table)
        _check("key", key)
        return self._root.join("tables", table, key)

    def uri(self, path: str) -> str:
        return self._root.uri(path)

    def has_table(self, table: str, key: str) -> bool:
        """True only when the artifact is complete (its manifest exists)."""
        return self._root.exists(self._manifest_path(self.table_dir(table, key)))

    def _manifest_path(self, directory: str) -> str:
        return self._root.sub(directory, MANIFEST)

    def read_manifest(self, table: str, key: str) -> dict[str, Any]:
        """The manifest of a complete artifact."""
        d = self.table_dir(table, key)
        path = self._manifest_path(d)
        if not self._root.exists(path):
            self._raise_missing(f"table artifact {table}/{key}", d)
        return self._root.read_json(path)

    def _raise_missing(self, what: str, directory: str) -> None:
        if self._root.exists(directory):
            raise IncompleteArtifact(
                f"{what} at {self.uri(directory)} has no {MANIFEST}: it was never committed "
                "(a crashed or running stage); re-run the stage to finish it")
        raise ArtifactNotFound(f"no {what} under {self.root}; run the stage that produces it")

    def open_writer(self, table: str, key: str, *, stage: str, config: dict[str, Any],
                    inputs: dict[str, str], code_version: str) -> TableWriter:
        """A writer for ``table``/``key``; finished shards of an earlier attempt are kept."""
        self.table_dir(table, key)
        if table in ("runs", "models"):
            raise ValueError(f"table name {table!r} is reserved for a catalog view; rename it")
        return TableWriter(self._root, table, key, stage=stage, config=config, inputs=inputs,
                           code_version=code_version, on_commit=self._after_commit)

    def read_table(self, table: str, key: str, columns: list[str] | None = None) -> pa.Table:
        """A complete artifact as one Arrow table (shards concatenated in order)."""
        m = self.read_manifest(table, key)
        d = self.table_dir(table, key)
        parts = []
        for s in m["shards"]:
            path = self._root.sub(d, s["file"])
            try:
                if self._root.local:
                    parts.append(pq.read_table(path, columns=columns))
                else:
                    with self._root.fs.open(path, "rb") as f:
                        parts.append(pq.read_table(f, columns=columns))
            except FileNotFoundError as e:
                raise IncompleteArtifact(
                    f"shard {self.uri(path)} listed in the manifest of {table}/{key} is missing; "
                    f"delete {self.uri(self._manifest_path(d))} and re-run the stage") from e
        if len(parts) == 1:
            return parts[0]
        return pa.concat_tables(parts, promote_options="permissive")

    def manifests(self, table: str | None = None) -> list[dict[str, Any]]:
        """Every complete manifest (tables and models), oldest first (by created_at).

        Args:
            table: only this table's artifacts ("model" for models).
        """
        pats = []
        if table in (None, "model"):
            pats.append(self._root.join("models", "*", MANIFEST))
        if table != "model":
            pats.insert(0, self._root.join("tables", table or "*", "*", MANIFEST))
        out = []
        for pat in pats:
            for path in self._root.glob(pat):
                try:
                    out.append(self._root.read_json(path))
                except FileNotFoundError:  # deleted between glob and read: not complete any more
                    continue
        return sorted(out, key=lambda m: (m.get("created_at") or "", m.get("key", "")))

    def latest_key(self, table: str) -> str | None:
        """The key of the newest complete artifact of ``table`` (None if there is none)."""
        ms = self.manifests(table)
        return ms[-1]["key"] if ms else None

    # ---- files beside an artifact (reports, plots) -----------------------------------------
    def _file_path(self, kind: str, key: str, name: str, directory_ok: bool = False) -> str:
        if kind == "model":
            base = self._model_root(key)
        elif kind == "report":  # a pipeline run's report: <root>/reports/<run key>/
            _check("key", key)
            base = self._root.join("reports", key)
        else:
            base = self.table_dir(kind, key)
        parts = name.split("/") if name else []
        bad = ((not name and not directory_ok) or "\\" in name or name.startswith("/")
               or any(p in ("", ".", "..") or is_temp(p) for p in parts)
               or (parts and (parts[0] == MANIFEST or SHARD_RE.match(parts[0]))))
        if bad:
            raise ValueError(f"invalid file name {name!r} for {kind}/{key}: use a relative "
                             "'/'-separated name such as 'report/report.md' (not the manifest "
                             "or a part-NNNNN.parquet shard name)")
        for part in parts:
            base = self._root.sub(base, part)
        return base

    def write_file(self, kind: str, key: str, name: str, data: bytes) -> str:
        """Write ``name`` (e.g. ``"report/report.md"``) atomically into an artifact's directory.

        Args:
            kind: the table name, ``"model"``, or ``"report"`` (a pipeline run's report,
                under ``<root>/reports/<run key>/``).
            key: the artifact key (the artifact need not be committed yet).
            name: a relative '/'-separated file name.
            data: the file's bytes.

        Returns:
            The file's URI (as ``file_uri`` gives it).
        """
        path = self._file_path(kind, key, name)
        self._root.write_bytes_atomic(path, bytes(data))
        return self.uri(path)

    def read_file(self, kind: str, key: str, name: str) -> bytes:
        """The bytes of a file written with ``write_file``."""
        path = self._file_path(kind, key, name)
        if not self._root.exists(path):
            raise ArtifactNotFound(f"no file {name!r} in {kind}/{key} under {self.root}; run "
                                   "the stage that writes it")
        return self._root.read_bytes(path)

    def file_uri(self, kind: str, key: str, name: str = "") -> str:
        """Where ``name`` lives in an artifact's directory (the directory itself for "")."""
        return self.uri(self._file_path(kind, key, name, directory_ok=True))

    # ---- catalog ------------------------------------------------------------------------
    @property
    def catalog_path(self) -> str:
        return self._root.join(catalog.CATALOG)

    def _after_commit(self, manifest: dict[str, Any]) -> None:
        if not self.auto_catalog:
            return
        try:
            self.refresh_catalog()
        except (OSError, ValueError, duckdb.Error) as e:
            # The artifact is committed and valid; only the convenience views are behind.
            log.warning("committed %s/%s but could not refresh %s: %s. `ctrl sql` rebuilds it "
                        "on the next query and will report the problem there",
                        manifest.get("table"), manifest.get("key"), self.uri(self.catalog_path), e)

    def refresh_catalog(self) -> None:
        """Rebuild ``<root>/catalog.duckdb`` (views only) from the manifests."""
        catalog.write_catalog(self._root, self.manifests())

    def _fresh_keys(self) -> set[tuple[str, str]]:
        pats = [self._root.join("tables", "*", "*", MANIFEST), self._root.join("models", "*", MANIFEST)]
        keys = set()
        for pat in pats:
            for p in self._root.glob(pat):
                parts = re.split(r"[\\/]", p)
                keys.add(("model", parts[-2]) if parts[-3] == "models" else (parts[-3], parts[-2]))
        return keys

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with every catalog view.

        Local roots: ``catalog.duckdb`` opened read-only, rebuilt first when missing or when it
        does not match the manifests. Remote roots (or an unwritable local root): an in-memory
        database with the same views.
        """
        if not self._root.local:
            return self._memory_connect()
        path = self.catalog_path
        want = self._fresh_keys()
        if os.path.exists(path):
            con = duckdb.connect(path, read_only=True)
            if catalog.catalog_keys(con) == want:
                return con
            con.close()
        try:
            self.refresh_catalog()
        except PermissionError as e:
            log.warning("cannot write %s (%s); querying with in-memory views", path, e)
            return self._memory_connect()
        con = duckdb.connect(path, read_only=True)
        if catalog.catalog_keys(con) == want:
            return con
        # A manifest appeared meanwhile, or this process still holds the old file open.
        con.close()
        return self._memory_connect()

    def _memory_connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        try:
            catalog.create_views(con, self._root, self.manifests())
        except BaseException:
            con.close()
            raise
        return con

    def views(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        return [r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]

    def sql(self, query: str) -> pa.Table:
        """Run ``query`` against the catalog views; returns an Arrow table.

        Raises:
            QueryError: bad SQL, or a view whose table has no artifacts yet.
        """
        con = self.connect()
        try:
            try:
                return _arrow(con.sql(query))
            except duckdb.Error as e:
                friendly = catalog.missing_view_error(e, self.views(con))
                msg = friendly or _one_line(str(e))
                raise QueryError(msg) from e
        finally:
            con.close()

    # ---- local cache for remote roots (models) --------------------------------------------
    def _cache_dir(self, *parts: str) -> str:
        base = os.environ.get("CTRL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ctrl")
        tag = hashlib.sha256(self.root.encode()).hexdigest()[:12]
        return os.path.join(base, tag, *parts)


def _one_line(message: str) -> str:
    """DuckDB's multi-line error as one line (drops the echoed query and caret lines)."""
    lines = [ln.strip() for ln in message.splitlines()]
    return " ".join(ln for ln in lines if ln and not ln.startswith(("LINE ", "^")))


def _arrow(rel: duckdb.DuckDBPyRelation | None) -> pa.Table:
    """A relation as Arrow (``to_arrow_table`` in DuckDB >= 1.4, ``arrow`` before); a
    statement that returns nothing (e.g. SET) gives an empty table."""
    if rel is None:
        return pa.table({})
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()

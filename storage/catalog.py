"""The DuckDB catalog: one view per table name over every complete artifact, plus ``runs`` and
``models``, built from manifests only.

``<root>/catalog.duckdb`` holds views and nothing else. It is rebuilt into a temp file that is
then renamed over the old one, so two processes refreshing at once never share a DuckDB writer,
and readers open it read-only. Views list their Parquet files explicitly (never a glob that
would catch an incomplete directory) by absolute path, so ``duckdb -readonly .ctrl/catalog.duckdb``
shows the same views as ``ctrl sql``. Every table view has a column ``artifact`` (the key); a
column of that name stored in the rows themselves is exposed as ``row_artifact``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from typing import Any, Iterable

import duckdb

from storage.fsutil import Root
from storage.keys import IDENT_RE

CATALOG = "catalog.duckdb"
FILE_COL = "__ctrl_file"
# Table -> the command that creates it, for "no artifacts yet" errors. Storage knows nothing of
# the commands of the code above it: that code registers them (ctrl.registry does, at import).
PRODUCERS: dict[str, str] = {}


def register_producers(producers: dict[str, str]) -> None:
    """Tell the catalog which command creates each table (shown when a query names a table
    that has no artifacts yet)."""
    PRODUCERS.update(producers)


RUNS_COLS = [("artifact", "VARCHAR"), ("table", "VARCHAR"), ("table_name", "VARCHAR"),
             ("stage", "VARCHAR"), ("inputs", "JSON"), ("config", "JSON"),
             ("code_version", "VARCHAR"), ("rows", "BIGINT"), ("shards", "INTEGER"),
             ("created_at", "TIMESTAMPTZ"), ("path", "VARCHAR"), ("extra", "JSON")]
MODELS_COLS = [("artifact", "VARCHAR"), ("stage", "VARCHAR"), ("inputs", "JSON"),
               ("config", "JSON"), ("code_version", "VARCHAR"), ("files", "INTEGER"),
               ("bytes", "BIGINT"), ("created_at", "TIMESTAMPTZ"), ("path", "VARCHAR"),
               ("extra", "JSON")]
RUN_CORE = {"key", "table", "stage", "inputs", "config", "code_version", "rows", "schema",
            "shards", "created_at", "files", "bytes"}


def lit(value: Any) -> str:
    """A SQL literal for a str / int / None."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def _values_view(name: str, cols: list[tuple[str, str]], rows: list[list[Any]]) -> str:
    names = ", ".join(f'"{c}"' for c, _ in cols)
    if not rows:
        nulls = ", ".join(f"CAST(NULL AS {t}) AS \"{c}\"" for c, t in cols)
        return f'CREATE OR REPLACE VIEW "{name}" AS SELECT {nulls} WHERE false'
    casts = ", ".join(f'CAST(col{i} AS {t}) AS "{c}"' for i, (c, t) in enumerate(cols))
    body = ",\n".join("(" + ", ".join(lit(v) for v in row) + ")" for row in rows)
    inner = ", ".join(f"col{i}" for i in range(len(cols)))
    return (f'CREATE OR REPLACE VIEW "{name}" AS SELECT {casts} FROM (VALUES\n{body}\n) '
            f"AS t({inner})  -- columns: {names}")


def _extra(m: dict[str, Any]) -> str:
    return _json({k: v for k, v in m.items() if k not in RUN_CORE})


def runs_view(root: Root, manifests: list[dict[str, Any]]) -> str:
    rows = [[m["key"], m["table"], m["table"], m.get("stage"), _json(m.get("inputs", {})),
             _json(m.get("config", {})), m.get("code_version"), int(m.get("rows") or 0),
             len(m.get("shards") or []), m.get("created_at"),
             root.uri(root.join("tables", m["table"], m["key"])), _extra(m)]
            for m in manifests if m.get("table") != "model"]
    return _values_view("runs", RUNS_COLS, rows)


def models_view(root: Root, manifests: list[dict[str, Any]]) -> str:
    rows = [[m["key"], m.get("stage"), _json(m.get("inputs", {})), _json(m.get("config", {})),
             m.get("code_version"), len(m.get("files") or []), int(m.get("bytes") or 0),
             m.get("created_at"), root.uri(root.join("models", m["key"])), _extra(m)]
            for m in manifests if m.get("table") == "model"]
    return _values_view("models", MODELS_COLS, rows)


def table_view(root: Root, table: str, manifests: list[dict[str, Any]]) -> str:
    """The union by name of every artifact's shards, with ``artifact`` = key."""
    files, has_artifact_col = [], False
    for m in manifests:
        cols = [c["name"] for c in m.get("schema", [])]
        has_artifact_col |= "artifact" in cols
        if not cols:  # an empty output written without a schema: nothing to read
            continue
        files += [root.uri(root.join("tables", table, m["key"], s["file"])) for s in m["shards"]]
    if not files:
        return f'CREATE OR REPLACE VIEW "{table}" AS SELECT CAST(NULL AS VARCHAR) AS artifact WHERE false'
    listing = "[" + ", ".join(lit(f) for f in files) + "]"
    exclude = f'"{FILE_COL}", artifact' if has_artifact_col else f'"{FILE_COL}"'
    keep = "artifact AS row_artifact, " if has_artifact_col else ""
    return (f'CREATE OR REPLACE VIEW "{table}" AS SELECT * EXCLUDE ({exclude}), {keep}'
            f"string_split(\"{FILE_COL}\", '/')[-2] AS artifact "
            f"FROM read_parquet({listing}, union_by_name = true, filename = '{FILE_COL}')")


def create_views(con: duckdb.DuckDBPyConnection, root: Root,
                 manifests: list[dict[str, Any]]) -> list[str]:
    """Create every view on ``con``; returns the view names."""
    if not root.local:
        con.register_filesystem(root.fs)
    by_table: dict[str, list[dict[str, Any]]] = {}
    for m in manifests:
        if m.get("table") != "model":
            by_table.setdefault(m["table"], []).append(m)
    con.execute(runs_view(root, manifests))
    con.execute(models_view(root, manifests))
    for table, ms in sorted(by_table.items()):
        if not IDENT_RE.match(table) or table in ("runs", "models"):
            raise ValueError(f"table name {table!r} (in {root.uri(root.join('tables', table))}) "
                             "cannot be a catalog view; rename the table")
        try:
            con.execute(table_view(root, table, ms))
        except duckdb.Error as e:
            raise ValueError(
                f"cannot build catalog view {table!r} over artifacts "
                f"{[m['key'] for m in ms]}: {e}. A shard may be unreadable or artifacts may "
                "disagree on a column's type; delete the bad artifact's _manifest.json and re-run"
            ) from e
    return ["runs", "models", *sorted(by_table)]


def write_catalog(root: Root, manifests: list[dict[str, Any]]) -> str:
    """Rebuild ``<root>/catalog.duckdb`` (views only) atomically; returns its path."""
    target = root.join(CATALOG)
    if root.local:
        os.makedirs(root.path, exist_ok=True)
        tmp = root.join(f".{CATALOG}.tmp-{uuid.uuid4().hex[:12]}")
    else:
        tmp = os.path.join(tempfile.mkdtemp(prefix="ctrl-catalog-"), CATALOG)
    try:
        # The oldest storage format that holds views: any DuckDB shell from 1.0 on can open the
        # catalog by hand, not only one as new as this Python package.
        con = duckdb.connect(tmp, config={"storage_compatibility_version": "v1.0.0"})
        try:
            create_views(con, root, manifests)
        finally:
            con.close()
        if root.local:
            os.replace(tmp, target)
        else:
            with open(tmp, "rb") as f:
                root.write_bytes_atomic(target, f.read())
    finally:
        for p in (tmp, tmp + ".wal"):
            if os.path.exists(p):
                os.remove(p)
    return target


def catalog_keys(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]] | None:
    """(table, key) pairs a catalog covers, or None when it is not a catalog of ours."""
    try:
        rows = con.execute('SELECT "table", artifact FROM runs UNION ALL '
                           "SELECT 'model', artifact FROM models").fetchall()
    except duckdb.Error:
        return None
    return {(t, k) for t, k in rows}


def missing_view_error(e: duckdb.Error, views: Iterable[str]) -> str | None:
    """A friendly message when ``e`` is about a view that does not exist yet."""
    m = re.search(r"Table with name (\S+) does not exist", str(e))
    if not m:
        return None
    name = m.group(1).strip('"')
    known = ", ".join(sorted(views)) or "none"
    if name in PRODUCERS:
        return (f"no artifacts of table {name} yet — run `{PRODUCERS[name]}` first "
                f"(views now: {known})")
    import difflib

    close = difflib.get_close_matches(name, list(views), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"no table or view named {name} in the catalog (views now: {known}){hint}"

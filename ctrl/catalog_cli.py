"""``ctrl sql`` and ``ctrl runs``: query the artifact catalog from the command line.

Reads the store at ``--home`` / ``$CTRL_HOME`` (default ``./.ctrl``); writes nothing except a
refreshed ``catalog.duckdb`` when it is stale. Examples::

    ctrl sql "SELECT model, count(*) AS n FROM rollouts GROUP BY ALL"
    ctrl sql "SELECT * FROM runs" --format json
    ctrl runs --table rollouts
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import sys
from typing import Any

from ctrl.errors import UserError
from storage import Store, StorageError

FORMATS = ("table", "csv", "json")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ctrl sql`` and ``ctrl runs``."""
    p = subparsers.add_parser(
        "sql", help="run a SQL query over the catalog views",
        description="Run a DuckDB SQL query over the catalog views (problems, rollouts, "
                    "executions, ..., runs, models). Every table view has a column `artifact`.")
    p.add_argument("query", help='e.g. "SELECT model, count(*) FROM rollouts GROUP BY ALL"')
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="table (aligned, for people), csv or json (array of objects, for scripts)")
    p.add_argument("--max-width", type=int, default=60,
                   help="table format: cut cells longer than this many characters (default 60)")
    p.set_defaults(func=_cmd_sql)

    r = subparsers.add_parser(
        "runs", help="list committed artifacts with their inputs, config and row counts",
        description="One line per complete artifact (tables and models), oldest first.")
    r.add_argument("--table", help='only this table ("model" for model artifacts)')
    r.add_argument("--format", choices=FORMATS, default="table")
    r.add_argument("--max-width", type=int, default=60)
    r.set_defaults(func=_cmd_runs)


def _cmd_sql(args: argparse.Namespace) -> int:
    store = Store()
    try:
        result = store.sql(args.query)
    except (StorageError, ValueError) as e:  # duckdb's errors are ValueErrors
        raise UserError(str(e)) from None  # one line, exit 2 (ctrl.cli)
    emit(result.column_names, result.to_pylist(), args.format, args.max_width)
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    store = Store()
    try:
        manifests = store.manifests(args.table)
    except (StorageError, ValueError) as e:  # duckdb's errors are ValueErrors
        raise UserError(str(e)) from None  # one line, exit 2 (ctrl.cli)
    cols = ["artifact", "table", "stage", "rows", "created_at", "inputs", "config"]
    rows = [{
        "artifact": m.get("key"), "table": m.get("table"), "stage": m.get("stage"),
        "rows": m.get("rows"), "created_at": (m.get("created_at") or "")[:19],
        "inputs": m.get("inputs", {}), "config": m.get("config", {}),
    } for m in manifests]
    if not rows and args.format == "table":
        where = f" of table {args.table}" if args.table else ""
        print(f"no artifacts{where} under {store.root} yet", file=sys.stderr)
        return 0
    emit(cols, rows, args.format, args.max_width)
    return 0


def _default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def emit(cols: list[str], rows: list[dict[str, Any]], fmt: str, max_width: int = 60) -> None:
    """Print rows as an aligned table, CSV, or a JSON array of objects on stdout."""
    out = sys.stdout
    if fmt == "json":
        json.dump(rows, out, default=_default, ensure_ascii=False)
        out.write("\n")
    elif fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in cols])
    else:
        _print_table(cols, rows, max_width)


def _print_table(cols: list[str], rows: list[dict[str, Any]], max_width: int) -> None:
    from rich.console import Console
    from rich.table import Table

    def cut(s: str) -> str:
        s = s.replace("\n", "\\n")
        return s if len(s) <= max_width else s[: max_width - 1] + "…"

    cells = [[cut(_cell(r.get(c))) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    console = Console(file=sys.stdout, highlight=False, soft_wrap=False,
                      width=max(shutil.get_terminal_size((120, 24)).columns,
                                sum(widths) + 3 * len(cols) + 4))
    table = Table(show_lines=False, caption=f"{len(rows)} row{'s' if len(rows) != 1 else ''}")
    for c in cols:
        table.add_column(c, overflow="fold", no_wrap=True)
    for row in cells:
        table.add_row(*row, end_section=False)
    console.print(table)

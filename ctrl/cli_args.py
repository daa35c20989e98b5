"""Shared argparse helpers for stage commands: input keys, ``--set field=value``, printing results.

A stage command looks like ``ctrl synthesize [--rollouts KEY ...] [--set field=value ...]``: input
keys default to the newest complete artifact of that table; ``--set`` values are parsed as JSON
when they parse (numbers, booleans, null), else taken as strings; the config class validates.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from ctrl.config import ConfigError, describe, from_dict


def add_inputs(p: Any, *tables: str) -> None:
    """``--<table> KEY`` options (default: the newest artifact of that table)."""
    for t in tables:
        p.add_argument(f"--{t}", metavar="KEY", help=f"{t} artifact key (default: newest)")


def add_config(p: Any, cls: type) -> None:
    """``--set FIELD=VALUE`` (repeatable) for the fields of ``cls``; the help lists them."""
    fields = "; ".join(f"{n}={d!r}" for n, _, d, _ in describe(cls))
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help=f"override a {cls.__name__} field (defaults: {fields})")


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set {item!r}: write FIELD=VALUE, e.g. --set seed=1")
        try:
            out[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[name.strip()] = raw
    return out


def resolve_inputs(store: Any, args: Any, tables: list[str],
                   table_of: dict[str, str] | None = None) -> dict[str, str]:
    """Input name -> key, from the options or the newest artifact of each table."""
    keys = {}
    for name in tables:
        key = getattr(args, name.replace("-", "_"), None)
        table = (table_of or {}).get(name, name)
        key = key or store.latest_key(table)
        if not key:
            raise ConfigError(f"no {table} artifact in {store.root}; create one first "
                              f"or pass --{name} KEY")
        keys[name] = key
    return keys


def run_stage(args: Any, run: Callable[..., Any], cls: type, tables: list[str],
              extra: dict[str, Any] | None = None,
              after: Callable[[Any], None] | None = None) -> int:
    """Build the config, resolve inputs, run the stage, print its key and row count."""
    from storage import Store

    try:
        cfg = from_dict(cls, parse_sets(args.set))
        store = Store()
        keys = resolve_inputs(store, args, tables)
    except ConfigError as e:
        print(f"ctrl {args.command}: {e}", file=sys.stderr)
        return 2
    res = run(store, cfg, **keys, **(extra or {}))
    state = "cached" if res.cached else "built"
    print(f"{res.table} {res.key}: {res.rows} rows ({state})")
    if res.metrics:
        print(json.dumps(res.metrics, indent=1, sort_keys=True, default=str))
    if after:
        after(res)
    return 0

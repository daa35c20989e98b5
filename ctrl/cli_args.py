"""Shared argparse helpers for stage commands: input keys, ``--set field=value``, printing results.

A stage command looks like ``ctrl synthesize [--rollouts KEY ...] [--set field=value ...]``: input
keys default to the newest complete artifact of that table; ``--set`` values are parsed as JSON
when they parse (numbers, booleans, null), else taken as strings; the config class validates.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from ctrl.config import ConfigError, describe, from_dict

RAW = argparse.RawDescriptionHelpFormatter  # keep module docstrings formatted in --help


def add_inputs(p: Any, *tables: str) -> None:
    """``--<table> KEY`` options (default: the newest artifact of that table)."""
    for t in tables:
        p.add_argument(f"--{t}", metavar="KEY", help=f"{t} artifact key (default: newest)")


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean; use true or false")


def add_config(p: Any, cls: type) -> None:
    """One ``--field-name VALUE`` option per field of ``cls`` (help = the field's doc), and
    ``--set FIELD=VALUE`` (repeatable) as a generic alternative."""
    for name, _, default, help_ in describe(cls):
        kind = _bool if isinstance(default, bool) else type(default) if default is not None else str
        p.add_argument(f"--{name.replace('_', '-')}", dest=f"cfg_{name}", type=kind, default=None,
                       metavar=name.upper(), help=f"{help_} (default: {default!r})")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help=f"override a {cls.__name__} field by name")


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
        values = parse_sets(args.set)
        values.update({k[4:]: v for k, v in vars(args).items()
                       if k.startswith("cfg_") and v is not None})
        cfg = from_dict(cls, values)
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

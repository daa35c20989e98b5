"""Shared argparse helpers for stage commands: input keys, ``--set field=value``, printing results.

A stage command looks like ``ctrl synthesize [--rollouts KEY ...] [--field VALUE ...]
[--set field=value ...]``: input keys default to the newest complete artifact of that table; each
config field has an option typed by its annotation (syntax in ``add_config``); the config class
validates. Errors are ``ConfigError`` (a ``ctrl.errors.UserError``): ``ctrl.cli`` prints them as
one line and exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from typing import Any, Callable

from ctrl.config import ConfigError, Field, from_dict, leaf_fields, parse_text

RAW = argparse.RawDescriptionHelpFormatter  # keep module docstrings formatted in --help


def add_inputs(p: Any, *tables: str) -> None:
    """``--<table> KEY`` options (default: the newest artifact of that table)."""
    for t in tables:
        p.add_argument(f"--{t}", metavar="KEY", help=f"{t} artifact key (default: newest)")


def add_config(p: Any, cls: type, aliases: dict[str, str] | None = None,
               skip: tuple[str, ...] = (), dest: str = "cfg_", group: Any = None) -> None:
    """One option per field of ``cls``, typed by its annotation (help = the field's doc and its
    default), and ``--set FIELD=VALUE`` (repeatable) as a generic alternative.

    Option syntax (values are checked by ``ctrl.config.parse_text`` then ``from_dict``, so a bad
    one is a one-line ``ConfigError`` naming the field):
    - ``--field-name VALUE``: underscores become dashes;
    - nested configs: ``--generation.max-new-tokens 64``; the leaf alone (``--max-new-tokens``)
      is an alias when no other field has that leaf name;
    - lists and tuples: comma-separated (``--test-sets public,private``), or the option repeated
      (``--test-sets public --test-sets private``), or a JSON list for items with commas;
    - bools: ``--flag`` / ``--no-flag``, or ``--flag true|false``;
    - optionals: ``none`` (or ``null``) is None;
    - ``--set generation.temperature=0.5`` takes the field's name as written in the config.

    Args:
        aliases: extra option name -> field name (``{"n": "samples"}`` adds ``--n``).
        skip: fields the command sets itself (no option; ``--set`` still reaches them).
        dest: prefix of the options' ``args`` attributes; a second config class of the same
            command uses another one (and gets no ``--set``), read back by
            ``config_values(args, cls, dest)``.
        group: an argument group of ``p`` to add the options to.
    """
    fields = [f for f in leaf_fields(cls) if f.name not in skip]
    taken = {_opt(f.name) for f in fields}
    leaves: dict[str, list[str]] = {}
    for f in fields:
        if "." in f.name:
            leaves.setdefault(_opt(f.name.rsplit(".", 1)[1]), []).append(f.name)
    extra: dict[str, list[str]] = {}
    for opt, names in leaves.items():
        if len(names) == 1 and opt not in taken:
            extra.setdefault(names[0], []).append(opt)
            taken.add(opt)
    for alias, target in (aliases or {}).items():
        if _opt(alias) in taken:
            continue
        match = [f.name for f in fields if f.name == target] or \
            [f.name for f in fields if f.name.rsplit(".", 1)[-1] == target]
        if len(match) != 1:
            raise TypeError(f"alias --{alias}: {cls.__name__} has no single field {target!r}")
        extra.setdefault(match[0], []).append(_opt(alias))
        taken.add(_opt(alias))
    for f in fields:
        _add_field(group or p, f, extra.get(f.name, []), dest)
    if dest != "cfg_":
        return
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help=f"override a {cls.__name__} field by name, typed like its option")
    p.set_defaults(cfg_class=cls)


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_field(p: Any, f: Field, extra: list[str], prefix: str) -> None:
    text = (f.help + (" (required)" if f.required else f" (default: {_show(f.default)})"))
    text = text.replace("%", "%%")  # argparse %-formats help strings
    dest, short = f"{prefix}{f.name}", f.name.rsplit(".", 1)[-1]
    origin = typing.get_origin(f.hint)
    if f.hint is bool:
        p.add_argument(_opt(f.name), *extra, dest=dest, nargs="?", const="true", default=None,
                       metavar="BOOL", help=text)
        no = [_opt("no_" + f.name) if "." not in f.name else
              _opt(f.name.rsplit(".", 1)[0] + ".no_" + short)]
        no += [o.replace("--", "--no-", 1) for o in extra]
        p.add_argument(*no, dest=dest, action="store_const", const="false",
                       help=f"same as {_opt(f.name)} false")
        return
    metavar = short.upper()
    if origin is typing.Literal:
        metavar = "{" + ",".join(str(a) for a in typing.get_args(f.hint)) + "}"
    repeat = origin in (tuple, list)
    p.add_argument(_opt(f.name), *extra, dest=dest, default=None, metavar=metavar, help=text,
                   action="append" if repeat else "store")


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) if value else "empty"
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)


def config_values(args: Any, cls: type | None = None, dest: str = "cfg_") -> dict[str, Any]:
    """The config fields given on the command line (``--set`` first, then the options), typed
    by their annotations; ``from_dict(cls, values)`` builds the config."""
    cls = cls or args.cfg_class
    hints = {f.name: f.hint for f in leaf_fields(cls)}
    top = {f.name: f.type for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for name, raw in parse_sets(getattr(args, "set", []) or [] if dest == "cfg_" else []).items():
        hint = hints.get(name)
        if hint is None and name in top:  # a whole nested config: a JSON object
            hint = typing.get_type_hints(cls)[name]
        out[name] = parse_text(raw, hint, f"{cls.__name__}.{name}") if hint is not None else raw
    for key, raw in vars(args).items():
        if not key.startswith(dest) or key == "cfg_class" or raw is None:
            continue
        name = key[len(dest):]
        where = f"{cls.__name__}.{name}"
        if isinstance(raw, list):  # a repeated list option: each occurrence comma-separated
            out[name] = [v for r in raw for v in parse_text(r, hints[name], where)]
        else:
            out[name] = parse_text(raw, hints[name], where)
    return out


def build_config(args: Any, cls: type | None = None, dest: str = "cfg_", **fixed: Any) -> Any:
    """The command's config: its options and ``--set`` values, then ``fixed`` on top."""
    cls = cls or args.cfg_class
    return from_dict(cls, {**config_values(args, cls, dest), **fixed})


def parse_sets(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` (typed later by the field's annotation)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set {item!r}: write FIELD=VALUE, e.g. --set seed=1")
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

    cfg = build_config(args, cls)
    store = Store()
    keys = resolve_inputs(store, args, tables)
    res = run(store, cfg, **keys, **(extra or {}))
    state = "cached" if res.cached else "built"
    print(f"{res.table} {res.key}: {res.rows} rows ({state})")
    if res.metrics:
        print(json.dumps(res.metrics, indent=1, sort_keys=True, default=str))
    if after:
        after(res)
    return 0

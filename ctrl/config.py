"""Config dataclasses shared by every stage: serialization, validation helpers.

Every stage has one frozen dataclass config. Its fields are documented with
``field(metadata={"help": ...})``; the resolved dict is stored in each artifact's
manifest and is part of the artifact key.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, TypeVar, Union

from ctrl.errors import UserError

T = TypeVar("T")


class ConfigError(UserError, ValueError):
    """A config value or combination is invalid; the message names the fix (a user error:
    one line, exit 2)."""


def doc(help: str, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    """A dataclass field with a help text (used by ``ctrl <stage> --help`` and the docs)."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"help": help}, **kw)
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples or default_factory for mutable defaults")
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as a JSON-normal dict (tuples become lists, nested configs dicts, keys sorted)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str))


def from_dict(cls: type[T], data: dict[str, Any], *, _path: str = "") -> T:
    """Build ``cls`` from a dict, converting each value by its field's annotation.

    Accepted: native values (``4`` for an int, a list for a tuple, a dict or an instance for a
    nested config), text as the CLI gives it (``"4"``, ``"public,private"``, ``"none"``; see
    ``parse_text``), and dotted keys for nested fields (``{"generation.temperature": 0.5}``).

    Raises:
        ConfigError: an unknown field (with the valid ones), or a value of the wrong type, e.g.
            ``RolloutConfig.samples: expected an integer, got 'four'``.
    """
    owner = _path or cls.__name__
    data = _nest(data)
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{owner}: unknown field(s) {unknown}; valid fields are {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        where = f"{owner}.{f.name}"
        value, hint = data[f.name], hints[f.name]
        if _is_config(hint) and isinstance(value, dict) and dataclasses.is_dataclass(_default(f)):
            # a partial dict overrides the field's own default config, not the class defaults
            value = {**to_dict(_default(f)), **_nest(value)}
        kwargs[f.name] = convert(value, hint, where)
    try:
        return cls(**kwargs)
    except TypeError as e:
        if "required" in str(e) or "missing" in str(e):
            missing = [f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                       if f.name not in kwargs and f.default is dataclasses.MISSING
                       and f.default_factory is dataclasses.MISSING]  # type: ignore[misc]
            raise ConfigError(f"{owner}: missing required field(s) {missing}; "
                              f"give a value for each") from None
        raise


def _nest(data: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "c": 2}`` -> ``{"a": {"b": 1}, "c": 2}``."""
    if not any("." in k for k in data):
        return dict(data)
    out: dict[str, Any] = {}
    for k, v in data.items():
        head, dot, rest = k.partition(".")
        if not dot:
            out[k] = v
            continue
        sub = out.setdefault(head, {})
        if dataclasses.is_dataclass(sub) and not isinstance(sub, type):
            sub = out[head] = to_dict(sub)
        if not isinstance(sub, dict):
            raise ConfigError(f"{head}: given both as a value and as nested field {k!r}")
        sub[rest] = v
    return {k: _nest(v) if isinstance(v, dict) else v for k, v in out.items()}


def _hints(cls: type) -> dict[str, Any]:
    """Field name -> resolved annotation (annotations are strings under __future__ annotations)."""
    return typing.get_type_hints(cls)


def _is_config(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


_KIND = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _KIND:
        return _KIND[hint]
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        return "a list (comma-separated)"
    if _is_config(hint):
        return f"a {hint.__name__} (a dict of its fields)"
    if _optional(hint) is not None:
        return f"{_name(_optional(hint))} or none"
    return str(hint)


def _optional(hint: Any) -> Any:
    """X for ``X | None`` / ``Optional[X]``, else None."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(rest) < len(typing.get_args(hint)) and len(rest) == 1:
            return rest[0]
    return None


def _bad(where: str, hint: Any, value: Any, fix: str = "") -> ConfigError:
    return ConfigError(f"{where}: expected {_name(hint)}, got {value!r}" + (f"; {fix}" if fix else ""))


def convert(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked and converted to the annotation ``hint`` (``where`` names the field)."""
    if isinstance(value, str) and not _takes_text(hint):
        value = parse_text(value, hint, where)
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _bad(where, hint, value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _bad(where, hint, value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _bad(where, hint, value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _bad(where, hint, value)
    if origin is Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise _bad(where, hint, value)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return convert(value, a, where)
            except ConfigError:
                continue
        raise _bad(where, hint, value)
    if origin in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _bad(where, hint, value)
        if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {list(value)!r}")
            return tuple(convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if isinstance(value, dict):
            return dict(value)
        raise _bad(where, hint, value)
    if _is_config(hint):
        if isinstance(value, hint):
            return value
        if isinstance(value, dict):
            return from_dict(hint, value, _path=where)
        raise _bad(where, hint, value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise _bad(where, hint, value)
    return value


def _takes_text(hint: Any) -> bool:
    """A string given to this annotation is kept as it is (``str``, ``str | None``, ``Any``)."""
    return hint in (str, Any) or (typing.get_origin(hint) in (Union, types.UnionType)
                                  and str in typing.get_args(hint))


def _default(f: dataclasses.Field) -> Any:
    """The field's default (calling its default_factory), or MISSING."""
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return f.default


_TRUE, _FALSE, _NONE = ("1", "true", "yes", "on"), ("0", "false", "no", "off"), ("none", "null")


def parse_text(text: str, hint: Any, where: str) -> Any:
    """A command-line string as the value the annotation ``hint`` wants.

    ints, floats; bools ``true/false`` (also yes/no, on/off, 1/0); ``none`` (or ``null``) for an
    optional; lists and tuples comma-separated (``public,private``; empty text is the empty
    list) or, for items with commas, a JSON list (``'["a,b", "c"]'``); a nested config a JSON
    object. ``where`` names the field in the error.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    s = text.strip()
    inner = _optional(hint)
    if inner is not None:
        if s.lower() in _NONE:
            return None
        try:
            return parse_text(text, inner, where)
        except ConfigError:
            raise _bad(where, hint, text) from None
    try:
        if hint is int:
            return int(s)
        if hint is float:
            return float(s)
    except ValueError:
        raise _bad(where, hint, text) from None
    if hint is bool:
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise _bad(where, hint, text)
    if hint is str or hint is Any:
        return text
    if origin is Literal:
        for a in args:
            if str(a) == s:
                return a
        raise _bad(where, hint, text)
    if origin in (tuple, list):
        if s.startswith("["):
            try:
                items = json.loads(s)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{where}: {text!r} is not a JSON list ({e})") from None
        else:
            items = [p.strip() for p in s.split(",")] if s else []
        item_hints = list(args) if origin is tuple and args and args[-1] is not Ellipsis \
            else [args[0] if args else str] * len(items)
        if len(item_hints) != len(items):
            raise ConfigError(f"{where}: expected {len(item_hints)} comma-separated values, "
                              f"got {text!r}")
        return [parse_text(v, h, f"{where}[{i}]") if isinstance(v, str) else v
                for i, (v, h) in enumerate(zip(items, item_hints))]
    if origin in (Union, types.UnionType):
        for a in args:
            try:
                return parse_text(text, a, where)
            except ConfigError:
                continue
        raise _bad(where, hint, text)
    if _is_config(hint) or origin is dict or hint is dict:
        try:
            value = json.loads(s)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise _bad(where, hint, text, 'write a JSON object, e.g. \'{"field": 1}\'')
        return value
    return text


@dataclasses.dataclass(frozen=True)
class Field:
    """One leaf field of a config, nested ones under dotted names (``generation.temperature``)."""

    name: str
    hint: Any
    default: Any
    help: str
    required: bool = False


def leaf_fields(cls: type, prefix: str = "", base: Any = None) -> list[Field]:
    """Every leaf field of ``cls``, nested configs flattened to dotted names, in field order.
    Defaults come from ``base`` (an instance) when given, else from the class."""
    hints, out = _hints(cls), []
    for f in dataclasses.fields(cls):
        default = getattr(base, f.name) if base is not None else _default(f)
        required = default is dataclasses.MISSING
        hint = hints[f.name]
        if _is_config(hint):
            out += leaf_fields(hint, f"{prefix}{f.name}.",
                               default if dataclasses.is_dataclass(default) else None)
        else:
            out.append(Field(prefix + f.name, hint, None if required else default,
                             f.metadata.get("help", ""), required))
    return out


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) for every leaf field, nested ones as dotted names
    (``generation.temperature``): for --help output and docs."""
    return [(f.name, _type_name(f.hint), f.default, f.help) for f in leaf_fields(cls)]


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")

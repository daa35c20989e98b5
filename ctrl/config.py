"""Config dataclasses shared by every stage: serialization, validation helpers.

Every stage has one frozen dataclass config. Its fields are documented with
``field(metadata={"help": ...})``; the resolved dict is stored in each artifact's
manifest and is part of the artifact key.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value or combination is invalid; the message names the fix."""


def doc(help: str, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    """A dataclass field with a help text (used by ``ctrl <stage> --help`` and the docs)."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"help": help}, **kw)
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples or default_factory for mutable defaults")
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as a JSON-normal dict (tuples become lists, keys sorted)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str))


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a dict, rejecting unknown keys with the list of valid ones."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown field(s) {unknown}; valid fields are {sorted(names)}"
        )
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            v = data[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) for every field: for --help output and docs."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        rows.append((f.name, str(f.type), default, f.metadata.get("help", "")))
    return rows

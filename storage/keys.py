"""Content keys for artifacts: a short hash of (stage, code version, config, input keys).

Same inputs give the same key, whatever the dict order, so a finished artifact is found again
after the orchestrator's database is wiped. Nothing here touches storage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

KEY_LENGTH = 16
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # table names (they are DuckDB view names)
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # artifact keys (directory names)


def check_name(kind: str, value: str) -> None:
    """Raise ValueError unless ``value`` is a valid ``kind`` ("table" or "key") name."""
    pattern = IDENT_RE if kind == "table" else KEY_RE
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"invalid {kind} name {value!r}: use letters, digits and '_'"
                         + ("" if kind == "table" else " ('.', '-' allowed)"))


def _plain(value: Any) -> Any:
    """A JSON-normal copy: dataclasses become dicts, tuples/sets become lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    return value


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, non-JSON values as ``str``."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False)


def artifact_key(stage: str, version: str, config: Any, inputs: dict[str, str]) -> str:
    """The artifact key: 16 hex chars of sha256 over the canonical JSON of the four parts.

    Args:
        stage: stage name, e.g. ``"rollout"``.
        version: the stage's code version (bumped when its output changes for the same inputs).
        config: the resolved config (dict or dataclass); key order does not matter.
        inputs: input name -> input artifact key.

    Returns:
        A 16-character lowercase hex string.
    """
    if not isinstance(stage, str) or not stage:
        raise ValueError(f"artifact_key: stage must be a non-empty string, got {stage!r}")
    payload = canonical_json(
        {"stage": stage, "version": str(version), "config": config or {}, "inputs": inputs or {}}
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:KEY_LENGTH]

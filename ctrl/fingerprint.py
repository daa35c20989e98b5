"""Code fingerprints, so an artifact key follows the code that built it.

A stage's version string is ``code_version("3", __name__, "ctrl.critic_prompts", ...)``: the
hand-kept number (bump it to force new keys without a code change, e.g. new data files) plus a
short hash of the source of the stage module and of every helper module it declares (prompts,
feedback, reward code). A changed prompt template then gives every artifact built from it a new
key, so a cache never serves output of code that no longer exists. The string is stored in each
manifest as ``code_version``: ``ctrl runs`` shows which code built what.

Only source text counts (not comments stripped, not bytecode): a comment change is a new key too,
which costs a recompute, never a stale hit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib

from ctrl.config import ConfigError


def _sources(module: str) -> list[pathlib.Path]:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        raise ConfigError(f"code fingerprint: module {module!r} has no source file; declare only "
                        "ctrl modules in a stage's code list")
    origin = pathlib.Path(spec.origin)
    if spec.submodule_search_locations:  # a package: every .py file in it
        return sorted(origin.parent.rglob("*.py"))
    return [origin]


def fingerprint(*modules: str) -> str:
    """A 10-hex-digit hash of the source files of ``modules`` (packages: all their .py files)."""
    h = hashlib.sha256()
    for m in sorted(set(modules)):
        for path in _sources(m):
            h.update(f"{m}:{path.name}\n".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


def code_version(version: str, *modules: str) -> str:
    """``"<version>+code.<fingerprint of modules>"``: what a stage passes as its code version."""
    return f"{version}+code.{fingerprint(*modules)}"

